"""A run's configuration: the card's recipe with the flags given in its place,
validated, saved as the run directory's config.json and read back to resume."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path

import torch

from rfkit.analysis.devices import parse_device
from rfkit.errors import RfkitError
from rfkit.train import data


@dataclass
class TrainConfig:
    """Everything a run needs, resolved from the card and the flags; saved as config.json."""

    model: str
    name: str
    dataset: str
    data_dir: str
    run_dir: str
    device: str
    epochs: int
    batch_size: int
    seed: int
    loader: str
    optimizer: str
    optimizer_kwargs: dict
    schedule: dict | None  # {"name", "kwargs", "per"}
    train_transforms: list
    test_transforms: list
    compile: bool = False
    amp: str | None = None
    channels_last: bool | None = None  # None: on for 4-D (image) data, where benchmarks/train_speed.py measured it faster
    workers: int = 0
    inferred: dict = field(default_factory=dict)
    # torch's intra-op threads: a CPU run repeats bit for bit for its seed only with the same count (the
    # kernels split their sums by thread); None: the process's own, not recorded
    threads: int | None = None
    # the last `val` training images, held out of training and evaluated each epoch (rfkit design selects on
    # them, never on the test set); 0: none
    val: int = 0

    def device_label(self) -> str:
        """The device as a run's headings name it: a CPU with its thread count, which the seed needs."""
        if self.threads is None or torch.device(self.device).type != "cpu":
            return self.device
        return f"{self.device}, {self.threads} thread{'s' if self.threads != 1 else ''}"


def default_threads(device: str) -> int | None:
    """What a CPU run records: the process's current intra-op thread count."""
    return torch.get_num_threads() if torch.device(device).type == "cpu" else None


def compiler_found() -> bool:
    """Whether torch.compile can build CPU kernels here: inductor compiles them at run time with a C++
    compiler (g++, or the one $CXX names)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:
        return False
    return True


def default_compile(card, device: str) -> bool:
    """torch.compile only where it was measured to help: a CPU run of a zoo network whose card records a
    faster compiled step (benchmarks/train_speed.py; it is slower for some, e.g. S6Net), where a C++
    compiler is found. Off for other models (unmeasured) and on GPUs (none measured)."""
    return (torch.device(device).type == "cpu" and card is not None and card.compile_on_cpu
            and compiler_found())


def check_compile(config: TrainConfig) -> None:
    """A compiled CPU run needs the compiler before it starts, not a traceback at its first step."""
    if config.compile and torch.device(config.device).type == "cpu" and not compiler_found():
        raise RfkitError("compile is on (--compile, or the run's config.json) but torch.compile finds no C++ "
                         "compiler here to build CPU kernels: install g++ or name one in $CXX, or start the run "
                         "with --no-compile")


def resolve_device(device: str) -> str:
    device = parse_device(device, "--device", meta=False)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


LOADER_NAMES = ("fast", "torchvision")  # rfkit.train.loaders.LOADERS' keys (that module imports this one)
SEED_LIMIT = 2 ** 32
_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "seed": "--seed", "lr": "--lr", "loader": "--loader",
          "amp": "--amp", "dataset": "--dataset", "workers": "workers", "threads": "--threads",
          "val": "--val"}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive(v) -> str | None:
    return None if _is_int(v) and v > 0 else "needs a positive integer"


def _seed(v) -> str | None:
    return None if _is_int(v) and 0 <= v < SEED_LIMIT else f"needs an integer from 0 to {SEED_LIMIT - 1}"


def _lr(v) -> str | None:
    ok = (_is_int(v) or isinstance(v, float)) and math.isfinite(v) and v > 0
    return None if ok else "needs a finite number > 0 (e.g. 0.01)"


_RULES = {"epochs": _positive, "batch_size": _positive, "seed": _seed, "lr": _lr,
          "workers": lambda v: None if _is_int(v) and v >= 0 else "needs an integer >= 0",
          "threads": lambda v: None if v is None else _positive(v),
          "val": lambda v: None if _is_int(v) and v >= 0 else "needs an integer >= 0 (0: no validation split)",
          "amp": lambda v: None if v in (None, "bf16") else "only bf16 is supported"}


def check_flags(**flags):
    """Flag values (None: not given) checked on their own, before a model is built or a file is read:
    a value given is used as given, never replaced by a default."""
    for name, value in flags.items():
        if value is not None and (problem := _RULES[name](value)):
            raise RfkitError(f"{_FLAGS[name]} {value!r}: {problem}")


def _problems(c: TrainConfig):
    """(field, value, what it needs) for each value a run cannot use."""
    for name in ("model", "name", "dataset", "data_dir", "run_dir", "device", "loader", "optimizer"):
        if not isinstance(getattr(c, name), str) or not getattr(c, name):
            yield name, getattr(c, name), "needs a non-empty string"
    for name in ("epochs", "batch_size", "seed", "workers", "amp", "threads", "val"):
        if problem := _RULES[name](getattr(c, name)):
            yield name, getattr(c, name), problem
    if c.dataset not in data.DATASETS:
        yield "dataset", c.dataset, f"is not one of {', '.join(data.DATASETS)}"
    if c.loader not in LOADER_NAMES:
        yield "loader", c.loader, f"is not one of {', '.join(LOADER_NAMES)}"
    for name in ("compile", "channels_last"):
        if not isinstance(getattr(c, name), bool) and not (name == "channels_last" and c.channels_last is None):
            yield name, getattr(c, name), "needs true or false"
    optimizer = getattr(torch.optim, c.optimizer, None) if isinstance(c.optimizer, str) else None
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        yield "optimizer", c.optimizer, "is not a torch.optim optimizer"
    if not isinstance(c.optimizer_kwargs, dict):
        yield "optimizer_kwargs", c.optimizer_kwargs, "needs a table of keyword arguments"
    elif "lr" in c.optimizer_kwargs and (problem := _RULES["lr"](c.optimizer_kwargs["lr"])):
        yield "lr", c.optimizer_kwargs["lr"], problem
    if c.schedule is not None:
        s = c.schedule
        ok = (isinstance(s, dict) and isinstance(s.get("kwargs"), dict) and s.get("per") in ("batch", "epoch")
              and isinstance(getattr(torch.optim.lr_scheduler, str(s.get("name")), None), type))
        if not ok:
            yield "schedule", s, "needs {name: a torch.optim.lr_scheduler class, kwargs: {...}, per: batch|epoch}"
    for name in ("train_transforms", "test_transforms"):
        value = getattr(c, name)
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            yield name, value, "needs a list of transform strings"
    if not isinstance(c.inferred, dict):
        yield "inferred", c.inferred, "needs a table"


def validate(config: TrainConfig, source: str | None = None) -> TrainConfig:
    """Every value a run uses, checked before anything is read or written. Values from flags are named by
    their flag; values from a run's config.json (`source`) name that file."""
    for name, value, need in _problems(config):
        if source is not None:
            raise RfkitError(f"{source}: {name} {value!r} {need}; the run directory is damaged, start a new run")
        raise RfkitError(f"{_FLAGS.get(name, name)} {value!r}: {need}")
    return config


def make_config(model_spec: str, name: str, card, *, dataset=None, data_dir=None, run_dir=None, device="auto",
                epochs=None, batch_size=None, lr=None, seed=1, loader="fast", compile=None, amp=None,
                workers=None, channels_last=None, threads=None, val=0, recipe=None, default_dataset=None
                ) -> TrainConfig:
    """The card's recipe (else `recipe`, one a model carries), with any flag given taking its place
    (`compile=None`: `default_compile`). `val`: the last `val` training images held out for validation."""
    recipe = card.recipe if card is not None else recipe
    dataset = dataset if dataset is not None else (card.dataset if card else default_dataset)
    if dataset is None:
        raise RfkitError(f"{model_spec} is not a zoo network: pass --dataset ({', '.join(data.DATASETS)})")
    if recipe is not None:
        opt, opt_kwargs = recipe.optimizer, dict(recipe.optimizer_kwargs)
        schedule = ({"name": recipe.schedule.name, "kwargs": dict(recipe.schedule.kwargs), "per": recipe.schedule.per}
                    if recipe.schedule else None)
        train_t, test_t = list(recipe.train_transforms), list(recipe.test_transforms)
        default_epochs, default_batch = recipe.epochs, recipe.batch_size
    else:
        opt, opt_kwargs, schedule = "SGD", {"lr": 0.01, "momentum": 0.9}, None
        train_t = test_t = ["ToTensor()"] + ([data.NORMALIZE[dataset]] if dataset in data.NORMALIZE else [])
        default_epochs, default_batch = 10, 128
    epochs = default_epochs if epochs is None else epochs  # a flag given is used as given: 0 is an error
    batch_size = default_batch if batch_size is None else batch_size
    if lr is not None:
        opt_kwargs["lr"] = lr
        if schedule and schedule["name"] == "OneCycleLR":
            schedule["kwargs"]["max_lr"] = lr
    check_flags(epochs=epochs, batch_size=batch_size, seed=seed, lr=lr, amp=amp, workers=workers, threads=threads,
                val=val)
    device = resolve_device(device)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return validate(TrainConfig(
        model=model_spec, name=name, dataset=dataset, data_dir=str(data_dir or data.default_data_dir()),
        run_dir=str(run_dir or Path("runs") / f"{name}-{stamp}"), device=device,
        epochs=epochs, batch_size=batch_size, seed=seed, loader=loader, optimizer=opt,
        optimizer_kwargs=opt_kwargs, schedule=schedule, train_transforms=train_t, test_transforms=test_t,
        compile=default_compile(card, device) if compile is None else compile, amp=amp,
        workers=workers if workers is not None else min(4, (os.cpu_count() or 2) - 1),
        inferred=dict(recipe.inferred) if recipe else {}, channels_last=channels_last,
        threads=threads if threads is not None else default_threads(device), val=val,
    ))


def python_spec(model) -> str:
    """How config.json names a model built in Python (a notebook cell, a script) that the CLI cannot
    rebuild: "<notebook>:Class" for one defined in `__main__`, else "<python>:module.Class"."""
    cls = type(model)
    return f"<notebook>:{cls.__qualname__}" if cls.__module__ == "__main__" else \
        f"<python>:{cls.__module__}.{cls.__qualname__}"


def check_cli_resumable(config: TrainConfig, run_dir) -> None:
    """One line instead of a failed import when the CLI is asked to resume a run of a Python-built model."""
    if config.model.startswith("<"):
        raise RfkitError(f"--resume {run_dir}: this run trained {config.model}, a model built in Python that the "
                         f"CLI cannot rebuild; resume it from Python: rfkit.fit(model, resume={str(run_dir)!r})")


def load_config(run_dir: Path, **overrides) -> TrainConfig:
    """A run's config.json, checked, with `overrides` (flags given; None: not given) in its place and
    `run_dir` where the file is (a run directory may have moved). Reads only: a damaged file is named,
    never rewritten."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise RfkitError(f"--resume {run_dir}: no such run directory")
    if not path.is_file():
        raise RfkitError(f"--resume {run_dir}: no config.json there (not an rfkit run directory)")
    damaged = f"{path} is damaged"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RfkitError(f"{damaged} (not JSON: {exc}); the run cannot be resumed, start a new run") from None
    except OSError as exc:
        raise RfkitError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(values, dict):
        raise RfkitError(f"{damaged} (a JSON {type(values).__name__}, not an object); start a new run")
    known = {f.name for f in fields(TrainConfig)}
    required = {f.name for f in fields(TrainConfig) if f.default is MISSING and f.default_factory is MISSING}
    missing, unknown = sorted(required - set(values)), sorted(set(values) - known)
    if missing or unknown:
        what = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                           f"unknown {', '.join(unknown)}" if unknown else "") if part)
        raise RfkitError(f"{damaged} ({what}); the run cannot be resumed, start a new run")
    config = validate(TrainConfig(**values), source=str(path))
    if overrides.get("device") is None:
        try:
            resolve_device(config.device)
        except RfkitError:
            raise RfkitError(f"the run in {run_dir} trained on {config.device}, which this machine cannot use; "
                             f"resume with --device cpu") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    return validate(replace(config, run_dir=str(run_dir), **given))  # the run is where its config.json is
