"""pgqueue_tui: the typed HTTP client, the `pgqueue` command and the Textual console."""
