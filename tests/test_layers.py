"""Dependencies flow one way (SPEC §1): each package, imported whole in a fresh interpreter,
loads only what its layer may use — the server, the console and the worker command never
each other, the core none of them nor any web or UI library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Every module of the package (its __main__ aside, which would run), then the top-level
# names in sys.modules that are not the standard library's.
PROBE = """
import importlib, json, pkgutil, sys
name = sys.argv[1]
package = importlib.import_module(name)
for module in pkgutil.walk_packages(package.__path__, name + "."):
    if not module.name.endswith(".__main__"):
        importlib.import_module(module.name)
loaded = {key.partition(".")[0] for key in sys.modules}
print(json.dumps(sorted(loaded - set(sys.stdlib_module_names))))
"""


def loaded_by(package: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    names: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    # Interpreter plumbing: Cython runtimes of compiled dependencies, the editable finder.
    return {n for n in names if not n.startswith("_") and n != "cython_runtime"}


def test_the_core_imports_the_driver_and_the_standard_library_only() -> None:
    loaded = loaded_by("pgqueue_core")
    assert loaded <= {"pgqueue_core", "asyncpg"}, loaded


@pytest.mark.parametrize(
    ("package", "never"),
    [
        ("pgqueue_server", {"pgqueue_tui", "textual", "rich", "aiohttp"}),
        ("pgqueue_tui", {"pgqueue_server", "sanic", "sanic_routing", "prometheus_client"}),
        # The worker command: the core and prometheus_client (a remote worker loads the
        # client package only when asked for, with --url).
        ("pgqueue_worker", {"pgqueue_server", "pgqueue_tui", "sanic", "textual", "aiohttp"}),
    ],
)
def test_server_and_console_never_load_each_other(package: str, never: set[str]) -> None:
    loaded = loaded_by(package)
    assert package in loaded and "pgqueue_core" in loaded
    assert not loaded & never, loaded & never
