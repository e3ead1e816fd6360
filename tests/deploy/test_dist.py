"""The distribution as `make dist` builds it: the sdist holds what a build needs and nothing
of a work tree; the wheel holds the package data; and the wheel, installed into a fresh
virtualenv with its dependencies from the package index, works outside the source tree —
its `pgqueue --version` reports the one version, and a Worker runs tasks to the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from pgqueue_core import __version__
from tests.support import ROOT

pytestmark = pytest.mark.slow

NAME = "pgqueue-py"
STEM = f"pgqueue_py-{__version__}"  # file names normalise the distribution name
WORKER_SCRIPT = Path(__file__).with_name("wheel_worker.py")
# The package data the code reads at run time (queries, migrations, console layouts).
PACKAGE_DATA = sorted(
    path.relative_to(ROOT).as_posix()
    for pattern in ("pgqueue_core/sql/**/*.sql", "pgqueue_tui/**/*.tcss")
    for path in ROOT.glob(pattern)
)


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


def _clean_env() -> dict[str, str]:
    """This environment without what would point a child at the source tree or a server."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not k.startswith("PGQUEUE_")
    }


def _run(argv: list[str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _checkout(dest: Path) -> Path:
    """The files of the work tree that git does not ignore, as a fresh clone (plus local
    changes) has them. Building from the work tree itself would not do: setuptools reads back
    the SOURCES.txt of an *.egg-info left there, so a file dropped from the package data
    would still ship."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not a tracked file deleted in the work tree
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist, and the wheel built from it, as `make dist` builds them (isolated build)."""
    source = _checkout(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], source, 300)
    return Built(wheel=out / f"{STEM}-py3-none-any.whl", sdist=out / f"{STEM}.tar.gz")


def test_sdist_holds_what_a_build_needs_and_no_work_tree(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.removeprefix(f"{STEM}/") for name in sdist.getnames()}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", *PACKAGE_DATA):
        assert needed in names, needed
    stray = [
        name
        for name in names
        if name.endswith(".pyc")
        or {".venv", "__pycache__", ".pytest_cache", ".mypy_cache", "dist", "build", ".git"}
        & set(name.split("/"))
    ]
    assert stray == []


def test_wheel_holds_the_package_data_and_the_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{STEM}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"{STEM}.dist-info/entry_points.txt").decode()
    assert PACKAGE_DATA, "no package data found in the source tree"
    assert [name for name in PACKAGE_DATA if name not in names] == []
    assert f"{STEM}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith("tests/") or name.endswith(".pyc")]
    headers = dict(line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines())
    assert headers["Name"] == NAME
    assert headers["Version"] == __version__
    assert headers["License-Expression"] == "Apache-2.0"
    assert "pgqueue = pgqueue_tui.cli:main" in entry_points
    # Every package, and each one's subcommands (the worker command is a package of its own).
    for package in ("pgqueue_core", "pgqueue_server", "pgqueue_tui", "pgqueue_worker"):
        assert f"{package}/__init__.py" in names, package
    assert "worker = pgqueue_worker.command:WORKER" in entry_points
    # pyproject.toml names no version of its own: the one source is pgqueue_core.__version__.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]


@pytest.mark.timeout(600)
def test_installed_wheel_runs_a_worker_outside_the_source_tree(
    built: Built, empty_dsn: str, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    # No pip inside the venv (ensurepip costs seconds): this pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, 60)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    _run([*pip, "install", "--quiet", str(built.wheel)], tmp_path, 480)

    assert _run([str(venv / "bin" / "pgqueue"), "--version"], tmp_path, 60).strip() == (
        f"pgqueue {__version__}"
    )

    script = tmp_path / WORKER_SCRIPT.name  # its folder, not the tests', heads sys.path
    script.write_text(WORKER_SCRIPT.read_text())
    out = _run([str(python), str(script), empty_dsn, "20"], tmp_path, 120)
    report = json.loads(out.strip().splitlines()[-1])
    assert report["released"] == 20
    assert report["version"] == report["metadata_version"] == __version__
    assert Path(report["core_file"]).is_relative_to(venv), report["core_file"]
