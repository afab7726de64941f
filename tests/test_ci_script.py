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
FAKE_APT_GET = """#!/usr/bin/env bash
echo "apt-get $*" >> "$CALLS"
exit 0
"""
TOOLS_THE_SCRIPT_RUNS = ("bash", "dirname", "id")


def run_ci(
    tmp_path: Path, fail_on: str, *, without_x_tools: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a copy of the CI script with a stand-in python (and apt-get).

    Args:
        tmp_path: Where the copy and the stand-ins go.
        fail_on: The python module whose run fails.
        without_x_tools: Run with only the stand-ins and the few tools the script uses on
            ``PATH`` (so Xvfb and xdotool are missing); otherwise the apt step is skipped.
    """
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python", FAKE_PYTHON), ("apt-get", FAKE_APT_GET)):
        fake = bin_dir / name
        fake.write_text(text)
        fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    env = {**os.environ, "CALLS": str(calls), "FAIL_ON": fail_on, "CI_SKIP_APT": "1"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    if without_x_tools:
        for tool in TOOLS_THE_SCRIPT_RUNS:
            found = shutil.which(tool)
            assert found is not None
            (bin_dir / tool).symlink_to(found)
        env["PATH"] = str(bin_dir)
        env["CI_SKIP_APT"] = ""
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(tmp_path / ".ci" / "run")],
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


def test_ci_installs_xvfb_and_xdotool_when_missing_before_the_tests(tmp_path: Path) -> None:
    done, calls = run_ci(tmp_path, "nothing", without_x_tools=True)
    assert done.returncode == 0, done.stderr
    assert calls[:3] == [
        "apt-get update -q",
        "apt-get install -y -q xvfb xdotool",
        "-m pip install -e .[dev]",
    ]
