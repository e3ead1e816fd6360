"""`pgqueue run`, as the server registers it with the `pgqueue` command (entry point
`pgqueue.commands`, pgqueue_tui/subcommands.py): its arguments go to the server's own parser.

Listing it imports nothing but this module: sanic is imported when the server starts."""

from __future__ import annotations


class RunCommand:
    """Serves the API: `pgqueue run [DSN] [flags]`, the same as `python -m pgqueue_server run`."""

    summary = "Serve the REST API (see `pgqueue run --help`)."
    # `pgqueue --namespace x run` means `pgqueue run --namespace x`; the client's other global
    # options (--url, --json, --timeout) mean nothing to a server and are dropped.
    forwarded_options = ("--namespace", "--token")

    def main(self, argv: list[str]) -> int:
        from .cli import run_main

        return run_main(argv)


RUN = RunCommand()
