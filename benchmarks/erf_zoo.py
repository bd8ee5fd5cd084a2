"""Effective receptive fields of the zoo's MNIST networks for docs/rf.md: at initialisation
(built under seed 1, as `rfkit train` builds them) and, where a run directory holds a
trained best.pt, trained; on the first 256 real MNIST test images.

    python benchmarks/erf_zoo.py --data-dir ../shared/data --runs runs [--out docs/erf]

Writes OUT/<Net>-init.png, OUT/<Net>-trained.png, OUT/erf_zoo.json (every number, maps
left out) and prints the markdown table docs/rf.md shows. A run directory is
RUNS/<Net>-seed1/ (rfkit train --seed 1 --run-dir RUNS/<Net>-seed1). With `--names`, only
those networks are recomputed; the other networks' rows in an existing erf_zoo.json stay.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import rfkit
import zoo
from rfkit.output.plots import plot_erf
from rfkit.train import checkpoints, data

SAMPLES = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("docs/erf"))
    parser.add_argument("--names", nargs="*", default=[n for n in zoo.names() if zoo.card(n).dataset == "mnist"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.names:
        card = zoo.card(name)
        x = data.test_images("mnist", args.data_dir, SAMPLES, card.recipe.test_transforms)
        torch.manual_seed(1)
        model = zoo.create(name)
        versions = [("init", "initialisation (seed 1)", None)]
        run = args.runs / f"{name}-seed1"
        if (run / "best.pt").is_file():
            metrics = json.loads((run / "metrics.json").read_text())
            best = max(metrics, key=lambda m: m["test_acc"])
            versions.append(("trained", f"best.pt of {run.name} (epoch {best['epoch']} of {len(metrics)}, "
                                        f"{best['test_acc']:.2f}%)", run))
        for tag, weights, run_dir in versions:
            if run_dir is not None:
                model = zoo.create(name)
                checkpoints.load_weights(model, run_dir)
            result = rfkit.erf(model, x)
            numbers = {**result.to_dict(), "model": name, "inputs": f"first {SAMPLES} mnist test images",
                       "weights": weights}
            plot_erf(numbers, args.out / f"{name}-{tag}.png", image=x, title=f"{name}, {weights}: ERF of {result.layer}")
            numbers.pop("map")
            rows.append(numbers)
            print(f"{name} {tag}: layer {result.layer}, RF {result.rf}, area ratio {result.area_ratio}, "
                  f"in RF {result.in_rf_share}", flush=True)
    table = args.out / "erf_zoo.json"
    kept = [r for r in json.loads(table.read_text()) if r["model"] not in args.names] if table.is_file() else []
    order = {name: i for i, name in enumerate(zoo.names())}
    rows = sorted(kept + rows, key=lambda r: order.get(r["model"], len(order)))  # stable: init before trained
    table.write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| network | weights | layer | theoretical RF | ERF area 0.2 / 0.5 / 0.99 | mass inside the RF |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratios = " / ".join(f"{100 * r['area_ratio'][k]:.1f}%" for k in ("0.2", "0.5", "0.99"))
        rf = "x".join(str(v) for v in r["rf"])
        print(f"| {r['model']} | {r['weights']} | `{r['layer']}` | {rf} | {ratios} | {100 * r['in_rf_share']:.4f}% |")


if __name__ == "__main__":
    main()
