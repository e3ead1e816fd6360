"""The console's widgets: one per module (plus the cell renderers the tables share)."""
