"""Run a zoo network's documented recipe, or an exported design's own recipe, for several seeds
and keep the results.

    python benchmarks/reproduce.py zoo.MnistNet_3 --seeds 1 2 3 [--device cpu] [--data-dir ../shared/data]
                                   [--runs-dir runs/reproduce] [--epochs N] [--extra ARG ...]
    python benchmarks/reproduce.py benchmarks/designs/NAME.py:Net --seeds 1 2 3 [--target 99.4]

A design file trains as `rfkit train FILE:Net --seed S` (the recipe it carries; --device,
--data-dir and --run-dir only say where), its target is --target within its recipe's epochs,
and its results file also holds "params" (traced) and "file".

Each seed is one `rfkit train` run in RUNS_DIR/NAME-seedS (an unfinished one is
resumed, a finished one is only read back). After every run,
benchmarks/results/NAME.json is rewritten from all the seeds' run directories:

    {"network", "date", "device", "torch", "rfkit_commit", "epochs", "loader",
     "runs": [{"seed", "test_acc": [per epoch, percent], "train_acc": [...], "lr": [...],
               "best", "best_epoch", "final", "target_met_epoch" (null if never),
               "seconds_per_epoch", "date", "device", "loader", "threads" (CPU threads; null
               where the run did not record them), "compile" (whether torch.compile ran the
               training step)}]}

`benchmarks/zoo_results.py` turns these files into the README's table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import zoo

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    """A design's bar, shaped as a zoo card's targets."""

    min_test_acc: float
    within_epochs: int


def _commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent)
    return out.stdout.strip() or None


def run_summary(run_dir: Path, target) -> dict | None:
    """One run's per-epoch figures, read back from its metrics.json; `target` has min_test_acc and
    within_epochs (a zoo card's targets)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    config = json.loads((run_dir / "config.json").read_text())
    test = [round(m["test_acc"], 2) for m in metrics]
    best = max(range(len(test)), key=lambda i: test[i])
    met = None
    if target.min_test_acc is not None:
        met = next((m["epoch"] for m in metrics
                    if m["epoch"] <= (target.within_epochs or len(metrics)) and m["test_acc"] >= target.min_test_acc),
                   None)
    return {"seed": config["seed"], "epochs_run": len(metrics), "test_acc": test,
            "train_acc": [round(m["train_acc"], 2) for m in metrics], "lr": [m["lr"] for m in metrics],
            "best": test[best], "best_epoch": metrics[best]["epoch"], "final": test[-1], "target_met_epoch": met,
            "seconds_per_epoch": round(sum(m["seconds"] for m in metrics) / len(metrics), 1),
            "date": time.strftime("%Y-%m-%d", time.localtime(path.stat().st_mtime)),
            "device": config["device"], "loader": config["loader"], "threads": config.get("threads"),
            "compile": config.get("compile")}


def write_results(name: str, target, run_dirs: list[Path], epochs: int, device: str, extra: dict) -> Path:
    runs = [r for d in run_dirs if (r := run_summary(d, target)) is not None]
    out = RESULTS / f"{name}.json"
    RESULTS.mkdir(exist_ok=True)
    doc = {"network": name, "date": max((r["date"] for r in runs), default=None), "device": device,
           "torch": torch.__version__, "rfkit_commit": _commit(), "epochs": epochs,
           "loader": runs[0]["loader"] if runs else None, **extra, "runs": sorted(runs, key=lambda r: r["seed"])}
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--runs-dir", default="runs/reproduce")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--target", type=float, default=99.4,
                        help="a design file's target test accuracy, within its recipe's epochs")
    args, extra = parser.parse_known_args()
    if ":" in args.model:  # an exported design: its own recipe, its own name
        import rfkit
        from rfkit.loading import load

        loaded = load(args.model)
        name, recipe = Path(args.model.split(":")[0]).stem, loaded.recipe
        target = Target(args.target, recipe.epochs)
        info = {"params": rfkit.trace(loaded.model, loaded.input_size).params, "file": args.model}
        spec, epochs = args.model, args.epochs or recipe.epochs
    else:
        card = zoo.card(args.model.removeprefix("zoo."))
        name, target, info, spec = card.name, card.targets, {}, f"zoo.{card.name}"
        epochs = args.epochs or card.recipe.epochs
    run_dirs = []
    for seed in args.seeds:
        run_dir = Path(args.runs_dir) / f"{name}-seed{seed}"
        run_dirs.append(run_dir)
        done = run_summary(run_dir, target)
        if done is not None and done["epochs_run"] >= epochs:
            continue
        if (run_dir / "last.pt").is_file():
            cmd = ["rfkit", "train", "--resume", str(run_dir), "--epochs", str(epochs)]
        else:
            cmd = ["rfkit", "train", spec, "--device", args.device, "--seed", str(seed),
                   "--data-dir", args.data_dir, "--run-dir", str(run_dir), "--epochs", str(epochs), *extra]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        print(f"wrote {write_results(name, target, run_dirs, epochs, args.device, info)}", flush=True)
    print(f"wrote {write_results(name, target, run_dirs, epochs, args.device, info)}")


if __name__ == "__main__":
    sys.exit(main())
