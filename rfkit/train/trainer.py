"""Training: a zoo card's documented recipe (optimizer, LR schedule, epochs,
batch size, augmentation), run for real, with measured accuracy set beside the
documentation. Every epoch writes metrics and an atomic checkpoint to the run
directory, so a run can be resumed, also after Ctrl-C; figures and the effective
receptive field of the best checkpoint are computed once, at the end, off the
per-epoch path.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from rfkit.analysis.erf import erf
from rfkit.errors import RfkitError, one_line
from rfkit.output.plots import plot_erf
from rfkit.train import checkpoints, plots
from rfkit.train.config import TrainConfig, check_compile, load_config
from rfkit.train.loaders import LOADERS
from rfkit.train.progress import SilentReporter


ERF_SAMPLES = 256  # test images for the end-of-run effective receptive field


def eval_batch_size(device: torch.device) -> int:
    """Test batches of 128 on a CPU, where they evaluate the MNIST zoo, S5Net and UltimusNet 1.4-2.2x
    faster than batches of 1,000 (their activations stay in cache; benchmarks/train_speed.py); 1,000
    on a GPU, which wants large batches."""
    return 128 if device.type == "cpu" else 1000


@dataclass
class RunResult:
    run_dir: Path
    metrics: list[dict]
    erf: dict | None = None  # erf.json's numbers (rfkit.erf/1)
    erf_note: str | None = None  # why there are none

    @property
    def best(self) -> dict | None:
        return max(self.metrics, key=lambda m: m["test_acc"], default=None)

    @property
    def final(self) -> dict | None:
        return self.metrics[-1] if self.metrics else None


class Diverged(RfkitError):
    exit_code = 1


def _save_atomic(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_json(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def _write_metrics(metrics: list[dict], run_dir: Path):
    _write_json(metrics, run_dir / "metrics.json")
    tmp = run_dir / "metrics.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(metrics[0]))
        writer.writeheader()
        writer.writerows(metrics)
    os.replace(tmp, run_dir / "metrics.csv")


def _optimizer_and_schedule(config: TrainConfig, model, steps_per_epoch: int):
    opt = getattr(torch.optim, config.optimizer)(model.parameters(), **config.optimizer_kwargs)
    schedule = None
    if config.schedule:
        kwargs = dict(config.schedule["kwargs"])
        if config.schedule["per"] == "batch" and "steps_per_epoch" in kwargs:
            kwargs.update(steps_per_epoch=steps_per_epoch, epochs=config.epochs)
        schedule = getattr(torch.optim.lr_scheduler, config.schedule["name"])(opt, **kwargs)
    return opt, schedule


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict):
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """One run: model, optimizer, schedule, loader and run directory. `reporter` shows progress (always
    present: `SilentReporter` shows none); each of `callbacks` is called as `callback(trainer, row)` after
    every epoch's metrics are saved, and may stop the run by raising (a design trial's pruner does)."""

    def __init__(self, config: TrainConfig, model: nn.Module, reporter=None, callbacks=(), splits=None):
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.device = torch.device(config.device)
        self.reporter = reporter if reporter is not None else SilentReporter()
        self.callbacks = tuple(callbacks)
        torch.manual_seed(config.seed)
        check_compile(config)
        self.loader = LOADERS[config.loader](config, self.device, splits)
        self.n_train, self.n_test = len(self.loader.train), len(self.loader.test)
        self.steps_per_epoch = math.ceil(self.n_train / config.batch_size)
        self.model = model.to(self.device)
        self.optimizer, self.schedule = _optimizer_and_schedule(config, self.model, self.steps_per_epoch)
        self.memory_format = torch.channels_last if self._use_channels_last() else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.step_model = torch.compile(self.model) if config.compile else self.model
        self.metrics: list[dict] = []
        self.start_epoch = 1

    def _use_channels_last(self) -> bool:
        """channels_last for image batches unless the config says otherwise: 1.24x on MnistNet_3's CPU
        step (benchmarks/train_speed.py), and the layout cuDNN's tensor-core kernels want on a GPU."""
        if self.config.channels_last is not None:
            return self.config.channels_last
        return len(self.loader.input_size) == 3 and self._forward_accepts_channels_last()

    def _forward_accepts_channels_last(self) -> bool:
        """A forward that flattens with `.view` (S5Net's `x.view(-1, 4096)`) cannot take a channels_last
        batch; such a model keeps the default layout. One no-grad eval pass on two zero images decides."""
        probe = torch.zeros(2, *self.loader.input_size, device=self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model.to(memory_format=torch.channels_last)(probe.contiguous(memory_format=torch.channels_last))
            return True
        except RuntimeError:
            return False
        finally:
            self.model.train(was_training)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def resume(self, state: dict | None = None):
        """Continue from last.pt (`state`: it, already read by `read_checkpoint`)."""
        state = read_checkpoint(self.run_dir) if state is None else state
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.schedule is not None:
                self.schedule.load_state_dict(state["schedule"])
            _set_rng_state(state["rng"])
        except Exception as exc:
            raise RfkitError(f"{self.run_dir / 'last.pt'} does not fit {self.config.model} as configured in "
                             f"config.json ({one_line(exc)}); start a new run") from None
        self.metrics = list(state["metrics"])
        self.start_epoch = state["epoch"] + 1

    def _autocast(self):
        if self.config.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return torch.autocast(self.device.type, enabled=False)

    def train_epoch(self, epoch: int) -> dict:
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen = 0
        lr = self.optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        for step, (x, y) in enumerate(self.loader.train_batches(epoch)):
            with self._autocast():
                out = self.step_model(self._batch(x))
                loss = F.cross_entropy(out.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.schedule is not None and self.config.schedule["per"] == "batch":
                self.schedule.step()
            loss_sum += loss.detach() * len(y)
            correct += (out.argmax(1) == y).sum()
            seen += len(y)
            self.reporter.batch(step + 1, seen, loss_sum, correct)
        if self.schedule is not None and self.config.schedule["per"] == "epoch":
            self.schedule.step()
        train_loss, train_correct = loss_sum.item(), correct.item()  # the epoch's one host sync
        if not math.isfinite(train_loss):
            raise Diverged(f"training loss became {train_loss} in epoch {epoch}; run stopped. The last good "
                           f"checkpoint is {self.run_dir / 'last.pt'}" +
                           (f" (epoch {epoch - 1})" if epoch > 1 else " (none: it diverged in epoch 1)") +
                           "; try a lower --lr")
        seconds = time.perf_counter() - start
        return {"epoch": epoch, "lr": lr, "train_loss": train_loss / seen, "train_acc": 100.0 * train_correct / seen,
                "seconds": seconds, "samples_per_s": seen / seconds}

    @torch.no_grad()
    def evaluate(self, batch_size: int | None = None, split: str = "test") -> tuple[dict, torch.Tensor, torch.Tensor]:
        """Loss and accuracy on `split` ("test", or "val": the held-out training images), and its first
        misclassified images (index, prediction). The model
        runs eager here even where training compiles it: compiling the two evaluation graphs (the test
        batch and the smaller last one) cost a cold MnistNet_3 run 17 s on this project's CPU, and its
        evaluation took 0.30-0.35 s compiled or eager."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        predicted, labels = [], []
        batches = self.loader.val_batches if split == "val" else self.loader.test_batches
        for x, y in batches(batch_size or eval_batch_size(self.device)):
            with self._autocast():
                out = self.model(self._batch(x)).float()
            loss_sum += F.cross_entropy(out, y, reduction="sum")
            predicted.append(out.argmax(1))
            labels.append(y)
        predicted, labels = torch.cat(predicted), torch.cat(labels)
        correct = (predicted == labels).sum()
        wrong_idx = torch.nonzero(predicted != labels).flatten()[:25]  # after the loop: nonzero syncs a GPU
        wrong_pred = predicted[wrong_idx]
        n = len(labels)
        return ({f"{split}_loss": loss_sum.item() / n, f"{split}_acc": 100.0 * correct.item() / n},
                wrong_idx.cpu(), wrong_pred.cpu())

    def checkpoint(self, epoch: int, best: bool):
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "schedule": self.schedule.state_dict() if self.schedule is not None else None,
                 "epoch": epoch, "rng": _rng_state(), "metrics": self.metrics}
        _save_atomic(state, self.run_dir / "last.pt")
        if best:
            _save_atomic({"model": self.model.state_dict(), "epoch": epoch, "metrics": self.metrics[-1]},
                         self.run_dir / "best.pt")

    def figures(self, wrong_idx: torch.Tensor, wrong_pred: torch.Tensor):
        title = f"{self.config.name} on {self.config.dataset} ({self.config.loader} loader, {self.config.device})"
        plots.learning_curves(self.metrics, self.run_dir / "curves.png", title)
        images, truth = self.loader.test_examples(wrong_idx) if len(wrong_idx) else (torch.zeros(0), [])
        classes = self.loader.classes or [str(i) for i in range(max(truth + wrong_pred.tolist() + [0]) + 1)]
        plots.misclassified_grid(images, truth, wrong_pred.tolist(), classes, self.run_dir / "misclassified.png",
                                 f"{self.config.name}: misclassified test images (true -> predicted)")

    def effective_rf(self) -> tuple[dict | None, str | None]:
        """The ERF of best.pt's weights (in a copy of the model) on the first ERF_SAMPLES test images from
        the loader, written as erf.json and erf.png. A model whose ERF cannot be measured (no position
        left to take a centre of, dead units) gets a note instead: the run's results stand."""
        model = copy.deepcopy(self.model)
        checkpoints.load_weights(model, self.run_dir / "best.pt")
        x = next(iter(self.loader.test_batches(ERF_SAMPLES)))[0]
        try:
            result = erf(model, x, device=self.device)
        except RfkitError as exc:
            return None, f"ERF not measured: {exc}"
        best = max(self.metrics, key=lambda m: m[self.selects_on])
        data = {**result.to_dict(), "model": self.config.name,
                "inputs": f"first {result.samples} {self.config.dataset} test images",
                "weights": f"best.pt (epoch {best['epoch']})"}
        _write_json(data, self.run_dir / "erf.json")
        plot_erf(data, self.run_dir / "erf.png", image=x,
                 title=f"{self.config.name}, best.pt (epoch {best['epoch']}): ERF of {result.layer}")
        return data, None

    @property
    def selects_on(self) -> str:
        """The metric best.pt is chosen by: validation accuracy where a split is held out, never the test's."""
        return "val_acc" if self.config.val else "test_acc"

    def run(self, figures: bool = True) -> RunResult:
        """Train the remaining epochs with the config's thread count (the process's is restored after).
        `figures`: the end-of-run curves, misclassified grid and ERF (a design trial leaves them out)."""
        with _intra_op_threads(self.config.threads):
            return self._run(figures)

    def _run(self, figures: bool) -> RunResult:
        key = self.selects_on
        best_acc = max((m[key] for m in self.metrics), default=-1.0)
        misclassified = None
        for epoch in range(self.start_epoch, self.config.epochs + 1):
            self.reporter.start_epoch(epoch, self.config.epochs, self.steps_per_epoch, self.n_train)
            try:
                row = self.train_epoch(epoch)
            finally:
                self.reporter.end_epoch()
            if self.config.val:
                row.update(self.evaluate(split="val")[0])
            test, *misclassified = self.evaluate()
            row.update(test)
            self.metrics.append(row)
            is_best = row[key] > best_acc
            best_acc = max(best_acc, row[key])
            self.checkpoint(epoch, is_best)
            _write_metrics(self.metrics, self.run_dir)
            self.reporter.epoch_line(row, self.config.epochs)
            for callback in self.callbacks:
                callback(self, row)
        if not figures:
            return RunResult(self.run_dir, self.metrics)
        if misclassified is None:  # nothing left to train: keep what the run already measured
            saved = self.run_dir / "erf.json"
            return RunResult(self.run_dir, self.metrics, json.loads(saved.read_text()) if saved.is_file() else None)
        self.figures(*misclassified)
        return RunResult(self.run_dir, self.metrics, *self.effective_rf())


@contextlib.contextmanager
def _intra_op_threads(n: int | None):
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_CHECKPOINT_KEYS = {"model", "optimizer", "schedule", "epoch", "rng", "metrics"}


def read_checkpoint(run_dir: Path) -> dict:
    """last.pt, checked to be a whole rfkit checkpoint; a truncated or foreign file is named, not loaded."""
    path = Path(run_dir) / "last.pt"
    if not path.is_file():
        raise RfkitError(f"--resume {run_dir}: no last.pt there (nothing to resume: the run stopped before its "
                         f"first epoch ended); start it again without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RfkitError(f"{path} is damaged ({one_line(exc)}): it cannot be resumed; start a new run "
                         f"(best.pt, if there, holds the best weights)") from None
    missing = sorted(_CHECKPOINT_KEYS - set(state)) if isinstance(state, dict) else None
    if missing is None or missing or not isinstance(state["epoch"], int) or state["epoch"] < 1 \
            or not isinstance(state["metrics"], list) or not isinstance(state["rng"], dict):
        what = f"missing {', '.join(missing)}" if missing else "unexpected contents"
        raise RfkitError(f"{path} is not an rfkit checkpoint ({what}): it cannot be resumed; start a new run")
    return state


def _never_finished_an_epoch(run_dir: Path) -> bool:
    """A run directory holding nothing but rfkit's own config.json: a run that stopped before its first
    checkpoint (a forward that failed, Ctrl-C in epoch 1). A fresh start may reuse it."""
    if [p.name for p in run_dir.iterdir()] != ["config.json"]:
        return False
    try:
        load_config(run_dir)
    except RfkitError:
        return False
    return True


def start(config: TrainConfig, model: nn.Module, reporter=None, resume: bool = False, callbacks=(),
          splits=None) -> Trainer:
    """A trainer on a fresh run directory (refusing to overwrite one), or resuming one. Everything is
    checked (config, checkpoint, data) before anything is written: a refused start leaves no trace."""
    run_dir = Path(config.run_dir)
    state = None
    if resume:
        state = read_checkpoint(run_dir)
        if state["epoch"] >= config.epochs:
            raise RfkitError(f"{run_dir} already has {state['epoch']} of {config.epochs} epoch(s) done: pass "
                             f"--epochs N above {state['epoch']} to train on")
    elif run_dir.exists() and not run_dir.is_dir():
        raise RfkitError(f"--run-dir {run_dir} is a file; choose a directory")
    elif run_dir.exists() and any(run_dir.iterdir()) and not _never_finished_an_epoch(run_dir):
        raise RfkitError(f"run directory {run_dir} exists and is not empty; pass --resume {run_dir} to continue "
                         f"it or choose another --run-dir")
    trainer = Trainer(config, model, reporter, callbacks, splits)
    if resume:
        trainer.resume(state)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RfkitError(f"cannot create run directory {run_dir}: {exc.strerror}") from None
    _write_json(asdict(config), run_dir / "config.json")
    return trainer
