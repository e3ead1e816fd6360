"""The `pgqueue` command (placeholder until the CLI lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("usage: pgqueue <command> [options]  (commands arrive with the CLI)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
