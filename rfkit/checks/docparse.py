"""Parsers for the tables people paste into READMEs: torchsummary and torchinfo
printouts, RF tables and "INPUT | KERNEL | OUTPUT" architecture tables.

The zoo cards keep each seed's table as the text the seed printed and parse it
here, so a number on a card is the seed's number, not a retyped one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

@dataclass(frozen=True)
class SummaryRow:
    """One row of a documented summary table (torchsummary or torchinfo)."""

    layer: str  # e.g. "Conv2d-1" (torchsummary) or "Conv2d: 2-1" (torchinfo)
    shape: tuple[int, ...]  # output shape, batch dimension as printed (-1 or 1)
    params: int | None  # None where the seed printed "--"


@dataclass(frozen=True)
class RFRow:
    """One row of a documented RF table: n_in, k, s, p, n_out, r_in, j_in, r_out, j_out."""

    n_in: int
    k: int
    s: int
    p: int
    n_out: int
    r_in: int
    j_in: int
    r_out: int
    j_out: int


@dataclass(frozen=True)
class ArchRow:
    """One row of a documented architecture table ("INPUT | KERNEL | OUTPUT")."""

    input: str
    kernel: str
    output: str


@dataclass(frozen=True)
class Documented:
    """The tables a document (a README, a zoo card) holds about one model."""

    params: int | None = None
    summary_style: str | None = None  # "torchsummary" or "torchinfo"
    summary_title: str | None = None
    summary_rows: tuple[SummaryRow, ...] = ()
    rf_rows: tuple[RFRow, ...] = ()
    arch_rows: tuple[ArchRow, ...] = ()


_SHAPE = r"\[([-\d,\s]+)\]"
_TORCHSUMMARY_ROW = re.compile(r"^\s*(\w+-\d+)\s+" + _SHAPE + r"\s+([\d,]+)\s*$")
_TORCHINFO_ROW = re.compile(r"^[\s│├└─]*(\w+: \d+-\d+)\s+" + _SHAPE + r"\s+([\d,]+|--)\s*$")


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _count(text: str) -> int | None:
    return None if text == "--" else int(text.replace(",", ""))


def _summary_rows(text: str, pattern: re.Pattern) -> tuple[SummaryRow, ...]:
    return tuple(SummaryRow(m[1], _shape(m[2]), _count(m[3]))
                 for m in map(pattern.match, text.splitlines()) if m)


def parse_torchsummary(text: str) -> tuple[SummaryRow, ...]:
    """Rows such as `Conv2d-1   [-1, 32, 26, 26]   288`."""
    return _summary_rows(text, _TORCHSUMMARY_ROW)


def parse_torchinfo(text: str) -> tuple[SummaryRow, ...]:
    """Rows such as `│    └─Conv2d: 2-1   [1, 8, 26, 26]   72` (the root row is skipped)."""
    return _summary_rows(text, _TORCHINFO_ROW)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_rf_table(text: str) -> tuple[RFRow, ...]:
    """Markdown rows of nine integers: n_in | k | s | p | n_out | r_in | j_in | r_out | j_out."""
    rows = []
    for line in text.splitlines():
        cells = _cells(line)
        if len(cells) == 9 and all(re.fullmatch(r"-?\d+", c) for c in cells):
            rows.append(RFRow(*(int(c) for c in cells)))
    return tuple(rows)


def parse_arch_table(text: str) -> tuple[ArchRow, ...]:
    """Rows of markdown tables headed INPUT | KERNEL | OUTPUT (other tables are skipped)."""
    rows, inside = [], False
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            inside = False
            continue
        cells = _cells(line)
        if cells[0].upper() == "INPUT" and any(c.upper() == "KERNEL" for c in cells):
            inside = True
            continue
        if not inside or set("".join(cells)) <= set("-: "):
            continue
        cells += [""] * (3 - len(cells))
        rows.append(ArchRow(*cells[:3]))
    return tuple(rows)
