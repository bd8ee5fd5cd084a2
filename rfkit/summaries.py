"""Per-module summaries of a traced report, in three styles:

- `rich`: a module tree with shapes, params, MACs and the RF columns;
- `torchsummary`: byte-identical to torchsummary 1.5.1, quirks included (its
  -1 batch, numbering in forward-completion order, weight+bias-only params,
  sizes in MiB from 4-byte floats);
- `torchinfo`: torchinfo 1.8's layout and numbers (depth-idx tree, its
  mult-adds convention, sizes in MB of 1e6 bytes), with units printed "(M)".

Only formatting lives here; the numbers come from tracing and rfkit.stats.
"""
from __future__ import annotations

import json
import math

import torch.nn as nn
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from rfkit import stats
from rfkit.render import per_axis
from rfkit.stats import ModuleStats
from rfkit.tracing import Report

SUMMARY_SCHEMA = "rfkit.summary/1"
_DASHES, _EQUALS = "-" * 64, "=" * 64


def _module(report: Report, row: ModuleStats) -> nn.Module:
    return stats._module(report.model, row.call.name)


def _rows(report: Report) -> list[ModuleStats]:
    return [r for r in report.module_stats if r.call.name]


def torchsummary_text(report: Report) -> str:
    """What `torchsummary.summary(model, input_size)` prints for this model."""
    lines = [_DASHES, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"), _EQUALS]
    total = trainable = total_output = 0
    hooked = [r for r in sorted(_rows(report), key=lambda r: r.call.order)
              if not isinstance(_module(report, r), (nn.Sequential, nn.ModuleList))]
    for idx, row in enumerate(hooked, start=1):
        module = _module(report, row)
        shapes = [[-1, *s[1:]] for s in row.call.out_shapes]
        shape = shapes[0] if len(shapes) == 1 else shapes
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        nb = sum(t.numel() for t in (weight, bias) if hasattr(t, "size"))
        if hasattr(weight, "size") and weight.requires_grad:  # torchsummary asks the weight alone
            trainable += nb
        total += nb
        total_output += math.prod(shape) if len(shapes) == 1 else 0
        lines.append("{:>20}  {:>25} {:>15}".format(f"{row.call.kind}-{idx}", str(shape), f"{nb:,}"))
    input_mb = abs(math.prod(report.input_shape[1:]) * -1 * 4.0 / 1024 ** 2)
    output_mb = abs(2.0 * total_output * 4.0 / 1024 ** 2)
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


def _torchinfo_macs(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """torchinfo's mult-adds for a leaf: params x output positions for convs, x batch otherwise."""
    macs = 0
    for name, p in module.named_parameters():
        name = name.rsplit(".", 1)[-1]
        if name in ("weight", "bias"):
            if "Conv" in type(module).__name__:
                macs += p.numel() * math.prod(out_shape[:1] + out_shape[2:])
            else:
                macs += out_shape[0] * p.numel()
        elif "weight" in name or "bias" in name:
            macs += math.prod(out_shape[:2]) * p.numel()
    return macs


def _units(num: float) -> str:
    unit, value = ("T", num / 1e12) if num >= 1e12 else ("G", num / 1e9) if num >= 1e9 else ("M", num / 1e6)
    shown = f"{int(value):,d}" if float(value).is_integer() else f"{value:,.2f}"
    return f"({unit}): {shown}"


def torchinfo_text(report: Report, depth: int = 3) -> str:
    """torchinfo.summary's default table: Layer (type:depth-idx), Output Shape, Param #."""
    rows = _rows(report)
    counters: dict[int, int] = {}
    entries = []
    for row in rows:
        d = row.call.depth
        counters[d] = counters.get(d, 0) + 1
        entries.append((row, f"{row.call.kind}: {d}-{counters[d]}"))
    width = 40
    longest = max((len(title) + row.call.depth * 5 + 1 for row, title in entries), default=0)
    if longest >= width:
        width = math.ceil(longest / 5) * 5
    divider = "=" * (width + 2 * 25)

    def fmt(name: str, shape: str, params: str) -> str:
        return f"{name:<{width}} {shape:<25} {params:<25} ".rstrip()

    out_shape = report.output_shape
    lines = [divider, fmt("Layer (type:depth-idx)", "Output Shape", "Param #"), divider,
             fmt(report.model_name, str(list(out_shape)), "--")]
    macs = output_bytes = 0
    for row, title in entries:
        module = _module(report, row)
        shape = row.call.out_shapes[0] if row.call.out_shapes else ()
        if row.call.is_leaf:
            macs += _torchinfo_macs(module, shape)
            own = sum(p.numel() for p in module.parameters())
            if own:
                output_bytes += 2 * math.prod(shape) * _element_size(module)
        if row.call.depth > depth:
            continue
        prefix = "" if row.call.depth == 0 else "├─" if row.call.depth == 1 else "│    " * (row.call.depth - 1) + "└─"
        count = row.params + row.shared
        cell = "--" if not (row.call.is_leaf or row.call.depth == depth) or count == 0 else \
            f"{count:,}" if row.trainable else f"({count:,})"
        lines.append(fmt(prefix + title, str(list(shape)), cell))
    total, trainable = stats.params(report.model), stats.trainable_params(report.model)
    input_bytes = math.prod(report.input_shape) * _input_element_size(report)
    param_bytes = stats.param_bytes(report.model)
    lines += [
        divider,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"Total mult-adds {_units(macs)}",
        divider,
        f"Input size (MB): {input_bytes / 1e6:0.2f}",
        f"Forward/backward pass size (MB): {output_bytes / 1e6:0.2f}",
        f"Params size (MB): {param_bytes / 1e6:0.2f}",
        f"Estimated Total Size (MB): {(input_bytes + output_bytes + param_bytes) / 1e6:0.2f}",
        divider,
    ]
    return "\n".join(lines) + "\n"


def _element_size(module: nn.Module) -> int:
    p = next(module.parameters(), None)
    return p.element_size() if p is not None else 4


def _input_element_size(report: Report) -> int:
    first = report.layers[0] if report.layers else None
    return first.in_bytes // max(math.prod(first.in_shape), 1) if first and first.in_shape else 4


def _mb(n: int) -> str:
    return f"{n / 2 ** 20:,.2f} MiB"


def memory_lines(report: Report) -> list[tuple[str, str]]:
    input_bytes = math.prod(report.input_shape) * _input_element_size(report)
    return [
        ("input", _mb(input_bytes)),
        ("parameters", _mb(stats.param_bytes(report.model))),
        ("activations, inference (largest op's inputs + outputs)", _mb(stats.inference_activation_bytes(report))),
        ("activations, training (every op output kept for backward)",
         _mb(stats.training_activation_bytes(report))),
    ]


def rich_summary(report: Report, depth: int = 3) -> Group:
    table = Table(title=f"{report.model_name}  (input {'x'.join(map(str, report.input_shape[1:]))}, batch "
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
        table.add_row("  " * (row.call.depth - 1) + row.call.name.rsplit(".", 1)[-1], row.call.kind, shape,
                      params, f"{row.macs:,}" if row.macs else "-",
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
            "input": math.prod(report.input_shape) * _input_element_size(report),
            "params": stats.param_bytes(report.model),
            "activations_inference": stats.inference_activation_bytes(report),
            "activations_training": stats.training_activation_bytes(report),
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
