"""Check that every internal link of the built docs site lands on an existing entry.

How this works: ``mkdocs build --strict`` refuses links to missing pages but not links to a
missing ``#anchor`` on an existing page (an API entry that was renamed, a heading that was
reworded). This script reads every HTML file of a built site, collects the ``id``s each
page defines, and checks every relative link with a fragment against the ids of the page
it points to.

    python -m mkdocs build --strict -d /tmp/site && python scripts/check_doc_links.py /tmp/site

Exits with status 1 and lists the broken links, one per line, if there are any.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    """Collects the ids and the link targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            elif name == "href" and value and tag == "a":
                self.hrefs.append(value)


def _target(site: Path, page: Path, path: str) -> Path:
    """The HTML file a relative link path points to (directory URLs end in index.html)."""
    resolved = (page.parent / unquote(path)).resolve() if path else page.resolve()
    if resolved.is_dir():
        resolved = resolved / "index.html"
    return resolved


def broken_links(site: Path) -> list[str]:
    """Every relative link with a fragment that names no id on its target page."""
    pages: dict[Path, _Page] = {}
    for html in sorted(site.rglob("*.html")):
        parser = _Page()
        parser.feed(html.read_text(encoding="utf-8"))
        pages[html.resolve()] = parser
    broken = []
    for html, parser in pages.items():
        for href in parser.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.fragment:
                continue
            target = _target(site, html, parts.path)
            ids = pages[target].ids if target in pages else None
            if ids is None or unquote(parts.fragment) not in ids:
                where = html.relative_to(site.resolve())
                broken.append(f"{where}: {href} (no such {'page' if ids is None else 'anchor'})")
    return broken


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``check_doc_links.py SITE_DIR``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: check_doc_links.py SITE_DIR (a site built by mkdocs)", file=sys.stderr)
        return 2
    site = Path(args[0])
    broken = broken_links(site)
    for line in broken:
        print(line)
    pages = len(list(site.rglob("*.html")))
    print(f"{len(broken)} broken anchor link(s) in {pages} pages", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
