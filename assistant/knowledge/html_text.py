"""The main text of an HTML page as markdown, with the standard library's html.parser
(trafilatura, BeautifulSoup and lxml are not dependencies of the project).

Navigation, headers, footers, scripts, forms and asides are dropped; when the page marks its
content (<main>, <article>, role="main") only that is kept. Headings become markdown headings
and block elements paragraphs, so `assistant.knowledge.passages` cuts the page into passages
under its section headings like any markdown document.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "canvas",
        "iframe",
        "object",
        "head",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "textarea",
        "dialog",
    }
)
BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "blockquote",
        "pre",
        "table",
        "tr",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "br",
        "hr",
    }
)
HEADINGS = {f"h{n}": n for n in range(1, 7)}
VOID = frozenset(
    {
        "br",
        "hr",
        "img",
        "input",
        "meta",
        "link",
        "area",
        "base",
        "col",
        "embed",
        "source",
        "track",
        "wbr",
        "param",
    }
)
_SPACE = re.compile(r"\s+")


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._in_title = False
        self._skip_depth = 0  # inside a skipped element (nested counts)
        self._stack: list[str] = []
        self._main_depth = 0  # inside <main>/<article>/role=main
        self.blocks: list[tuple[bool, str]] = []  # (inside main, markdown block)
        self._line: list[str] = []
        self._prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in VOID:
            if tag in BLOCKS and not self._skip_depth:
                self._flush()
            return
        self._stack.append(tag)
        if self._skip_depth or tag in SKIPPED or dict(attrs).get("hidden") is not None:
            self._skip_depth += 1
            return
        if tag in ("main", "article") or dict(attrs).get("role") == "main":
            self._main_depth += 1
        if tag in BLOCKS or tag in HEADINGS or tag == "li":
            self._flush()
            if tag in HEADINGS:
                self._prefix = "#" * HEADINGS[tag] + " "
            elif tag == "li":
                self._prefix = "- "

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag not in self._stack:
            return  # a stray end tag
        while self._stack:  # close what the page left open inside it
            open_tag = self._stack.pop()
            if self._skip_depth:
                self._skip_depth -= 1
            elif open_tag in ("main", "article") and self._main_depth:
                self._main_depth -= 1
                self._flush()
            elif open_tag in BLOCKS or open_tag in HEADINGS or open_tag == "li":
                self._flush()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self._line.append(data)

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._line)).strip()
        if text:
            self.blocks.append((self._main_depth > 0, self._prefix + text))
        self._line = []
        self._prefix = ""

    def close(self) -> None:
        super().close()
        self._flush()


def extract_text(html: str) -> tuple[str, str]:
    """(title, main text as markdown paragraphs) of an HTML page."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    main = [text for inside, text in parser.blocks if inside]
    chosen = main if main else [text for _, text in parser.blocks]
    title = _SPACE.sub(" ", parser.title).strip()
    return title, "\n\n".join(chosen)
