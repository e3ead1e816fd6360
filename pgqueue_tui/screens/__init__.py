"""The console's screens: one per module, each with its layout in a .tcss file beside it."""
