"""Documentation audit: documented tables against the traced model.

Compares, row by row, what a README (or a zoo card) documents (parameter
totals, the summary table's title and rows, the "INPUT | KERNEL | OUTPUT"
architecture table, the RF table) with what tracing measures, and lists every
discrepancy with its row. An RF table may stop early (documenting only the
first layers is not an error); a row missing between documented rows is.
"""
from __future__ import annotations

import re
from dataclasses import astuple, dataclass

from rfkit.checks import docparse
from rfkit.checks.docparse import ArchRow, Documented, RFRow, SummaryRow
from rfkit.output import summaries
from rfkit.analysis.report import Report

_TOTAL = re.compile(r"^Total params:\s*([\d,]+)", re.M)
_TORCHINFO_ROOT = re.compile(r"^Layer \(type:depth-idx\).*\n=+\n(\w+)\s+\[", re.M)


@dataclass(frozen=True)
class Discrepancy:
    table: str  # "params", "summary", "architecture", "rf"
    row: int | None  # 1-based row of the documented table
    documented: str
    traced: str
    message: str


def section(text: str, name: str) -> str:
    """The markdown section whose heading mentions `name`, down to the next heading of its level."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s", line)
        if m and re.search(rf"\b{re.escape(name)}\b", line):
            level = len(m[1])
            end = next((j for j in range(i + 1, len(lines))
                        if (h := re.match(r"^(#+)\s", lines[j])) and len(h[1]) <= level), len(lines))
            return "\n".join(lines[i:end])
    raise KeyError(name)


def from_text(text: str) -> Documented:
    info, ts = docparse.parse_torchinfo(text), docparse.parse_torchsummary(text)
    style = "torchinfo" if info else "torchsummary" if ts else None
    total = _TOTAL.search(text)
    root = _TORCHINFO_ROOT.search(text)
    return Documented(
        params=int(total[1].replace(",", "")) if total else None,
        summary_style=style,
        summary_title=root[1] if root else None,
        summary_rows=info or ts,
        rf_rows=docparse.parse_rf_table(text),
        arch_rows=docparse.parse_arch_table(text),
    )


def audit(doc: Documented, report: Report) -> list[Discrepancy]:
    found = []
    if doc.params is not None and doc.params != report.params:
        found.append(Discrepancy("params", None, f"{doc.params:,}", f"{report.params:,}",
                                 "documented parameter total differs from the model's"))
    found += _summary(doc, report)
    found += _architecture(doc.arch_rows, report)
    found += _rf(doc.rf_rows, report)
    return found


def _summary(doc: Documented, report: Report) -> list[Discrepancy]:
    found = []
    if doc.summary_style == "torchinfo":
        if doc.summary_title is not None and doc.summary_title != report.model_name:
            found.append(Discrepancy("summary", 0, doc.summary_title, report.model_name,
                                     f"summary table titled {doc.summary_title} documents {report.model_name}"))
        traced = [SummaryRow(r.title, r.shape, r.params) for r in summaries.torchinfo_rows(report, None) if r.depth]
    elif doc.summary_style == "torchsummary":
        traced = [SummaryRow(r.key, tuple(r.shape), r.params) for r in summaries.torchsummary_rows(report)]
    else:
        return found
    for i, (d, t) in enumerate(zip(doc.summary_rows, traced), start=1):
        if d != t:
            found.append(Discrepancy("summary", i, _row(d), _row(t), "summary row differs from the model"))
    if len(doc.summary_rows) != len(traced):
        found.append(Discrepancy("summary", None, f"{len(doc.summary_rows)} rows", f"{len(traced)} rows",
                                 "summary table has a different number of rows"))
    return found


def _row(r: SummaryRow) -> str:
    return f"{r.layer} {list(r.shape)} {'--' if r.params is None else f'{r.params:,}'}"


def _arch_items(report: Report) -> list[tuple[str, ArchRow]]:
    """The traced counterpart of each architecture-table row kind: ("conv"|"pool"|"gap", row)."""
    items = []
    for layer in report.rf_layers():
        op = layer.op.rsplit(".", 1)[-1]
        n_out = str(layer.n_out[0])
        if op.startswith("conv"):
            c_in, c_out = layer.in_shape[1], layer.out_shape[1]
            kernel = "x".join(str(k) for k in layer.k) + f"x{layer.in_shapes[1][1]}x{c_out}"
            size = "x".join(str(n) for n in layer.n_in) + f"x{c_in}"
            items.append(("conv", ArchRow(size, kernel, n_out)))
        elif "adaptive" in op or layer.rule == "global":
            items.append(("gap", ArchRow("", "", n_out)))
        elif "pool" in op:
            items.append(("pool", ArchRow("", "", n_out)))
    return items


def _architecture(rows: tuple[ArchRow, ...], report: Report) -> list[Discrepancy]:
    found = []
    items = iter(_arch_items(report))
    for i, row in enumerate(rows, start=1):
        text = row.input.lower()
        kind = "gap" if "adaptive" in text or "gap" in text else "pool" if "pool" in text else \
            None if "flatten" in text else "conv"
        if kind is None:
            continue
        traced = next((t for k, t in items if k == kind), None)
        if traced is None:
            found.append(Discrepancy("architecture", i, _arch(row), "-", f"no traced {kind} layer left"))
            continue
        fields = ("input", "kernel", "output") if kind == "conv" else ("output",)
        wrong = [f for f in fields if getattr(row, f) != getattr(traced, f)]
        if wrong:
            found.append(Discrepancy(
                "architecture", i, _arch(row), _arch(traced),
                f"{' and '.join(wrong)} differ{'s' if len(wrong) == 1 else ''} from the traced {kind}"))
    return found


def _arch(row: ArchRow) -> str:
    return f"{row.input} | {row.kernel} | {row.output}"


def traced_rf_rows(report: Report) -> list[RFRow]:
    """The traced RF table, first axis (seed tables are for square inputs)."""
    cols = ("n_in", "k", "s", "p", "n_out", "r_in", "j_in", "r_out", "j_out")
    return [RFRow(*(getattr(layer.axes[0], c) for c in cols)) for layer in report.rf_layers()]


def _rf(rows: tuple[RFRow, ...], report: Report) -> list[Discrepancy]:
    found = []
    traced = traced_rf_rows(report)
    names = [layer.name for layer in report.rf_layers()]
    j = 0
    for i, row in enumerate(rows, start=1):
        if j < len(traced) and row == traced[j]:
            j += 1
            continue
        later = next((k for k in range(j + 1, len(traced)) if traced[k] == row), None)
        if later is not None:
            for k in range(j, later):
                found.append(Discrepancy("rf", i, "-", _rf_row(traced[k]),
                                         f"row missing before documented row {i}: {names[k]}"))
            j = later + 1
        else:
            found.append(Discrepancy("rf", i, _rf_row(row), _rf_row(traced[j]) if j < len(traced) else "-",
                                     "documented RF row differs from the traced row"))
            j += 1
    return found


def _rf_row(r: RFRow) -> str:
    return " | ".join(str(v) for v in astuple(r))
