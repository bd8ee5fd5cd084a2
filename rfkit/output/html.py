"""HTML for notebooks: the same rich tables and panels the terminal shows, as real
`<table>`s (same columns, same cells), lightly styled with inline CSS (no
JavaScript, no `<style>` block, so sanitising frontends keep it), and plain
text (torchsummary/torchinfo layouts) as a `<pre>` block holding the exact text.

A leaf like the rest of rfkit.output: rich renderables or strings in, HTML out.
Every string is escaped with `html.escape`; model, layer and file names come
from the user.
"""
from __future__ import annotations

import base64
import io
from html import escape

from rich.console import Console, Group
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.terminal_theme import TerminalTheme
from rich.text import Text

# mid-tone colours: readable on light and dark notebook themes alike
_THEME = TerminalTheme(
    (255, 255, 255), (0, 0, 0),
    [(0, 0, 0), (200, 40, 40), (30, 150, 60), (175, 125, 0), (40, 100, 210), (170, 70, 170), (0, 140, 160),
     (150, 150, 150)],
    [(110, 110, 110), (230, 70, 70), (40, 180, 80), (210, 160, 0), (80, 140, 240), (200, 100, 200),
     (0, 170, 190), (200, 200, 200)],
)
_CONSOLE = Console(file=io.StringIO(), width=10_000, color_system="truecolor", force_terminal=False,
                   force_jupyter=False, legacy_windows=False, _environ={})
_BLOCK = "font-family: var(--jp-code-font-family, monospace); font-size: 0.9em"


def _css(style) -> str:
    if style is None or style == "":
        return ""
    style = style if isinstance(style, Style) else _CONSOLE.get_style(str(style), default="")
    css = style.get_html_style(_THEME)
    return "; ".join(part for part in css.split("; ") if not part.startswith("text-decoration-color"))


def _text(value) -> Text:
    """A cell or title as rich shows it: strings are markup."""
    if isinstance(value, Text):
        return value
    try:
        return Text.from_markup(str(value), emoji=False)
    except Exception:  # not valid markup: show it as written
        return Text(str(value))


def inline(value) -> str:
    """Styled, escaped HTML of a rich Text or a markup string (no block element)."""
    out = []
    for segment in _text(value).render(_CONSOLE):
        if not segment.text:
            continue
        css = _css(segment.style)
        shown = escape(segment.text)
        out.append(f'<span style="{css}">{shown}</span>' if css else shown)
    return "".join(out)


def _attr(css: str) -> str:
    return f' style="{css}"' if css else ""


def table(t: Table) -> str:
    """A rich Table as an HTML table: its title, headers, cells, column and row styles."""
    parts = [f'<table style="border-collapse: collapse; {_BLOCK}">']
    if t.title:
        parts.append(f'<caption style="caption-side: top; text-align: left; font-weight: bold; padding: 2px 8px">'
                     f'{inline(t.title)}</caption>')
    align = [f"text-align: {'justify' if col.justify == 'full' else col.justify}" for col in t.columns]
    if t.show_header:
        parts.append("<thead><tr>")
        for col, css in zip(t.columns, align):
            parts.append(f"<th{_attr(css)}>{inline(col.header)}</th>")
        parts.append("</tr></thead>")
    parts.append("<tbody>")
    cells = [list(col.cells) for col in t.columns]
    for i, row in enumerate(t.rows):
        parts.append(f"<tr{_attr(_css(row.style))}>")
        for col, css, column_cells in zip(t.columns, align, cells):
            cell = column_cells[i] if i < len(column_cells) else ""
            css = "; ".join(c for c in (css, _css(col.style), "white-space: pre" if str(cell)[:1] == " " else "")
                            if c)
            parts.append(f"<td{_attr(css)}>{inline(cell)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _panel(p: Panel) -> str:
    head = f'<div style="font-weight: bold">{inline(p.title)}</div>' if p.title else ""
    foot = f'<div style="opacity: 0.75">{inline(p.subtitle)}</div>' if p.subtitle else ""
    return (f'<div style="display: inline-block; border: 1px solid #8888; border-radius: 6px; padding: 4px 10px; '
            f'margin-top: 6px">{head}{from_rich(p.renderable)}{foot}</div>')


def from_rich(renderable) -> str:
    """HTML for what rfkit's renderers build: Groups, Tables, Panels, Text and markup strings."""
    if isinstance(renderable, Group):
        return "".join(f"<div>{from_rich(r)}</div>" for r in renderable.renderables)
    if isinstance(renderable, Table):
        return table(renderable)
    if isinstance(renderable, Panel):
        return _panel(renderable)
    if isinstance(renderable, (Text, str)):
        return f'<div style="white-space: pre-wrap; {_BLOCK}">{inline(renderable).rstrip()}</div>'
    raise TypeError(f"no HTML for {type(renderable).__name__}")


def pre(text: str) -> str:
    """Text whose layout is the point (torchsummary, torchinfo): a <pre> block, byte for byte."""
    return f'<pre style="{_BLOCK}; line-height: 1.25">{escape(text)}</pre>'


def png(data: bytes, alt: str) -> str:
    """An inline PNG (base64 data URI), so the notebook keeps it without the file."""
    return (f'<img alt="{escape(alt)}" style="max-width: 100%" '
            f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"/>')


def progress(done: int, total: int, label: str, stats: str = "", log: list[str] = ()) -> str:
    """A training progress bar (HTML <progress>) under the epoch lines so far."""
    lines = pre("\n".join(log)) if log else ""
    bar = (f'<div style="{_BLOCK}">{escape(label)} <progress value="{done}" max="{max(total, 1)}" '
           f'style="width: 20em; vertical-align: middle"></progress> {done}/{total} {escape(stats)}</div>'
           if total else "")
    return f"<div>{lines}{bar}</div>"


def block(*parts: str) -> str:
    """One output: parts stacked."""
    return '<div class="rfkit">' + "".join(parts) + "</div>"
