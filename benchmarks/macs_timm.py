"""rfkit against two oracles on timm: one architecture per family (the family being the name up
to its first underscore, digits dropped), drawn with a fixed seed, at its default input size.

- MACs against torch's FlopCounterMode / 2, each model built on meta;
- with --torchinfo: `rfkit summary --style torchinfo` against torchinfo.summary itself, byte for
  byte, for the sampled models under --torchinfo-below MACs (torchinfo runs a real forward).

    python benchmarks/macs_timm.py [--seed 7] [--torchinfo] [--out benchmarks/results/macs_timm.json]

Writes one row per architecture (macs, counter, relative difference, torchinfo_same, or the
error) and the counts that agree within 1%, exactly, and with torchinfo.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import rfkit

ROOT = Path(__file__).resolve().parents[1]


def sample(seed: int) -> list[str]:
    import timm

    families: dict[str, list[str]] = {}
    for name in sorted({m.split(".")[0] for m in timm.list_models()}):
        families.setdefault(name.split("_")[0].rstrip("0123456789"), []).append(name)
    rng = random.Random(seed)
    return [rng.choice(members) for _, members in sorted(families.items())]


def compare(name: str) -> dict:
    import timm

    with torch.device("meta"):
        model = timm.create_model(name).eval()
    size = tuple(model.pretrained_cfg["input_size"])
    with FlopCounterMode(display=False) as counter:  # no no_grad: some timm models assert a grad_fn
        model(torch.zeros(1, *size, device="meta"))
    counted = counter.get_total_flops() // 2
    macs = rfkit.trace(model, size, device="meta").macs
    return {"model": name, "input": size, "macs": macs, "counter": counted,
            "difference": (macs - counted) / counted if counted else None}


def same_as_torchinfo(name: str) -> bool:
    import timm
    import torchinfo

    sys.path.insert(0, str(ROOT / "tests"))
    from torchinfo_models import torchinfo_label_fixed  # torchinfo 1.8's label on Python 3.11+, as the tests fix it

    model = timm.create_model(name).eval()
    size = tuple(model.pretrained_cfg["input_size"])
    theirs = torchinfo_label_fixed(str(torchinfo.summary(model, input_size=(1, *size), verbose=0, device="cpu")))
    return str(rfkit.summary(model, input_size=size, style="torchinfo")) == theirs + "\n"


def main() -> int:
    import timm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "macs_timm.json")
    parser.add_argument("--torchinfo", action="store_true", help="also compare the torchinfo style with torchinfo")
    parser.add_argument("--torchinfo-below", type=float, default=3e9, help="MACs under which to run torchinfo")
    args = parser.parse_args()
    rows = []
    for name in sample(args.seed):
        try:
            rows.append(compare(name))
            if args.torchinfo and rows[-1]["macs"] < args.torchinfo_below:
                rows[-1]["torchinfo_same"] = same_as_torchinfo(name)
        except Exception as exc:  # a model that does not build on meta is reported, not compared
            rows.append({"model": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
        print(json.dumps(rows[-1]), flush=True)
    compared = [r for r in rows if "error" not in r]
    summary = {"date": datetime.date.today().isoformat(), "machine": platform.platform(), "torch": torch.__version__,
               "timm": timm.__version__, "seed": args.seed, "sampled": len(rows), "compared": len(compared),
               "within_1pct": sum(r["difference"] is not None and abs(r["difference"]) <= 0.01 for r in compared),
               "exact": sum(r["macs"] == r["counter"] for r in compared),
               "torchinfo_compared": sum("torchinfo_same" in r for r in compared),
               "torchinfo_same": sum(r.get("torchinfo_same") is True for r in compared), "rows": rows}
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print({k: v for k, v in summary.items() if k != "rows"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
