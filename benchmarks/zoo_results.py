"""The README's measured-results table, from rfkit run directories.

    python benchmarks/zoo_results.py RUN_DIR [RUN_DIR ...]

One markdown row per run: network, dataset, epochs run (of the recipe's), best and
final test accuracy, the documented best, the documented target, device and date.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import zoo


def row(run: Path) -> str:
    config = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    card = zoo.card(config["name"])
    best = max(metrics, key=lambda m: m["test_acc"])
    final = metrics[-1]
    doc = card.results
    target = card.targets
    if target.min_test_acc is not None:
        window = [m for m in metrics if m["epoch"] <= target.within_epochs]
        met = "met" if any(m["test_acc"] >= target.min_test_acc for m in window) else "not met"
        goal = f">= {target.min_test_acc}% within {target.within_epochs}: {met}"
    else:
        goal = "-"
    date = time.strftime("%Y-%m-%d", time.localtime((run / "metrics.json").stat().st_mtime))
    return (f"| `zoo.{card.name}` | {config['dataset']} | {len(metrics)} of {card.recipe.epochs} | "
            f"{best['test_acc']:.2f}% (epoch {best['epoch']}) | {final['test_acc']:.2f}% | "
            f"{doc.best_test_acc:.2f}% | {goal} | {config['device']}, {config['loader']} loader | {date} |")


def main():
    print("| network | data | epochs (of recipe) | best test acc | final | documented best | target | "
          "device | date |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arg in sys.argv[1:]:
        print(row(Path(arg)))


if __name__ == "__main__":
    main()
