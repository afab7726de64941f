"""The ``arcade-p2p sim`` command: flags, JSON, one-line errors."""

from __future__ import annotations

import json

import pytest

from arcade_p2p.cli import main

QUICK = ["--topology", "line", "--peers", "4", "--duration", "20", "--warmup", "5", "--quiet", "5"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--churn", "40"],
        ["--churn", "40:x"],
        ["--loss", "2"],
        ["--peers", "many"],
        ["--clock", "fast"],
        ["--topology", "torus"],
        ["--latency-ms", "-5"],
    ],
)
def test_bad_values_exit_2_with_one_line(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("arcade-p2p sim: error: ")
    assert err.count("\n") == 1


def test_json_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", *QUICK, "--churn", "8:4", "--clock", "paper", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["peers"] == 4
    assert result["sim_seconds"] == 20.0
    assert result["converged"] is True


def test_table_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", *QUICK, "--loss", "0.1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "rollback" in out and "converged" in out and "yes" in out
