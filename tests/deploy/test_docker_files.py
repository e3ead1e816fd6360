"""docker/ agrees with the code (no Docker engine needed; `make docker-check` lints them):
the image runs the same `pgqueue run` the tests run, as a non-root user, with a health check
on the real health route; compose runs the example worker that tests/deploy tests."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pgqueue_server.config import DEFAULT_PREFIX, parse_run_args
from tests.support import ROOT

DOCKER = ROOT / "docker"


def instructions() -> dict[str, list[str]]:
    """The Dockerfile's instructions by keyword (continuation lines joined), last stage."""
    text = (DOCKER / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    found: dict[str, list[str]] = {}
    for line in stages[-1].splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def test_image_runs_pgqueue_run_as_a_user_with_a_health_check() -> None:
    found = instructions()
    assert json.loads(found["ENTRYPOINT"][-1]) == ["pgqueue", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pgqueue"] == "pgqueue_tui.cli:main"  # whose `run` the tests start
    cmd = json.loads(found["CMD"][-1])
    config = parse_run_args(cmd, env={"PGQUEUE_DSN": "postgresql://db/x"}).config
    assert (config.host, config.port) == ("0.0.0.0", 8080)
    assert found["EXPOSE"] == [str(config.port)]
    user = found["USER"][-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    health = found["HEALTHCHECK"][-1]
    assert f"http://127.0.0.1:{config.port}{DEFAULT_PREFIX}/health" in health
    probe = json.loads(health.split("CMD", 1)[1])
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "healthcheck", "exec")  # valid Python


def test_compose_runs_postgres_server_and_the_example_worker() -> None:
    yaml = pytest.importorskip("yaml")
    compose: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "server", "worker"}
    pg = services["postgres"]["environment"]
    server, worker = services["server"], services["worker"]
    for service in (server, worker):
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["image"] == "pgqueue:latest"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        dsn = service["environment"]["PGQUEUE_DSN"]
        assert dsn.startswith(f"postgresql://{pg['POSTGRES_USER']}:")
        assert dsn.endswith(f"@postgres:5432/{pg['POSTGRES_DB']}")
    config = parse_run_args(server["command"], env={"PGQUEUE_DSN": "postgresql://db/x"}).config
    assert f"{config.port}:{config.port}" in server["ports"]
    # The example worker, copied into the image at /app/examples.
    assert worker["entrypoint"] == ["python", "/app/examples/worker.py"]
    assert "examples /app/examples" in instructions()["COPY"]
    assert Path(ROOT / "examples" / "worker.py").is_file()
    assert worker["environment"]["METRICS_PORT"] == "9100"
    assert worker["healthcheck"] == {"disable": True}


def test_build_stage_copies_what_pip_install_needs() -> None:
    """`pip install .` in the image fails without a file pyproject.toml names (the readme,
    the license files) or a package."""
    text = (DOCKER / "Dockerfile").read_text()
    build_stage = re.split(r"^FROM ", text, flags=re.MULTILINE)[1]
    copied = {
        source
        for line in build_stage.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], *project["license-files"]}
    needed |= {"pgqueue_core", "pgqueue_server", "pgqueue_tui"}
    assert needed <= copied, needed - copied
