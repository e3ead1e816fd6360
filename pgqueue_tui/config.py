"""Where the client connects: --url/--namespace/--token and their PGQUEUE_* environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

DEFAULT_URL = "http://localhost:8080/api"
ENV_URL = "PGQUEUE_URL"
ENV_NAMESPACE = "PGQUEUE_NAMESPACE"
ENV_TOKEN = "PGQUEUE_TOKEN"


def add_connection_options(
    parser: argparse.ArgumentParser,
    *,
    env: Mapping[str, str] | None = None,
    suppress: bool = False,
) -> None:
    """Add --url, --namespace and --token (the CLI and the console take the same ones).

    With `suppress`, options not given leave no attribute, so a subcommand can repeat the
    options after its name without overriding what was given before it.
    """
    env = os.environ if env is None else env

    def default(value: str | None) -> str | None:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--url",
        default=default(env.get(ENV_URL) or DEFAULT_URL),
        help=f"API base URL (env {ENV_URL}, default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--namespace",
        default=default(env.get(ENV_NAMESPACE) or None),
        help=f"namespace (env {ENV_NAMESPACE}, default: the server's)",
    )
    parser.add_argument(
        "--token",
        default=default(env.get(ENV_TOKEN) or None),
        help=f"bearer token (env {ENV_TOKEN})",
    )
