"""Links in the docs land on their entries: every ``#anchor`` exists on its target page."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    path = ROOT / "scripts/check_doc_links.py"
    spec = importlib.util.spec_from_file_location("check_doc_links", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_doc_links = _load_script()


def _page(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")


def test_checker_finds_missing_anchors_and_pages(tmp_path: Path) -> None:
    _page(tmp_path / "reference/api/index.html", '<h2 id="arcade_p2p.session.Session">S</h2>')
    _page(
        tmp_path / "guides/sim/index.html",
        '<a href="../../reference/api/#arcade_p2p.session.Session">ok</a>'
        '<a href="../../reference/api/#arcade_p2p.sim.config.SimConfig">stale</a>'
        '<a href="../../reference/gone/#x">gone</a>'
        '<a href="#top">self</a><p id="top"></p>'
        '<a href="https://example.org/#anything">outside</a>',
    )
    broken = check_doc_links.broken_links(tmp_path)
    assert broken == [
        "guides/sim/index.html: ../../reference/api/#arcade_p2p.sim.config.SimConfig"
        " (no such anchor)",
        "guides/sim/index.html: ../../reference/gone/#x (no such page)",
    ]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="needs the docs extra")
def test_built_site_has_no_broken_anchor_links(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)]
    done = subprocess.run(build, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert check_doc_links.broken_links(site) == []
