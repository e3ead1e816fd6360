"""`promtool check metrics` on an exposition (.ci/run installs Debian's prometheus package,
which brings promtool; where it is missing the check is skipped)."""

from __future__ import annotations

import shutil
import subprocess


def promtool_check(text: str) -> None:
    """`promtool check metrics` accepts the exposition (skipped where promtool is missing)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    # 0: parsed, and no lint remark either (3 would be a remark, 1 a parse error).
    assert proc.returncode == 0, proc.stdout + proc.stderr
