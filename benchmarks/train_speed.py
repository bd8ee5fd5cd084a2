"""Training throughput, measured side by side in one run, for a zoo network:

- floors: the bare model step (forward, backward, optimizer) on one synthetic batch
  already on the device, for each setting: eager, channels_last, torch.compile,
  compile + channels_last. What no loader can beat;
- fast: rfkit's device-resident loader with the recipe's augmentation, with the
  trainer's own settings (its default memory format);
- torchvision: the seeds' DataLoader + PIL transforms;
- the per-epoch work that is not a training step: evaluation on the test set (also at
  test batches of 128, 256 and 1,000 side by side), the checkpoint and the metrics files,
  as a share of an epoch.

    python benchmarks/train_speed.py [--model zoo.MnistNet_3] [--device auto] [--batches 60]
                                     [--data-dir ../shared/data] [--workers N] [--no-compile]

Targets (issue 11): on a CPU, a fast-loader epoch within 1.10x of the best floor, and the
non-step, non-evaluation work under 3% of an epoch.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F

from rfkit.loading import load
from rfkit.train import config as train_config
from rfkit.train import trainer as training


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(trainer, batches, n: int, step_model=None, memory_format=None) -> float:
    """Samples per second over `n` training steps drawn from `batches`."""
    model, opt, device = trainer.model, trainer.optimizer, trainer.device
    step_model = trainer.step_model if step_model is None else step_model
    model.train()
    warm = 3
    seen = 0
    for i, (x, y) in enumerate(islice(batches, n + warm)):
        if i == warm:
            _sync(device)
            start, seen = time.perf_counter(), 0
        x = x.contiguous(memory_format=memory_format) if memory_format is not None else trainer._batch(x)
        loss = F.cross_entropy(step_model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    loss.item()
    _sync(device)
    return seen / (time.perf_counter() - start)


def timed(fn, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo.MnistNet_3")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 2) - 1))
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile floors")
    args = parser.parse_args()
    spec = load(args.model, need_size=False)
    run_dir = tempfile.mkdtemp(prefix="rfkit-speed-")

    def trainer_for(loader: str, **kw):
        config = train_config.make_config(args.model, spec.name, spec.card, data_dir=args.data_dir,
                                          run_dir=run_dir, device=args.device, loader=loader,
                                          workers=args.workers, **kw)
        torch.manual_seed(config.seed)
        return training.Trainer(config, load(args.model, need_size=False).model)

    fast = trainer_for("fast")
    x, y = next(fast.loader.train_batches(0))
    synthetic = iter(lambda: (x, y), None)
    floors = {}
    for label, fmt, compiled in (("eager", torch.contiguous_format, False),
                                 ("channels_last", torch.channels_last, False),
                                 ("compile", torch.contiguous_format, True),
                                 ("compile + channels_last", torch.channels_last, True)):
        if compiled and args.no_compile:
            continue
        trainer = trainer_for("fast", channels_last=fmt == torch.channels_last)
        step = torch.compile(trainer.model) if compiled else trainer.model
        floors[label] = measure(trainer, synthetic, args.batches, step, fmt)
    rates = {"fast loader": measure(fast, fast.loader.train_batches(1), args.batches)}
    slow = trainer_for("torchvision")
    rates["torchvision loader"] = measure(slow, slow.loader.train_batches(1), args.batches)

    device = fast.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    n_train, batch = fast.n_train, fast.config.batch_size
    best_label = max(floors, key=floors.get)
    best = floors[best_label]
    print(f"{spec.name}, batch {batch}, {args.batches} steps each, on {name}; the trainer's default memory "
          f"format here: {'channels_last' if fast.memory_format == torch.channels_last else 'contiguous'}")
    for label, rate in {**{f"floor, {k}": v for k, v in floors.items()}, **rates}.items():
        print(f"  {label:32s} {rate:10,.0f} samples/s   epoch {n_train / rate:7.2f} s   "
              f"{best / rate:5.2f}x the best floor's time")
    print(f"  fast / torchvision: {rates['fast loader'] / rates['torchvision loader']:.1f}x; best floor: {best_label}")

    epoch = n_train / rates["fast loader"]
    fast.metrics = [{"epoch": 1, "lr": 0.1, "train_loss": 0.1, "train_acc": 99.0, "seconds": epoch,
                     "samples_per_s": rates["fast loader"], "test_loss": 0.1, "test_acc": 99.0}]
    evaluation = timed(fast.evaluate)
    by_batch = {size: timed(lambda: fast.evaluate(size)) for size in (128, 256, 1000)}
    bookkeeping = timed(lambda: (fast.checkpoint(1, True), training._write_metrics(fast.metrics, fast.run_dir)))
    figures = timed(lambda: fast.figures(*fast.evaluate()[1:]), repeat=1)
    print(f"  per epoch: evaluation {evaluation:.2f} s ({evaluation / epoch:.1%} of an epoch), checkpoint + "
          f"metrics {bookkeeping * 1000:.0f} ms ({bookkeeping / epoch:.2%}); figures, once per run: "
          f"{figures:.2f} s")
    print(f"  evaluation by test batch (the trainer's: {training.eval_batch_size(device)}): " +
          ", ".join(f"{size}: {seconds:.2f} s" for size, seconds in by_batch.items()))


if __name__ == "__main__":
    main()
