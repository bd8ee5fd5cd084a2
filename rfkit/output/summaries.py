"""Per-module summaries of a traced report, in three styles:

- `rich`: a module tree with shapes, params, MACs and the RF columns;
- `torchsummary`: byte-identical to torchsummary 1.5.1, quirks included (its
  -1 batch, numbering in forward-completion order, weight+bias-only params,
  sizes in MiB from 4-byte floats);
- `torchinfo`: torchinfo 1.8's layout and numbers (depth-idx tree, its
  mult-adds convention, sizes in MB of 1e6 bytes), with units printed "(M)".

Only formatting lives here: the numbers, each convention's included, come from
the report (rfkit.analysis.stats collects them during the trace).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from rfkit.output.render import per_axis, plain

if TYPE_CHECKING:
    from rfkit.analysis.report import ModuleStats, Report

SUMMARY_SCHEMA = "rfkit.summary/1"
_DASHES, _EQUALS = "-" * 64, "=" * 64


def _rows(report: Report) -> list[ModuleStats]:
    return [r for r in report.module_stats if r.call.name]


@dataclass(frozen=True)
class TorchsummaryRow:
    key: str  # "Conv2d-1"
    shape: list  # batch as -1; a list of shapes for tuple outputs
    params: int  # weight + bias of the module, as torchsummary counts
    trainable: bool  # torchsummary asks the weight alone
    elements: int  # what torchsummary adds to its output total


def torchsummary_rows(report: Report) -> list[TorchsummaryRow]:
    """torchsummary's rows: every module but Sequential/ModuleList/the model, in completion order."""
    rows = []
    hooked = [r for r in sorted(_rows(report), key=lambda r: r.call.order) if not r.is_container]
    for idx, row in enumerate(hooked, start=1):
        shapes = [[-1, *s[1:]] for s in row.call.out_shapes]
        shape = shapes[0] if len(shapes) == 1 else shapes
        rows.append(TorchsummaryRow(f"{row.call.kind}-{idx}", shape, row.weight_bias_params, row.weight_trainable,
                                    math.prod(shape) if len(shapes) == 1 else 0))
    return rows


def torchsummary_text(report: Report) -> str:
    """What `torchsummary.summary(model, input_size)` prints for this model."""
    lines = [_DASHES, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"), _EQUALS]
    rows = torchsummary_rows(report)
    for row in rows:
        lines.append("{:>20}  {:>25} {:>15}".format(row.key, str(row.shape), f"{row.params:,}"))
    total = sum(r.params for r in rows)
    trainable = sum(r.params for r in rows if r.trainable)
    input_mb = abs(math.prod(report.input_shape[1:]) * -1 * 4.0 / 1024 ** 2)
    output_mb = abs(2.0 * sum(r.elements for r in rows) * 4.0 / 1024 ** 2)
    params_mb = abs(total * 4.0 / 1024 ** 2)
    lines += [
        _EQUALS,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        _DASHES,
        "Input size (MB): %0.2f" % input_mb,
        "Forward/backward pass size (MB): %0.2f" % output_mb,
        "Params size (MB): %0.2f" % params_mb,
        "Estimated Total Size (MB): %0.2f" % (params_mb + output_mb + input_mb),
        _DASHES,
    ]
    return "\n".join(lines) + "\n"


def _units(num: float) -> str:
    unit, value = ("T", num / 1e12) if num >= 1e12 else ("G", num / 1e9) if num >= 1e9 else ("M", num / 1e6)
    shown = f"{int(value):,d}" if float(value).is_integer() else f"{value:,.2f}"
    return f"({unit}): {shown}"


@dataclass(frozen=True)
class TorchinfoRow:
    title: str  # "Conv2d: 2-1"
    depth: int
    shape: tuple[int, ...]
    params: int | None  # None where torchinfo prints "--"
    subtree_params: int  # shown instead for a container at the depth limit
    trainable: bool
    macs: int  # torchinfo's mult-adds convention (leaves only)
    output_bytes: int  # torchinfo's forward/backward share: 2 x output bytes of leaves with params


def torchinfo_rows(report: Report) -> list[TorchinfoRow]:
    """torchinfo's rows (below the root), in call order, depth-idx counted per depth."""
    counters: dict[int, int] = {}
    rows = []
    for row in _rows(report):
        d = row.call.depth
        counters[d] = counters.get(d, 0) + 1
        shape = row.call.out_shapes[0] if row.call.out_shapes else ()
        count = row.params + row.shared
        leaf = row.call.is_leaf
        rows.append(TorchinfoRow(
            f"{row.call.kind}: {d}-{counters[d]}", d, tuple(shape), count if leaf and count else None,
            row.total_params, bool(row.trainable), row.torchinfo_macs,
            2 * math.prod(shape) * row.param_element_size if leaf and row.has_params else 0))
    return rows


def torchinfo_text(report: Report, depth: int = 3) -> str:
    """torchinfo.summary's default table: Layer (type:depth-idx), Output Shape, Param #."""
    rows = torchinfo_rows(report)
    width = 40
    longest = max((len(r.title) + r.depth * 5 + 1 for r in rows), default=0)
    if longest >= width:
        width = math.ceil(longest / 5) * 5
    divider = "=" * (width + 2 * 25)

    def fmt(name: str, shape: str, params: str) -> str:
        return f"{name:<{width}} {shape:<25} {params:<25} ".rstrip()

    lines = [divider, fmt("Layer (type:depth-idx)", "Output Shape", "Param #"), divider,
             fmt(report.model_name, str(list(report.output_shape)), "--")]
    for r in rows:
        if r.depth > depth:
            continue
        prefix = "├─" if r.depth == 1 else "│    " * (r.depth - 1) + "└─"
        shown = r.params if r.params is not None else r.subtree_params if r.depth == depth else 0
        cell = f"{shown:,}" if shown and (r.trainable or r.params is None) else f"({shown:,})" if shown else "--"
        lines.append(fmt(prefix + r.title, str(list(r.shape)), cell))
    total, trainable = report.total_params, report.total_trainable_params
    input_bytes, param_bytes = report.input_bytes, report.param_bytes
    output_bytes = sum(r.output_bytes for r in rows)
    lines += [
        divider,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Total mult-adds {_units(sum(r.macs for r in rows))}",
        divider,
        f"Input size (MB): {input_bytes / 1e6:0.2f}",
        f"Forward/backward pass size (MB): {output_bytes / 1e6:0.2f}",
        f"Params size (MB): {param_bytes / 1e6:0.2f}",
        f"Estimated Total Size (MB): {(input_bytes + output_bytes + param_bytes) / 1e6:0.2f}",
        divider,
    ]
    return "\n".join(lines) + "\n"


def _mb(n: int) -> str:
    return f"{n / 2 ** 20:,.2f} MiB"


def memory_lines(report: Report) -> list[tuple[str, str]]:
    return [
        ("input", _mb(report.input_bytes)),
        ("parameters", _mb(report.param_bytes)),
        ("activations, inference (largest op's inputs + outputs)", _mb(report.inference_activation_bytes)),
        ("activations, training (every op output kept for backward)", _mb(report.training_activation_bytes)),
    ]


def rich_summary(report: Report, depth: int = 3) -> Group:
    table = Table(title=f"{plain(report.model_name)}  (input {'x'.join(map(str, report.input_shape[1:]))}, batch "
                        f"{report.input_shape[0]})", box=box.SIMPLE_HEAVY, header_style="bold cyan",
                  title_style="bold", pad_edge=False)
    for col, just in (("module", "left"), ("kind", "left"), ("output shape", "left"), ("params", "right"),
                      ("MACs", "right"), ("r_out", "right"), ("j_out", "right")):
        table.add_column(col, justify=just, style={"module": "bold", "kind": "magenta", "r_out": "green"}.get(col),
                         overflow="fold")
    for row in _rows(report):
        if row.call.depth > depth:
            continue
        shape = "x".join(map(str, row.call.out_shapes[0])) if row.call.out_shapes else "-"
        params = f"{row.params:,}" + (f" (+{row.shared:,} shared)" if row.shared else "")
        if not row.call.is_leaf:
            params = f"[dim]{row.total_params:,}[/]"
        rf = row.call.out_rf
        table.add_row("  " * (row.call.depth - 1) + plain(row.call.name.rsplit(".", 1)[-1]), plain(row.call.kind),
                      shape, params, f"{row.macs:,}" if row.macs else "-",
                      per_axis(tuple(a.r for a in rf)) if rf else "-",
                      per_axis(tuple(a.j for a in rf)) if rf else "-")
    totals = Text()
    totals.append("params ", style="bold")
    totals.append(f"{report.params:,}", style="bold green")
    totals.append(f" ({report.trainable_params:,} trainable)   ")
    totals.append("MACs ", style="bold")
    totals.append(f"{report.macs:,}", style="bold green")
    totals.append(f" ({report.macs / 1e6:,.2f} M)   output RF {per_axis(report.rf)}\n")
    for label, value in memory_lines(report):
        totals.append(f"{label}: {value}\n", style="dim")
    return Group(table, totals)


def summary_dict(report: Report) -> dict:
    return {
        "schema": SUMMARY_SCHEMA,
        "model": report.model_name,
        "input_shape": list(report.input_shape),
        "params": report.params,
        "trainable_params": report.trainable_params,
        "macs": report.macs,
        "memory_bytes": {
            "input": report.input_bytes,
            "params": report.param_bytes,
            "activations_inference": report.inference_activation_bytes,
            "activations_training": report.training_activation_bytes,
        },
        "modules": [
            {
                "name": r.call.name, "kind": r.call.kind, "depth": r.call.depth, "leaf": r.call.is_leaf,
                "out_shapes": [list(s) for s in r.call.out_shapes], "params": r.params,
                "shared_params": r.shared, "trainable_params": r.trainable, "subtree_params": r.total_params,
                "macs": r.macs,
                "r_out": [a.r if a.r is None else float(a.r) for a in r.call.out_rf] if r.call.out_rf else None,
                "j_out": [float(a.j) for a in r.call.out_rf] if r.call.out_rf else None,
            }
            for r in _rows(report)
        ],
    }


def summary_json(report: Report) -> str:
    return json.dumps(summary_dict(report), indent=2) + "\n"
