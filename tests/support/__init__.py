"""Helpers of the tests (no fixtures: those stay in the conftest files, which import these).

Test modules, conftest files and helper modules import from here, never from a conftest.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The source tree (processes started by the tests run there, so `-m tests.…` works)."""
