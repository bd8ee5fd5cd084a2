"""The effective receptive field as a person reads it (a rich panel) and as a machine
does (JSON, schema rfkit.erf/1): formatted from the numbers of `ErfResult.to_dict()`
or a run's erf.json, never from a model."""
from __future__ import annotations

import json
import math

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rfkit.output.render import per_axis, plain


def ratio_text(data: dict, keys=("0.2", "0.3", "0.5", "0.99")) -> str:
    """Area ratios in percent, 't: x%' joined: the compact form panels and tables show."""
    ratios = data["area_ratio"]
    return "  ".join(f"{k}: {100 * ratios[k]:.1f}%" for k in keys if k in ratios)


def share_text(share: float | None) -> str:
    return "n/a (RF unknown)" if share is None else f"{100 * share:.4f}%"


def _box_text(rf_box) -> str:
    if any(b is None for b in rf_box):
        return "unknown"
    return " x ".join(f"[{lo}, {hi}]" for lo, hi in rf_box)


def erf_panel(data: dict) -> Panel:
    """Layer, inputs, weights, theoretical RF and its box, mass inside it, and the area ratios."""
    spatial = data["input_shape"][2:]
    area = math.prod(spatial)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("layer", plain(data["layer"]))
    head.add_row("inputs", plain(f"{data.get('inputs', 'given batch')} ({data['samples']} samples, "
                                 f"{'x'.join(map(str, data['input_shape'][1:]))})"))
    if "weights" in data:
        head.add_row("weights", plain(data["weights"]))
    head.add_row("theoretical RF", f"{per_axis(tuple(data['rf']))}  (centre unit's box {_box_text(data['rf_box'])})")
    head.add_row("ERF mass inside it", share_text(data["in_rf_share"]))
    ratios = Table(box=box.SIMPLE, header_style="bold cyan")
    for col in ("t", "area share", "pixels"):
        ratios.add_column(col, justify="right")
    for key, value in data["area_ratio"].items():
        ratios.add_row(key, f"{100 * value:.2f}%", f"{round(value * area):,} of {area:,}")
    note = Text("area ratio: the smallest centred square holding share t of the map, as a share of the input",
                style="dim")
    model = data.get("model")
    return Panel(Group(head, Text(), note, ratios), title=f"[bold]effective receptive field{' of ' + plain(model) if model else ''}[/]",
                 box=box.ROUNDED, expand=False)


def erf_json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"
