"""rfkit vs torchinfo, side by side in one run: time to analyse resnet50, vit_b_16 and
convnext_tiny at 224 (shapes, params, MACs; rfkit adds the RF graph), and the ratio.
Then torchvision's vit_h_14 built on the meta device: rfkit's time and peak memory.

    python benchmarks/analysis.py [--repeat 15]

Targets: rfkit at least 4x faster than torchinfo.summary on resnet50 and convnext_tiny
(issue 10), and 3x on each model (issue 4); tracing a model whose weights sit on the CPU
costs no more than tracing the same model built on meta (issue 10); vit_h_14 analysed in
under 2 s and under 500 MB peak (resident memory growth).
"""
from __future__ import annotations

import argparse
import gc
import resource
import time

import torch
import torchinfo
import torchvision

import rfkit


def best_of(fns: list, repeat: int) -> list[float]:
    """Each function's best of `repeat` timed calls, the calls interleaved (a, b, c, a, b, c, ...)
    so that a slow spell of the machine falls on all sides alike; one untimed warm-up each first
    (one-time caches on both sides)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times):
            gc.collect()
            t = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - t)
    return [min(spent) for spent in times]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    print(f"torch {torch.__version__}, torchinfo {torchinfo.__version__}, threads {torch.get_num_threads()}")
    print(f"{'model':16} {'torchinfo s':>12} {'rfkit s':>9} {'speed-up':>9} {'meta-built s':>13}  "
          f"params (rfkit = torchinfo)")
    for name in ("resnet50", "vit_b_16", "convnext_tiny"):
        model = getattr(torchvision.models, name)().eval()
        with torch.device("meta"):
            on_meta = getattr(torchvision.models, name)().eval()
        info, ours, meta = best_of([lambda: torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0),
                                    lambda: rfkit.trace(model, (3, 224, 224)),
                                    lambda: rfkit.trace(on_meta, (3, 224, 224))], args.repeat)
        same = rfkit.trace(model, (3, 224, 224)).params == torchinfo.summary(
            model, input_size=(1, 3, 224, 224), verbose=0).total_params
        print(f"{name:16} {info:12.3f} {ours:9.3f} {info / ours:8.1f}x {meta:13.3f}  {same}")
    del model
    gc.collect()
    before = peak_rss_mb()
    with torch.device("meta"):
        huge = torchvision.models.vit_h_14()
    t = time.perf_counter()
    report = rfkit.trace(huge, (3, 224, 224))
    elapsed = time.perf_counter() - t
    grown = peak_rss_mb() - before
    print(f"vit_h_14 on meta (224x224): {elapsed:.2f} s (target < 2 s), peak RSS growth {grown:.0f} MB "
          f"(target < 500 MB), {report.params:,} params, {report.macs / 1e9:,.1f} GMACs, RF {report.rf}")


if __name__ == "__main__":
    main()
