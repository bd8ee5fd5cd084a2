"""The issue-22 search, and what it cost: `rfkit design mnist` under MnistNet_3's parameter
count, then a report read from the study's design.json.

    python benchmarks/design_mnist.py [--max-params 6000] [--min-rf 28] [--epochs 15] [--trials 1500]
                                      [--out benchmarks/results/design_mnist] [--data-dir ../shared/data]
                                      [--timeout SECONDS] [--workers N] [--start POINT ...] [--report-only]

Re-running resumes the study from OUT/study.db (a killed run loses only its running trial).
The report: trials sampled, rejected before training by the exact trace (and what a rejection
cost), pruned, run to the end, failed; CPU hours (wall seconds x threads); trials per CPU hour;
and the share of a trained trial's wall time spent in its epochs (training + evaluation, at the
trainer's floor), the rest being sampling, building, tracing and storage. Written to
OUT/cost.json and printed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cost(data: dict, threads: int) -> dict:
    """What the study cost. A trained trial's wall time splits into its epochs (training, evaluation and
    checkpoint, from each epoch's start: `epoch_share_of_trained_wall`) and the rest: sampling, building,
    tracing, the run's start-up and the storage's writes. A rejection's cost splits into the sampler's
    (`sample_seconds`: Optuna choosing the values; the module built) and the verdict's (`check_seconds`:
    the trace and the check), recorded apart since the search's sixth session (earlier trials have none)."""
    trials = data["trials"]
    by_state = {s: [t for t in trials if t["state"] == s] for s in ("complete", "pruned", "infeasible", "failed")}
    trained = by_state["complete"] + by_state["pruned"]
    wall = sum(t["seconds"] or 0 for t in trials)
    cpu_seconds = sum((t["seconds"] or 0) * (t.get("threads") or threads) for t in trials)
    timed = [t for t in trained if t.get("train_seconds")]  # epochs timed from their own start
    rejected = [t for t in by_state["infeasible"] if t.get("check_seconds") is not None and t.get("sample_seconds")
                is not None]
    cpu_hours = cpu_seconds / 3600
    return {
        "sampled": len(trials), **{s: len(v) for s, v in by_state.items()},
        "epochs_trained": sum(len(t["val_acc"]) for t in trained),
        "trial_hours": wall / 3600, "threads": threads, "cpu_hours": cpu_hours,
        "trials_per_cpu_hour": len(trials) / cpu_hours if cpu_hours else None,
        "trained_per_cpu_hour": len(trained) / cpu_hours if cpu_hours else None,
        "epoch_share_of_trained_wall": (sum(sum(t["epoch_seconds"]) for t in timed) / sum(t["seconds"] for t in timed)
                                        if timed else None),
        "train_share_of_epochs": (sum(sum(t["train_seconds"]) for t in timed) / sum(sum(t["epoch_seconds"])
                                                                                    for t in timed) if timed else None),
        "trained_timed": len(timed),
        "rejections_timed": len(rejected),
        "rejection_check_seconds_median": _median([t["check_seconds"] for t in rejected]),
        "rejection_check_seconds_max": max((t["check_seconds"] for t in rejected), default=None),
        "rejection_sample_seconds_median": _median([t["sample_seconds"] for t in rejected]),
        "rejection_seconds_median": _median([t["seconds"] for t in rejected]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-params", type=int, default=6000)
    parser.add_argument("--min-rf", type=int, default=28)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--trials", type=int, default=1500, help="the study's total; rejections count (most samples of the sampler's good region break the budget, at 0.1 s each)")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--study", default="mnist-6000")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "design_mnist")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: cores / workers)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--start", nargs="*", default=["MnistNet_3", str(ROOT / "benchmarks" / "design_mnist_start.json")],
                        help="points tried first (default: the hand design, rejected by the budget, and three "
                             "of its narrower neighbours with its recipe)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    import torch

    import rfkit

    threads = args.threads or max(1, torch.get_num_threads() // args.workers)
    if not args.report_only:
        rfkit.design("mnist", max_params=args.max_params, min_rf=args.min_rf, epochs=args.epochs, trials=args.trials,
                     timeout=args.timeout, study=args.study, out=args.out, data_dir=args.data_dir, threads=threads,
                     workers=args.workers, start=args.start)
    data = json.loads((args.out / "design.json").read_text())
    report = {"command": " ".join(sys.argv), "torch": torch.__version__, **cost(data, threads)}
    (args.out / "cost.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
