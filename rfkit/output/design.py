"""A design study as people and machines read it: one line per finished trial, the
study table (rich), and trials.csv. Data in (`rfkit.design/1` records), text out."""
from __future__ import annotations

import csv
import io

from rich import box
from rich.table import Table

from rfkit.output.render import per_axis, plain

CSV_COLUMNS = ("number", "state", "params", "macs", "rf", "best_acc", "val_acc", "test_acc", "seconds", "reason",
               "file")


def _acc(values: list) -> str:
    return f"{values[-1]:.2f}%" if values else "-"


def trial_line(r: dict) -> str:
    """`trial 12  complete  5,432 params  RF 28  val 99.31% (best 99.35%)  test 99.40%  61 s`."""
    head = f"trial {r['number']:>3}  {r['state']:<10}"
    if r["params"] is not None:
        head += f"  {r['params']:>7,} params  RF {per_axis(tuple(r['rf'])):<5}"
    if r["state"] in ("complete", "pruned") and r["val_acc"]:
        head += (f"  val {_acc(r['val_acc'])} (best {r['best_acc']:.2f}%, {len(r['val_acc'])} epoch(s))  test "
                 f"{_acc(r['test_acc'])}")
    if r["reason"] and r["state"] != "complete":
        head += f"  {r['reason']}"
    if r["seconds"] is not None:
        head += f"  {r['seconds']:.1f} s"
    return head


def design_table(data: dict, counts: dict) -> Table:
    """Every complete trial, best first, the front marked; the caption counts every state."""
    front = set(data["front"])
    t = Table(title=plain(f"rfkit design {data['study']}: {data['space']} on {data['dataset']}, {data['epochs']} "
                          f"epochs, constraints {data['constraints'] or 'none'}"),
              header_style="bold cyan", box=box.SIMPLE_HEAVY,
              caption=", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no trials")
    for col, just in (("trial", "right"), ("", "center"), ("params", "right"), ("MACs", "right"), ("RF", "right"),
                      ("best val", "right"), ("final test", "right"), ("seconds", "right"), ("file", "left")):
        t.add_column(col, justify=just)
    done = sorted((r for r in data["trials"] if r["state"] == "complete"), key=lambda r: -r["best_acc"])
    for r in done:
        t.add_row(str(r["number"]), "[orange1]front[/]" if r["number"] in front else "",
                  f"{r['params']:,}", f"{r['macs']:,}", per_axis(tuple(r["rf"])), f"{r['best_acc']:.2f}%",
                  _acc(r["test_acc"]), f"{r['seconds']:.0f}", plain(r["file"] or ""))
    return t


def trials_csv(trials: list[dict]) -> str:
    """One row per trial; lists (per-epoch accuracies, RF per axis) joined with ';'."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in trials:
        writer.writerow([";".join(map(str, r[c])) if isinstance(r[c], list) else ("" if r[c] is None else r[c])
                         for c in CSV_COLUMNS])
    return buf.getvalue()
