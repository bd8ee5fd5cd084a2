"""Per-module summaries of a traced report, in three styles:

- `rich`: a module tree with shapes, params, MACs and the RF columns;
- `torchsummary`: byte-identical to torchsummary 1.5.1, quirks included (its
  -1 batch, numbering in forward-completion order, weight+bias-only params,
  sizes in MiB from 4-byte floats);
- `torchinfo`: what torchinfo 1.8 prints, byte for byte, its counting
  conventions included (rows per call, never-called containers inserted,
  its mult-adds; docs/summaries.md), except where torchinfo 1.8 is wrong:
  the mult-adds label reads "(M)" on every Python, and the totals count a
  tied tensor once.

Only formatting lives here: the numbers, each convention's included, come from
the report (rfkit.analysis.stats collects them during the trace).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from rfkit.output.render import per_axis, plain

if TYPE_CHECKING:
    from rfkit.analysis.report import ModuleStats, Report, TorchinfoRow

SUMMARY_SCHEMA = "rfkit.summary/1"
_DASHES, _EQUALS = "-" * 64, "=" * 64


def _rows(report: Report) -> list[ModuleStats]:
    """A row per module call but the model's own, whose numbers are the totals; a model that is
    itself one layer (an nn.Conv2d) keeps its row, which carries its parameters and MACs."""
    return [r for r in report.module_stats if r.call.name or r.call.is_leaf]


def _name(report: Report, row: ModuleStats) -> str:
    return row.call.name.rsplit(".", 1)[-1] if row.call.name else report.model_name


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
    hooked = [r for r in sorted(report.module_stats, key=lambda r: r.call.order)
              if r.call.name and not r.is_container]  # torchsummary hooks every module but the model
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


class Units(str, Enum):
    """torchinfo's units of mult-adds. rfkit prints the value, "(M)", "(G)" or "(T)", on every
    Python. torchinfo 1.8 prints the enum itself (f" ({units})"), which reads
    "(Units.MEGABYTES)" on Python >= 3.11, where format() of a str-mixin enum became its str()
    (torchinfo issue #350): that label is torchinfo's bug, not copied here."""

    MEGABYTES = "M"
    GIGABYTES = "G"
    TERABYTES = "T"


def _mult_adds(num: int) -> str:
    unit, value = ((Units.TERABYTES, num / 1e12) if num >= 1e12 else (Units.GIGABYTES, num / 1e9) if num >= 1e9
                   else (Units.MEGABYTES, num / 1e6))
    shown = f"{int(value):,d}" if value.is_integer() else f"{value:,.2f}"
    return f"({unit.value}): {shown}"


@dataclass(frozen=True)
class TorchinfoLine:
    """One printed row of the torchinfo table."""

    title: str  # "Conv2d: 2-1"; the model's name for the root
    depth: int
    shape: tuple[int, ...]  # () prints "--"
    cell: str  # Param #: "1,234", "(1,234)" when nothing in it trains, "--", "(recursive)"

    @property
    def params(self) -> int | None:
        """The number in the Param # cell; None for "--" and "(recursive)"."""
        digits = self.cell.strip("()").replace(",", "")
        return int(digits) if digits.isdigit() else None


def _title(report: Report, row: TorchinfoRow) -> str:
    """torchinfo's name cell: the class, with depth-idx below the root (a lazy root prints the
    class it became, a TorchScript one its original class)."""
    return f"{row.kind}: {row.depth}-{row.index}" if row.depth else row.kind


def _param_cell(row: TorchinfoRow, depth: int | None) -> str:
    """torchinfo's Param # cell: the subtree's count for a leaf or a row at the depth limit,
    bracketed when nothing trains; above the limit a container's leftover, never bracketed."""
    if row.params == 0:
        return "--"
    if row.recursive:
        return "(recursive)"
    if row.is_leaf or row.depth == depth:
        return f"{row.params:,}" if row.trainable else f"({row.params:,})"
    return f"{row.leftover:,}" if row.leftover > 0 else "--"


def torchinfo_rows(report: Report, depth: int | None = 3) -> list[TorchinfoLine]:
    """The rows torchinfo prints at `depth` (None: every row, nothing collapsed), root first."""
    return [TorchinfoLine(_title(report, r), r.depth, r.shape, _param_cell(r, depth))
            for r in report.torchinfo.rows if depth is None or r.depth <= depth]


def torchinfo_text(report: Report, depth: int = 3) -> str:
    """What `str(torchinfo.summary(model, input_size, depth=depth))` gives (plus a final
    newline): the default columns Layer (type:depth-idx), Output Shape, Param #."""
    info = report.torchinfo
    width = 40
    longest = max((len(_title(report, r)) + r.depth * 5 + 1 for r in info.rows), default=0)  # hidden rows too
    if longest >= width:
        width = math.ceil(longest / 5) * 5
    divider = "=" * (width + 2 * 25)

    def fmt(name: str, shape: str, params: str) -> str:
        return f"{name:<{width}} {shape:<25} {params:<25} ".rstrip()

    lines = [divider, fmt("Layer (type:depth-idx)", "Output Shape", "Param #"), divider]
    for r in torchinfo_rows(report, depth):
        prefix = "" if r.depth == 0 else "├─" if r.depth == 1 else "│    " * (r.depth - 1) + "└─"
        lines.append(fmt(prefix + r.title, str(list(r.shape)) if r.shape else "--", r.cell))
    total, trainable = info.total_params, info.trainable_params
    sizes = (info.input_bytes, info.forward_backward_bytes, info.param_bytes)
    lines += [
        divider,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Total mult-adds {_mult_adds(info.mult_adds)}",
        divider,
        f"Input size (MB): {sizes[0] / 1e6:0.2f}",
        f"Forward/backward pass size (MB): {sizes[1] / 1e6:0.2f}",
        f"Params size (MB): {sizes[2] / 1e6:0.2f}",
        f"Estimated Total Size (MB): {sum(sizes) / 1e6:0.2f}",
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
        table.add_row("  " * max(row.call.depth - 1, 0) + plain(_name(report, row)), plain(row.call.kind),
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
