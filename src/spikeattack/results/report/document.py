"""The document model of a report: blocks rendered both as Markdown and as self-contained HTML.

One source for both files. Level-2 headings open sections; a section that receives no block
is omitted from both renderings and from the table of contents, so a builder may open a
section and simply add nothing when it has no data.

Text from the store (model, experiment and attack names) is data, never markup: headings,
table cells and captions are plain text, escaped for Markdown (:func:`md_escape`: no raw HTML
such as ``<script>``, no emphasis or math from ``*``/``_``/``$``) and for HTML; paragraphs and
bullets are the little Markdown of :func:`inline_html`, into which sections put names through
:func:`md_escape`. Every table has a name, under which :mod:`.tables` exports it.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .15em; margin-top: 1.8em; }
nav.toc { background: #f7f7f7; border: 1px solid #ddd; padding: .4em 1em; display: inline-block; }
nav.toc ol { margin: .3em 0; padding-left: 1.4em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
figure { margin: 1em 0; }
figcaption { font-size: .85em; color: #555; }
li.high { color: #a00; }
li ul li { color: #222; }
.muted { color: #666; }
"""


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    bold: set[tuple[int, int]] = field(default_factory=set)
    name: str = "table"
    title: str = ""


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Bullets:
    items: list[str]
    classes: list[str]
    children: list[list[str]]


def cell_text(value: Any) -> str:
    """A table cell: ``—`` for None, one line."""
    if value is None:
        return "—"
    return str(value).replace("\n", " ")


#: what Markdown (CommonMark/GFM, with GitHub's math) reads as markup in running text: HTML tags
#: and entities, emphasis, code, math, strikethrough, table pipes, a link's ``](`` and a heading's ``#``
_MD_SPECIAL = re.compile(r"([\\`*_<>|&$~]|\](?=[(\[:])|(?<!\S)#)")


def md_escape(text: Any) -> str:
    """Plain text for Markdown: markup characters backslash-escaped (``<script>`` -> ``\\<script\\>``,
    which renders as the text, never as a tag; ``[a](b)`` stays text, not a link). Brackets that
    cannot open a link (``45.0 [38.1, 52.1]``) and ``#`` inside a word (``snn#seed1``) stay readable."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-") or "section"


class Document:
    """A title, an introduction, then sections (level-2 headings) of blocks."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []
        self.table_names: set[str] = set()

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str], classes: list[str] | None = None,
                children: list[list[str]] | None = None) -> None:
        self.blocks.append(("ul", Bullets(list(items), classes or [""] * len(items),
                                          children or [[] for _ in items])))

    def table(self, header: Iterable[str], rows: list[list[Any]], numeric: Iterable[bool] | None = None,
              bold: set[tuple[int, int]] | None = None, *, name: str = "table") -> None:
        """A table of plain-text cells (None shows as ``—``); ``name`` (made unique) names its exported files."""
        header = [str(h) for h in header]
        rows = [[cell_text(v) for v in r] for r in rows]
        for r in rows:
            if len(r) != len(header):
                raise ValueError(f"table: row of {len(r)} cells under a header of {len(header)}")
        numeric = list(numeric) if numeric is not None else [False] * len(header)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "table"
        unique, k = stem, 1
        while unique in self.table_names:
            k += 1
            unique = f"{stem}_{k}"
        self.table_names.add(unique)
        title = next((v[1] for kind, v in reversed(self.blocks) if kind == "h"), "")
        self.blocks.append(("table", Table(header, rows, numeric, bold or set(), unique, title)))

    def tables(self) -> list[Table]:
        """The tables that are rendered (in order)."""
        return [value for kind, value in self.visible_blocks() if kind == "table"]

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(("img", Image(path, caption)))

    # ------------------------------------------------------------------------------ structure
    def visible_blocks(self) -> list[tuple[str, Any]]:
        """The blocks without empty sections (a level-2 heading followed by no block before the next one)."""
        out: list[tuple[str, Any]] = []
        pending: tuple[str, Any] | None = None
        for kind, value in self.blocks:
            if kind == "h" and value[0] <= 2:
                pending = None
                if value[0] == 2:
                    pending = (kind, value)
                    continue
            elif pending is not None:
                out.append(pending)
                pending = None
            out.append((kind, value))
        return out

    def contents(self) -> list[tuple[str, str]]:
        """``(title, anchor)`` of every visible section."""
        return [(value[1], anchor) for (kind, value), anchor in zip(self.visible_blocks(), self._anchors())
                if kind == "h" and value[0] == 2]

    def _anchors(self) -> list[str]:
        seen: dict[str, int] = {}
        out = []
        for kind, value in self.visible_blocks():
            if kind != "h":
                out.append("")
                continue
            base = slug(value[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.append(base if count == 0 else f"{base}-{count}")
        return out

    def _toc_position(self, blocks: list[tuple[str, Any]]) -> int:
        """Index before the first section heading (after the title and introduction)."""
        for i, (kind, value) in enumerate(blocks):
            if kind == "h" and value[0] == 2:
                return i
        return len(blocks)

    # ------------------------------------------------------------------------------ markdown
    def markdown(self, base: Path) -> str:
        blocks, contents = self.visible_blocks(), self.contents()
        out = []
        toc_at = self._toc_position(blocks)
        for i, (kind, value) in enumerate(blocks):
            if i == toc_at and len(contents) > 1:
                out.append("**Contents**\n\n" + "\n".join(f"{k}. [{md_escape(title)}](#{anchor})"
                                                         for k, (title, anchor) in enumerate(contents, 1)))
            if kind == "h":
                out.append("#" * value[0] + " " + md_escape(value[1]))
            elif kind == "p":
                out.append(value)
            elif kind == "ul":
                lines = []
                for item, children in zip(value.items, value.children):
                    lines.append(f"- {item}")
                    lines.extend(f"  - {child}" for child in children)
                out.append("\n".join(lines))
            elif kind == "table":
                out.append(_markdown_table(value))
            elif kind == "img":
                rel = os.path.relpath(value.path, base).replace(os.sep, "/")
                out.append(f"![{md_escape(value.caption)}]({rel})\n\n*{md_escape(value.caption)}*")
        return "\n\n".join(out) + "\n"

    # ------------------------------------------------------------------------------ html
    def html(self, title: str) -> str:
        blocks, contents, anchors = self.visible_blocks(), self.contents(), self._anchors()
        toc_at = self._toc_position(blocks)
        body = []
        for i, ((kind, value), anchor) in enumerate(zip(blocks, anchors)):
            if i == toc_at and len(contents) > 1:
                items = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for t, a in contents)
                body.append(f'<nav class="toc"><strong>Contents</strong><ol>{items}</ol></nav>')
            if kind == "h":
                level, text = value
                body.append(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>')
            elif kind == "p":
                body.append(f"<p>{inline_html(value)}</p>")
            elif kind == "ul":
                items = []
                for item, cls, children in zip(value.items, value.classes, value.children):
                    sub = "".join(f"<li>{inline_html(c)}</li>" for c in children)
                    sub = f"<ul>{sub}</ul>" if sub else ""
                    attr = f' class="{cls}"' if cls else ""
                    items.append(f"<li{attr}>{inline_html(item)}{sub}</li>")
                body.append(f"<ul>{''.join(items)}</ul>")
            elif kind == "table":
                body.append(_html_table(value))
            elif kind == "img":
                body.append(_html_figure(Path(value.path), value.caption))
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")


def _html_figure(png: Path, caption: str) -> str:
    """A figure inline: its SVG beside the PNG when there is one (sharp at any zoom), else the PNG."""
    svg = png.with_suffix(".svg")
    path, mime = (svg, "image/svg+xml") if svg.is_file() else (png, "image/png")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _markdown_table(t: Table) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in t.header) + " |",
             "|" + "|".join("---:" if num else "---" for num in t.numeric) + "|"]
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            c = md_escape(c)
            cells.append(f"**{c}**" if (i, j) in t.bold and c != "—" else c)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            text = html.escape(c)
            if (i, j) in t.bold and c != "—":
                text = f"<strong>{text}</strong>"
            cls = ' class="num"' if t.numeric[j] else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def inline_html(text: str) -> str:
    """The little Markdown used in paragraphs (``**bold**``, ``*italic*``, `` `code` ``, and
    backslash escapes of :func:`md_escape`) as HTML."""
    escaped: list[str] = []

    def hold(match: re.Match) -> str:  # an escaped character is text: kept out of the markup rules
        escaped.append(match.group(1))
        return f"\x00{len(escaped) - 1}\x00"

    text = re.sub(r"\\([!-/:-@\[-`{-~])", hold, text)
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: html.escape(escaped[int(m.group(1))], quote=False), text)
