"""`pgqueue worker`, as this package registers it with the `pgqueue` command (entry point
`pgqueue.commands`, pgqueue_tui/subcommands.py): its arguments go to the worker's own parser.

Listing it imports nothing but this module: asyncpg and prometheus_client load when it runs."""

from __future__ import annotations


class WorkerCommand:
    """Runs handlers: `pgqueue worker MODULE:ATTR [flags]`, as `python -m pgqueue_worker`."""

    summary = "Run task handlers from MODULE:ATTR (see `pgqueue worker --help`)."
    # `pgqueue --namespace x worker ...` means `pgqueue worker ... --namespace x`; --url and
    # --token select a remote worker (over the REST API) instead of the database.
    forwarded_options = ("--namespace", "--url", "--token")

    def main(self, argv: list[str]) -> int:
        from .cli import main

        return main(argv)


WORKER = WorkerCommand()
