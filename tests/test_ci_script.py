"""The CI script stops at a failed install or test run instead of going on to lint.

The script runs with a stand-in ``python`` first on ``PATH`` that records its arguments and
fails on demand, so the test sees which steps ran without installing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_TEST_COMMAND = 'python -m pip install -e ".[dev]" && python -m pytest'
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [[ "$*" == "-m $FAIL_ON"* ]]; then exit 3; fi
exit 0
"""


def run_ci(tmp_path: Path, fail_on: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(calls),
        "FAIL_ON": fail_on,
    }
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_ci_runs_the_readme_test_command() -> None:
    assert README_TEST_COMMAND in (ROOT / "README.md").read_text()
    assert README_TEST_COMMAND in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("fail_on", ["pip", "pytest"])
def test_a_failed_install_or_test_run_stops_ci_before_lint(tmp_path: Path, fail_on: str) -> None:
    done, calls = run_ci(tmp_path, fail_on)
    assert done.returncode == 3
    assert "CI OK" not in done.stdout
    assert not any("ruff" in call or "mypy" in call for call in calls)
    assert calls[-1].startswith(f"-m {fail_on}")


def test_when_every_step_passes_ci_runs_lint_types_and_docs(tmp_path: Path) -> None:
    done, calls = run_ci(tmp_path, "nothing")
    assert done.returncode == 0, done.stderr
    assert "CI OK" in done.stdout
    modules = [call.split()[1] for call in calls]
    assert modules[:2] == ["pip", "pytest"]
    assert {"ruff", "mypy", "mkdocs"} <= set(modules[2:])
