"""Run a zoo network's documented recipe for several seeds and keep the results.

    python benchmarks/reproduce.py zoo.MnistNet_3 --seeds 1 2 3 [--device cpu] [--data-dir ../shared/data]
                                   [--runs-dir runs/reproduce] [--epochs N] [--extra ARG ...]

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
from pathlib import Path

import torch

import zoo

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent)
    return out.stdout.strip() or None


def run_summary(run_dir: Path, card) -> dict | None:
    """One run's per-epoch figures, read back from its metrics.json."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    config = json.loads((run_dir / "config.json").read_text())
    test = [round(m["test_acc"], 2) for m in metrics]
    best = max(range(len(test)), key=lambda i: test[i])
    target = card.targets
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


def write_results(card, run_dirs: list[Path], epochs: int, device: str) -> Path:
    runs = [r for d in run_dirs if (r := run_summary(d, card)) is not None]
    out = RESULTS / f"{card.name}.json"
    RESULTS.mkdir(exist_ok=True)
    doc = {"network": card.name, "date": max((r["date"] for r in runs), default=None), "device": device,
           "torch": torch.__version__, "rfkit_commit": _commit(), "epochs": epochs,
           "loader": runs[0]["loader"] if runs else None, "runs": sorted(runs, key=lambda r: r["seed"])}
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
    args, extra = parser.parse_known_args()
    card = zoo.card(args.model.removeprefix("zoo."))
    epochs = args.epochs or card.recipe.epochs
    run_dirs = []
    for seed in args.seeds:
        run_dir = Path(args.runs_dir) / f"{card.name}-seed{seed}"
        run_dirs.append(run_dir)
        done = run_summary(run_dir, card)
        if done is not None and done["epochs_run"] >= epochs:
            continue
        if (run_dir / "last.pt").is_file():
            cmd = ["rfkit", "train", "--resume", str(run_dir), "--epochs", str(epochs)]
        else:
            cmd = ["rfkit", "train", f"zoo.{card.name}", "--device", args.device, "--seed", str(seed),
                   "--data-dir", args.data_dir, "--run-dir", str(run_dir), "--epochs", str(epochs), *extra]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        print(f"wrote {write_results(card, run_dirs, epochs, args.device)}", flush=True)
    print(f"wrote {write_results(card, run_dirs, epochs, args.device)}")


if __name__ == "__main__":
    sys.exit(main())
