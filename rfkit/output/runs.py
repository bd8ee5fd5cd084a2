"""`rfkit runs`: one table over run directories, from RunRow numbers already
collected (rfkit.train.runs): rich, markdown, JSON (schema rfkit.runs/1) and CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from rfkit.output.render import json_number, per_axis, plain

if TYPE_CHECKING:
    from rfkit.train.runs import RunRow

SCHEMA = "rfkit.runs/1"
COLUMNS = ("run", "network", "params", "MACs", "RF out", "RF pre-global", "ERF 0.5", "ERF 0.99", "best acc",
           "final acc", "target met", "s/epoch", "device")  # target met: first epoch at the card's accuracy


def _pct(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def _cells(r: RunRow) -> list[str]:
    """The row as text; '-' where the run directory does not say."""
    if r.target_acc is None:
        target = "-"
    else:
        target = f"epoch {r.target_epoch}" if r.target_epoch is not None else "no"
    return [
        Path(r.run_dir).name, r.network,
        "-" if r.params is None else f"{r.params:,}",
        "-" if r.macs is None else f"{r.macs:,}",
        "-" if r.rf is None else per_axis(r.rf),
        "-" if r.rf_before_global is None else per_axis(r.rf_before_global),
        _pct(r.erf_area_50, 1), _pct(r.erf_area_99, 1),
        "-" if r.best_test_acc is None else f"{r.best_test_acc:.2f}% (ep {r.best_epoch})",
        "-" if r.final_test_acc is None else f"{r.final_test_acc:.2f}% ({r.epochs_done}/{r.epochs})",
        target,
        "-" if r.seconds_per_epoch is None else f"{r.seconds_per_epoch:.1f}",
        r.device + ("" if r.threads is None else f", {r.threads} thr") + (", compiled" if r.compile else ""),
    ]


def runs_table(rows: list[RunRow]) -> Table:
    t = Table(title="Runs: theoretical RF, ERF area ratios (share of the input holding 50% / 99% of the "
                    "gradient mass), accuracy", box=box.SIMPLE_HEAVY, header_style="bold cyan", padding=(0, 1),
              pad_edge=False, caption_justify="left")
    for col in COLUMNS:
        t.add_column(col.replace(" ", "\n", 1), justify="left" if col in ("run", "network", "device", "target met")
                     else "right", overflow="fold", no_wrap=col == "run")
    for r in rows:
        t.add_row(*map(plain, _cells(r)))
    notes = [plain(f"{Path(r.run_dir).name}: {r.note}") for r in rows if r.note]
    if notes:
        t.caption = "\n".join(notes)
    return t


def runs_markdown(rows: list[RunRow]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _plain(r: RunRow) -> dict:
    data = asdict(r)
    for key in ("rf", "rf_before_global"):
        data[key] = None if data[key] is None else [json_number(v) for v in data[key]]
    return data


def runs_json(rows: list[RunRow]) -> str:
    return json.dumps({"schema": SCHEMA, "runs": [_plain(r) for r in rows]}, indent=2) + "\n"


def runs_csv(rows: list[RunRow]) -> str:
    """One line per run, the JSON keys as columns; per-axis RFs joined by 'x' ('28x28')."""
    out = io.StringIO()
    records = [_plain(r) for r in rows]
    keys = list(records[0]) if records else []
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: ("" if v is None else "x".join(map(str, v)) if isinstance(v, list) else v)
                         for k, v in rec.items()})
    return out.getvalue()
