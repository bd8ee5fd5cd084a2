"""Training throughput, measured side by side in one run, for a zoo network:

- floors: the bare model step (forward, backward, optimizer) on one synthetic batch
  already on the device, for each setting: eager, channels_last, torch.compile,
  compile + channels_last. What no loader can beat;
- fast: rfkit's device-resident loader with the recipe's augmentation, in the trainer's
  default settings (memory format, and compile where the card records it faster on a CPU);
- torchvision: the seeds' DataLoader + PIL transforms, in the same settings;
- the per-epoch work that is not a training step: evaluation on the test set (also at
  test batches of 128, 256 and 1,000 side by side), the checkpoint and the metrics files,
  as a share of an epoch;
- with --whole-epochs N: N whole epochs of the trainer's loop, eager and compiled in turn;
- with --whole-process R: the measure a user sees, `rfkit train MODEL` as whole processes, a
  2-epoch run minus a 1-epoch run (the marginal epoch: training, evaluation, checkpoint and
  everything else the CLI does per epoch), R interleaved rounds, medians; beside the best
  floor's epoch (its steps plus the evaluation), as a ratio.

Every setting is measured in several interleaved rounds and its median reported, so that the
drift of a shared machine reaches all of them alike.

    python benchmarks/train_speed.py [--model zoo.MnistNet_3] [--device auto] [--batches 30]
                                     [--rounds 5] [--dataset NAME] [--data-dir ../shared/data] [--workers N]
                                     [--no-compile] [--whole-epochs N] [--whole-process R]

Targets: on a CPU, a fast-loader epoch within 1.10x of the best floor (in the loop and as
whole processes), and the non-step, non-evaluation work under 3% of an epoch.
"""
from __future__ import annotations

import argparse
import os
import statistics
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


def measure(trainer, batches, n: int) -> float:
    """Samples per second over `n` training steps drawn from `batches`, in the trainer's settings (memory
    format, compile), after one untimed step."""
    model, opt, device = trainer.model, trainer.optimizer, trainer.device
    model.train()
    seen = 0
    for i, (x, y) in enumerate(islice(batches, n + 1)):
        if i == 1:
            _sync(device)
            start, seen = time.perf_counter(), 0
        loss = F.cross_entropy(trainer.step_model(trainer._batch(x)), y)
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
    parser.add_argument("--batches", type=int, default=30, help="steps per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurements per setting (median)")
    parser.add_argument("--dataset", default=None, help="default: the card's (imagefolder: the CIFAR-10 JPEG set)")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 2) - 1))
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile floors")
    parser.add_argument("--whole-epochs", type=int, default=0,
                        help="then train N whole epochs eager and compiled in turn (default: none)")
    parser.add_argument("--whole-process", type=int, default=0, metavar="R",
                        help="then R rounds of `rfkit train` as processes, 2 epochs minus 1 (default: none)")
    args = parser.parse_args()
    spec = load(args.model, need_size=False)
    run_dir = tempfile.mkdtemp(prefix="rfkit-speed-")

    def trainer_for(loader: str, **kw):
        config = train_config.make_config(args.model, spec.name, spec.card, data_dir=args.data_dir,
                                          run_dir=run_dir, device=args.device, loader=loader, dataset=args.dataset,
                                          workers=args.workers, **kw)
        torch.manual_seed(config.seed)
        return training.Trainer(config, load(args.model, need_size=False).model)

    fast = trainer_for("fast")
    x, y = next(fast.loader.train_batches(0))
    synthetic = lambda: iter(lambda: (x, y), None)
    runs = {}
    for label, channels_last, compiled in (("eager", False, False), ("channels_last", True, False),
                                           ("compile", False, True), ("compile + channels_last", True, True)):
        if (compiled and args.no_compile) or (channels_last and fast.memory_format != torch.channels_last):
            continue  # a model the trainer keeps contiguous (its forward views) has no channels_last floor
        trainer = trainer_for("fast", channels_last=channels_last, compile=compiled)
        runs[f"floor, {label}"] = (trainer, synthetic)
    runs["fast loader"] = (fast, lambda: fast.loader.train_batches(1))
    slow = trainer_for("torchvision", compile=fast.config.compile)
    runs["torchvision loader"] = (slow, lambda: slow.loader.train_batches(1))
    for trainer, batches in runs.values():  # warm-up: compiles, first touches
        measure(trainer, batches(), 2)
    rounds = {label: [] for label in runs}
    for _ in range(args.rounds):  # interleaved, so that a machine's drift reaches every setting alike
        for label, (trainer, batches) in runs.items():
            rounds[label].append(measure(trainer, batches(), args.batches))
    rates = {label: statistics.median(r) for label, r in rounds.items()}
    floors = {label.removeprefix("floor, "): rate for label, rate in rates.items() if label.startswith("floor")}

    device = fast.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    n_train, batch = fast.n_train, fast.config.batch_size
    best_label = max(floors, key=floors.get)
    best = floors[best_label]
    print(f"{spec.name}, batch {batch}, median of {args.rounds} interleaved rounds of {args.batches} steps, on "
          f"{name}; the trainer's defaults here: "
          f"{'channels_last' if fast.memory_format == torch.channels_last else 'contiguous'}, "
          f"{'compiled' if fast.config.compile else 'eager'}")
    for label, rate in rates.items():
        print(f"  {label:32s} {rate:10,.0f} samples/s   epoch {n_train / rate:7.2f} s   "
              f"{best / rate:5.2f}x the best floor's time")
    print(f"  fast / torchvision: {rates['fast loader'] / rates['torchvision loader']:.1f}x; best floor: {best_label}")
    if "compile" in floors:
        card = f"the card's compile_on_cpu: {spec.card.compile_on_cpu}" if spec.card else "not a zoo network"
        gains = [f"{floors['compile'] / floors['eager']:.2f}x the eager step's speed"]
        if "compile + channels_last" in floors:
            gains.insert(0, f"{floors['compile + channels_last'] / floors['channels_last']:.2f}x the channels_last "
                            f"step's")
        print(f"  compile: {', '.join(gains)} ({card})")

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
    if args.whole_epochs:
        whole_epochs(trainer_for, args.whole_epochs)
    if args.whole_process:
        floor_epoch = fast.steps_per_epoch * batch / best + evaluation
        whole_process(args, floor_epoch, best_label)


def whole_process(args, floor_epoch: float, best_label: str):
    """The marginal epoch of `rfkit train` as a user runs it (2 epochs minus 1, whole processes, in
    interleaved rounds), against the best floor's epoch: its steps at the floor's rate plus the
    evaluation."""
    import subprocess
    import sys

    seconds = {1: [], 2: []}
    for _ in range(args.whole_process):
        for epochs in (1, 2):
            with tempfile.TemporaryDirectory(prefix="rfkit-speed-") as run_dir:
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "rfkit", "train", args.model, "--device", args.device,
                                "--epochs", str(epochs), "--data-dir", args.data_dir, "--run-dir", run_dir],
                               check=True, capture_output=True)
                seconds[epochs].append(time.perf_counter() - start)
    marginal = statistics.median(seconds[2]) - statistics.median(seconds[1])
    print(f"  whole processes: 1 epoch {' '.join(f'{t:.1f}' for t in seconds[1])} s, 2 epochs "
          f"{' '.join(f'{t:.1f}' for t in seconds[2])} s; marginal epoch {marginal:.2f} s against the best floor's "
          f"({best_label}) {floor_epoch:.2f} s (steps + evaluation): {marginal / floor_epoch:.2f}x")


def whole_epochs(trainer_for, n: int):
    """Whole epochs of the trainer's own loop (its evaluation included), eager and compiled in turn from
    the same seed, so that the compiled step's gain is measured where it has to show, with its compile
    time in epoch 1 (warm or cold, as torch's cache on this machine is)."""
    trainers = {"eager": trainer_for("fast", compile=False), "compiled": trainer_for("fast", compile=True)}
    seconds = {label: [] for label in trainers}
    for epoch in range(1, n + 1):
        for label, trainer in trainers.items():
            start = time.perf_counter()
            trainer.train_epoch(epoch)
            trainer.evaluate()
            seconds[label].append(time.perf_counter() - start)
    for label, times in seconds.items():
        rest = f", median of epochs 2-{n}: {statistics.median(times[1:]):.2f} s" if n > 1 else ""
        print(f"  whole epochs, {label:8s} " + " ".join(f"{t:.1f}" for t in times) + f" s{rest}")


if __name__ == "__main__":
    main()
