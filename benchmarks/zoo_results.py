"""The measured-results tables, from the files benchmarks/reproduce.py writes: the README's short
one, and docs/zoo.md's full one.

    python benchmarks/zoo_results.py [benchmarks/results/*.json]     the README's table
    python benchmarks/zoo_results.py --full                          docs/zoo.md's table
    python benchmarks/zoo_results.py --epochs NAME                   NAME's runs beside the seed's log, per epoch
    python benchmarks/zoo_results.py --epochs NAME --compare FILE    ... and the runs of another results file

The README's: one markdown row per network, the documented best, the measured best (mean +- std
over seeds) and the seeds. The full table: one markdown row per network: the documented best; the measured mean +- std (sample
standard deviation, over seeds) of the best and of the final test accuracy; how many
seeds met the documented target within its epochs; seeds, epochs run, device (with the
CPU thread count and whether the step was compiled: a seed repeats a CPU run only with
both the same) and date.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import zoo

RESULTS = Path(__file__).resolve().parent / "results"


def mean_std(values: list[float]) -> str:
    """Mean ± sample std of percentages (one value: itself, marked as one seed)."""
    if len(values) == 1:
        return f"{values[0]:.2f}% (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}%"


def _setting(runs: list[dict]) -> str:
    """The CPU thread counts and compile settings of the runs: a seed repeats a CPU run only with both."""
    counts = sorted({r.get("threads") for r in runs}, key=lambda t: (t is None, t))
    named = [f"{t} thread{'s' if t != 1 else ''}" if t is not None else "threads not recorded" for t in counts]
    modes = {r.get("compile") for r in runs}
    named += [{True: "compiled", False: "eager", None: "compile not recorded"}[m] for m in (True, False, None)
              if m in modes]
    return ", ".join(named)


def row(doc: dict) -> str:
    card = zoo.card(doc["network"])
    runs = doc["runs"]
    complete = [r for r in runs if r["epochs_run"] >= doc["epochs"]]
    shown = complete or runs
    target = card.targets
    if target.min_test_acc is not None:
        met = sum(r["target_met_epoch"] is not None for r in shown)
        goal = f"{met} of {len(shown)} (>= {target.min_test_acc}% within {target.within_epochs})"
    else:
        goal = "-"
    epochs = sorted({r["epochs_run"] for r in shown})
    return (f"| `zoo.{card.name}` | {card.results.best_test_acc:.2f}% | {mean_std([r['best'] for r in shown])} | "
            f"{mean_std([r['final'] for r in shown])} | {goal} | {', '.join(str(r['seed']) for r in shown)} | "
            f"{'/'.join(map(str, epochs))} of {card.recipe.epochs} | {doc['device']} ({_setting(shown)}), "
            f"torch {doc['torch']} | "
            f"{doc['date']} |")


def short_row(doc: dict) -> str:
    card = zoo.card(doc["network"])
    shown = [r for r in doc["runs"] if r["epochs_run"] >= doc["epochs"]] or doc["runs"]
    return (f"| `zoo.{card.name}` | {card.results.best_test_acc:.2f}% | {mean_std([r['best'] for r in shown])} | "
            f"{', '.join(str(r['seed']) for r in shown)} |")


def table(paths: list[Path], full: bool = False) -> str:
    if full:
        lines = ["| network | documented best | measured best (mean ± std) | final (mean ± std) | seeds meeting "
                 "the documented target | seeds | epochs | device | date |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    else:
        lines = ["| network | documented best | measured best (mean ± std) | seeds |", "| --- | --- | --- | --- |"]
    docs = [json.loads(p.read_text()) for p in paths]
    lines += [(row if full else short_row)(d) for d in docs if d.get("runs") and d["network"] in zoo.names()]
    return "\n".join(lines)


def per_epoch(name: str, compare: list[Path] = ()) -> str:
    """The seed's logged test accuracy per epoch beside each measured run's (train accuracy in
    brackets); runs from `compare` files (an earlier recipe, say) follow, labelled by file name."""
    card = zoo.card(name)
    runs = json.loads((RESULTS / f"{name}.json").read_text())["runs"]
    labels = [f"seed {r['seed']}" for r in runs]
    for path in compare:
        extra = json.loads(path.read_text())["runs"]
        runs, labels = runs + extra, labels + [f"seed {r['seed']}, {path.stem}" for r in extra]
    head = "| epoch | seed's log | " + " | ".join(labels) + " |"
    lines = [head, "|" + " --- |" * (2 + len(runs))]
    for epoch in range(1, max(r["epochs_run"] for r in runs) + 1):
        logged = card.results.test_acc.get(epoch)
        cells = [f"{r['test_acc'][epoch - 1]:.2f} ({r['train_acc'][epoch - 1]:.2f})"
                 if epoch <= r["epochs_run"] else "" for r in runs]
        lines.append(f"| {epoch} | {f'{logged:.2f}' if logged is not None else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--full", action="store_true", help="docs/zoo.md's table: final accuracy, targets met, "
                                                            "epochs, device, date")
    parser.add_argument("--epochs", metavar="NAME", help="per-epoch comparison for one network")
    parser.add_argument("--compare", type=Path, nargs="*", default=[], metavar="FILE",
                        help="with --epochs: more runs of NAME, from other results files")
    args = parser.parse_args()
    if args.epochs:
        print(per_epoch(args.epochs, args.compare))
    else:
        print(table(args.files or sorted(p for p in RESULTS.glob("*.json") if p.stem in zoo.names()), args.full))


if __name__ == "__main__":
    main()
