"""Formatting of traced reports: rich tables for people, markdown for READMEs,
JSON and CSV with a documented, versioned schema (docs/json-schema.md) for
machines. Nothing here computes an RF; it only prints what tracing found.
"""
from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rfkit.analysis.report import AxisRow, Layer, Report

TABLE_SCHEMA = "rfkit.table/1"
SEED_COLUMNS = ("n_in", "k", "s", "p", "n_out", "r_in", "j_in", "r_out", "j_out")
ALL_COLUMNS = ("k", "s", "p", "d", "n_in", "n_out", "r_in", "j_in", "r_out", "j_out", "start", "r_min", "exact")


def plain(text) -> str:
    """`text` as rich prints it literally. Every user-facing string that holds names, paths or messages
    goes through here before rich sees it: their brackets ('zoo.Net[/b]', '[tool.rfkit]') would otherwise
    be read as markup, and raise or vanish."""
    return escape(str(text))


def number(v) -> str:
    if v is None:
        return "?"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f"{float(v):.6g}"
    return str(v)


def json_number(v):
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else float(v)
    return v


def per_axis(values: tuple, blank: str = "-") -> str:
    """One value when every axis agrees, else 'h x w'."""
    shown = [blank if v is None and blank else number(v) for v in values]
    return shown[0] if len(set(shown)) == 1 else "x".join(shown)


def _row_cells(layer: Layer, columns) -> list[str]:
    cells = []
    for c in columns:
        values = getattr(layer, c)
        cells.append(per_axis(values, "-" if c in ("k", "s", "p", "d") else ""))
    return cells


def table_rows(report: Report, all_rows: bool) -> list[Layer]:
    return report.layers if all_rows else report.rf_layers()


def rf_table(report: Report, all_rows: bool = False) -> Group:
    """The rich RF table, closing with the output's RF, jump, start and coverage."""
    layers = table_rows(report, all_rows)
    axes = "x".join(report.axis_names)
    table = Table(title=f"Receptive field of {plain(report.model_name)}  (input {_shape(report.input_shape[1:])}, "
                        f"values per axis {axes} where they differ)",
                  box=box.SIMPLE_HEAVY, header_style="bold cyan", title_style="bold", pad_edge=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("layer", style="bold", overflow="fold")
    table.add_column("kind", style="magenta", overflow="fold")
    for c in SEED_COLUMNS:
        table.add_column(c, justify="right", style="green" if c == "r_out" else None, no_wrap=True)
    table.add_column("start", justify="right", style="dim", no_wrap=True)
    show_min = any(a.r_min is not None and a.r_min != a.r_out for l in layers for a in l.axes)
    if show_min:
        table.add_column("r_min", justify="right", style="yellow")
    for layer in layers:
        cells = [str(layer.index), plain(layer.name), plain(layer.kind), *_row_cells(layer, SEED_COLUMNS + ("start",))]
        if show_min:
            cells.append(per_axis(layer.r_min))
        style = "red" if layer.rule == "unknown" else "yellow" if not all(layer.exact) else None
        table.add_row(*cells, style=style)
    return Group(table, summary_panel(report))


def _shape(shape) -> str:
    return "x".join(str(v) for v in shape)


def summary_panel(report: Report) -> Panel:
    lines = Text()
    cov = ", ".join("?" if c is None else f"{c:.0%}" for c in report.coverage)
    if report.output:
        lines.append("output RF ", style="bold")
        lines.append(per_axis(report.rf), style="bold green")
        lines.append(f"   jump {per_axis(report.jump)}   start {per_axis(report.start)}   "
                     f"covers {cov} of the {_shape(report.spatial_size)} input\n")
    if len(report.input_shapes) > 1 or report.rf_input is None:
        inputs = ", ".join(f"{n} {_shape(sh)}" for n, sh in zip(report.input_names, report.input_shapes))
        where = f"measured in input '{report.rf_input}'" if report.rf_input else "not measured: no input has spatial dims"
        lines.append(f"RF {where}; inputs: {inputs}\n")
    if report.first_global is not None:
        lines.append("RF entering the first global op ", style="bold")
        lines.append(f"({report.first_global.name}): {per_axis(report.rf_before_global)}\n")
    lines.append(f"traced on {report.device}" + (f" ({report.device_note})" if report.device_note else ""),
                 style="dim")
    if report.fallback:
        lines.append(f"\n{report.fallback}", style="yellow")
    for w in report.warnings:
        lines.append(f"\nwarning: {w}", style="yellow")
    return Panel(lines, box=box.ROUNDED, expand=False)


def rf_markdown(report: Report, all_rows: bool = False) -> str:
    """Seed 002's RF table columns, exactly; 'h x w' where the axes differ."""
    head = "| " + " | ".join(SEED_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in SEED_COLUMNS) + "|"
    body = ["| " + " | ".join(_row_cells(layer, SEED_COLUMNS)) + " |" for layer in table_rows(report, all_rows)]
    return "\n".join([head, rule, *body]) + "\n"


def _axis_json(a: AxisRow) -> dict:
    return {c: json_number(getattr(a, c)) for c in ALL_COLUMNS}


def report_dict(report: Report, all_rows: bool = True) -> dict:
    return {
        "schema": TABLE_SCHEMA,
        "model": report.model_name,
        "input_shape": list(report.input_shape),
        "inputs": [{"name": n, "shape": list(sh)} for n, sh in zip(report.input_names, report.input_shapes)],
        "rf_input": report.rf_input,
        "axes": list(report.axis_names),
        "device": report.device,
        "fallback": report.fallback,
        "output": {
            "rf": [json_number(v) for v in report.rf],
            "jump": [json_number(v) for v in report.jump],
            "start": [json_number(v) for v in report.start],
            "coverage": list(report.coverage),
        },
        "layers": [
            {
                "index": l.index, "name": l.name, "kind": l.kind, "rule": l.rule, "module": l.module,
                "in_shape": list(l.in_shape), "out_shape": list(l.out_shape), "note": l.note,
                "axes": [_axis_json(a) for a in l.axes],
            }
            for l in table_rows(report, all_rows)
        ],
        "warnings": report.warnings,
    }


def rf_json(report: Report, all_rows: bool = False) -> str:
    return json.dumps(report_dict(report, all_rows), indent=2) + "\n"


def rf_csv(report: Report, all_rows: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "name", "kind", "rule", "axis", *ALL_COLUMNS])
    for layer in table_rows(report, all_rows):
        for axis, a in zip(report.axis_names, layer.axes):
            writer.writerow([layer.index, layer.name, layer.kind, layer.rule, axis,
                             *("" if (v := json_number(getattr(a, c))) is None else v for c in ALL_COLUMNS)])
    return out.getvalue()


def verify_table(result, name: str) -> Table:
    """Traced beside measured RF per axis (the interval is output position `pos`'s RF, clipped to the input)."""
    t = Table(title=f"{plain(name)}: traced vs measured RF (gradients, float64) at input "
                    f"{_shape(result.input_size)}", box=box.SIMPLE_HEAVY, header_style="bold cyan")
    for col in ("axis", "n", "pos", "traced r", "traced j", "traced interval", "measured interval",
                "measured j", ""):
        t.add_column(col, justify="right")
    for a in result.axes:
        t.add_row(a.axis, str(a.n), str(a.position), number(_int(a.traced_rf)), number(_int(a.traced_jump)),
                  _interval(a.traced) + (" (clipped)" if a.clipped else ""), _interval(a.measured),
                  "-" if a.measured_jump is None else number(_int(a.measured_jump)),
                  "[green]match[/]" if a.ok else "[red]DIFFER[/]")
    return t


def _int(v: float):
    return int(v) if float(v).is_integer() else v


def _interval(iv) -> str:
    return "-" if iv is None else f"[{_int(iv[0])}, {_int(iv[1])}]"


def checks_table(name: str, checks) -> Table:
    t = Table(title=f"Budget of {plain(name)}", box=box.SIMPLE_HEAVY, header_style="bold cyan")
    for col, just in (("check", "left"), ("measured", "right"), ("limit", "right"), ("", "center"),
                      ("hint", "left")):
        t.add_column(col, justify=just, overflow="fold")
    for c in checks:
        t.add_row(plain(c.name), plain(c.measured), plain(c.limit),
                  "[green]pass[/]" if c.passed else "[bold red]FAIL[/]", plain(c.hint))
    return t


def checks_json(name: str, checks) -> str:
    return json.dumps({"schema": "rfkit.check/1", "model": name, "passed": all(c.passed for c in checks),
                       "checks": [{"name": c.name, "measured": c.measured, "limit": c.limit, "passed": c.passed,
                                   "hint": c.hint} for c in checks]}, indent=2) + "\n"


def audit_table(name: str, found) -> Table:
    t = Table(title=f"Documentation audit of {plain(name)}: {len(found)} discrepanc{'y' if len(found) == 1 else 'ies'}",
              box=box.SIMPLE_HEAVY, header_style="bold cyan")
    for col in ("table", "row", "documented", "traced", "what"):
        t.add_column(col, overflow="fold")
    for d in found:
        t.add_row(*(plain(v) for v in (d.table, "-" if d.row is None else d.row, d.documented, d.traced,
                                       d.message)))
    return t


def audit_json(name: str, found) -> str:
    return json.dumps({"schema": "rfkit.audit/1", "model": name,
                       "discrepancies": [{"table": d.table, "row": d.row, "documented": d.documented,
                                          "traced": d.traced, "message": d.message} for d in found]},
                      indent=2) + "\n"
