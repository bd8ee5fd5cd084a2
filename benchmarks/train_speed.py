"""Training throughput, measured side by side in one run, for a zoo network:

- floor: the bare model step (forward, backward, optimizer) on synthetic tensors
  already on the device: what no loader can beat;
- fast: rfkit's device-resident loader with the recipe's augmentation;
- torchvision: the seeds' DataLoader + PIL transforms.

    python benchmarks/train_speed.py [--model zoo.MnistNet_3] [--device auto] [--batches 60]
                                     [--data-dir ../shared/data] [--workers N]

Targets (issue 6): on a CPU, a fast-loader epoch within 1.15x of the floor; on a GPU,
the fast loader at least 10x the torchvision loader's samples/s.
"""
from __future__ import annotations

import argparse
import os
import time
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F

from rfkit.train import config as train_config
from rfkit.train import trainer as training
from rfkit.loading import load


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(trainer, batches, n: int) -> float:
    """Samples per second over `n` training steps drawn from `batches`."""
    model, opt, device = trainer.model, trainer.optimizer, trainer.device
    model.train()
    warm = 3
    seen = 0
    for i, (x, y) in enumerate(islice(batches, n + warm)):
        if i == warm:
            _sync(device)
            start, seen = time.perf_counter(), 0
        loss = F.cross_entropy(trainer.step_model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    loss.item()
    _sync(device)
    return seen / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo.MnistNet_3")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 2) - 1))
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    loaded = load(args.model, need_size=False)
    rates = {}
    for loader in ("fast", "torchvision"):
        config = train_config.make_config(args.model, loaded.name, loaded.card, data_dir=args.data_dir,
                                      run_dir="/nonexistent", device=args.device, loader=loader,
                                      workers=args.workers, compile=args.compile)
        trainer = training.Trainer(config, load(args.model, need_size=False).model)
        if loader == "fast":
            x, y = next(trainer.loader.train_batches(0))
            synthetic = iter(lambda: (x, y), None)
            rates["floor (bare model step)"] = measure(trainer, synthetic, args.batches)
        rates[f"{loader} loader"] = measure(trainer, trainer.loader.train_batches(1), args.batches)
        n_train, batch = trainer.n_train, config.batch_size
    device = trainer.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{loaded.name}, batch {batch}, {args.batches} steps each, on {name}")
    floor = rates["floor (bare model step)"]
    for label, rate in rates.items():
        print(f"  {label:26s} {rate:12,.0f} samples/s   epoch {n_train / rate:7.2f} s   "
              f"{floor / rate:5.2f}x the floor's time")
    print(f"  fast / torchvision: {rates['fast loader'] / rates['torchvision loader']:.1f}x")


if __name__ == "__main__":
    main()
