"""The docs show real outputs: every sample output and quoted figure matches a real run.

The quick outputs of ``scripts/docs_outputs.py`` (a few simulated runs, seconds each) are
re-run here and compared with the files the pages include; the slow ones are checked with
``python scripts/docs_outputs.py --check``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import msgpack
import pytest

import arcade_p2p
from arcade_p2p.protocol import wire

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SNIPPET = re.compile(r'^--8<-- "docs/outputs/([^"]+)"\s*$', re.MULTILINE)


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_outputs", ROOT / "scripts/docs_outputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while decorating
    spec.loader.exec_module(module)
    return module


docs_outputs = _load_script()
QUICK = [o for o in docs_outputs.OUTPUTS if o.quick]


def _pages() -> list[Path]:
    return [p for p in DOCS.rglob("*.md") if "outputs" not in p.relative_to(DOCS).parts]


def test_every_output_is_generated_by_the_script_and_shown_by_a_page() -> None:
    included = {name for page in _pages() for name in SNIPPET.findall(page.read_text())}
    generated = {o.name for o in docs_outputs.OUTPUTS}
    on_disk = {p.name for p in (DOCS / "outputs").iterdir()}
    assert included == generated, "pages include exactly the outputs the script makes"
    assert on_disk == generated, "docs/outputs holds exactly the generated files"


@pytest.mark.parametrize("output", QUICK, ids=[o.name for o in QUICK])
def test_quick_output_matches_a_real_run(output: Any) -> None:
    difference = docs_outputs.diff(output)
    assert not difference, (
        "a page's sample output no longer matches a real run; regenerate it with "
        f"`python scripts/docs_outputs.py {output.name}` and review:\n{difference}"
    )


def test_normalise_masks_the_wall_clock_line_only() -> None:
    report = "rollback         0.223 % of ticks\nwall time        4.75 s (66,555 ticks/s)\n"
    slower = report.replace("4.75 s (66,555", "107.57 s (2,937")
    assert docs_outputs.normalise(report) == docs_outputs.normalise(slower)
    other = report.replace("0.223", "0.251")
    assert docs_outputs.normalise(report) != docs_outputs.normalise(other)
    assert docs_outputs.normalise(report).splitlines()[1] == "wall time        # s (# ticks/s)"


@pytest.mark.parametrize(
    "message",
    [
        wire.Hello(fps=50, snapshot_every_ticks=10, reply=True),
        wire.Sync(
            1.0, 2, 3.0, 4, 5.0, 6.0, 7.0, b"12345678", 9, True, ((10, bytes(16), bytes(8)),)
        ),
        wire.StateRequest(tick=10, first=0, count=32),
        wire.StateChunk(tick=10, index=1, total=3, data=b"xyz"),
        wire.Summary(digest=b"abcdefgh", count=3, joining=False),
    ],
)
def test_wire_table_lists_fields_in_wire_order(message: wire.Message) -> None:
    data = wire.WireCodec("room").encode(7, 8, 9, message)
    body = msgpack.unpackb(data[len(wire.MAGIC) + 1 : -wire.MAC_BYTES], raw=False)
    values = [_as_msgpack(getattr(message, f.name)) for f in dataclasses.fields(message)]
    if isinstance(message, wire.Sync) and not message.slack:
        values.pop()  # the optional last field is left out when empty
    assert body[4:] == values
    assert wire.WireCodec("room").decode(data).message == message


def _as_msgpack(value: object) -> object:
    """A field value as msgpack gives it back (tuples become lists)."""
    return [_as_msgpack(v) for v in value] if isinstance(value, tuple) else value


def test_api_reference_covers_every_public_module() -> None:
    api = (DOCS / "reference/api.md").read_text()
    documented = set(re.findall(r"^::: ([\w.]+)\s*$", api, re.MULTILINE))
    modules = {
        info.name
        for info in pkgutil.walk_packages(arcade_p2p.__path__, "arcade_p2p.")
        if not any(part.startswith("_") for part in info.name.split("."))
    }
    missing = sorted(modules - documented)
    assert not missing, f"docs/reference/api.md lacks ::: entries for {missing}"
