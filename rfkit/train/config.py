"""A run's configuration: the card's recipe with the flags given in its place,
validated, saved as the run directory's config.json and read back to resume."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

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


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RfkitError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise RfkitError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device not in ("cpu", "mps"):
        raise RfkitError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")
    return device


def make_config(model_spec: str, name: str, card, *, dataset=None, data_dir=None, run_dir=None, device="auto",
                epochs=None, batch_size=None, lr=None, seed=1, loader="fast", compile=False, amp=None,
                workers=None, channels_last=None) -> TrainConfig:
    """The card's recipe, with any flag given taking its place."""
    recipe = card.recipe if card is not None else None
    dataset = dataset or (card.dataset if card else None)
    if dataset is None:
        raise RfkitError(f"{model_spec} is not a zoo network: pass --dataset ({', '.join(data.DATASETS)})")
    if dataset not in data.DATASETS:
        raise RfkitError(f"unknown --dataset {dataset!r}; choose one of {', '.join(data.DATASETS)}")
    if recipe is not None:
        opt, opt_kwargs = recipe.optimizer, dict(recipe.optimizer_kwargs)
        schedule = ({"name": recipe.schedule.name, "kwargs": dict(recipe.schedule.kwargs), "per": recipe.schedule.per}
                    if recipe.schedule else None)
        train_t, test_t = list(recipe.train_transforms), list(recipe.test_transforms)
        epochs, batch_size = epochs or recipe.epochs, batch_size or recipe.batch_size
    else:
        opt, opt_kwargs, schedule = "SGD", {"lr": 0.01, "momentum": 0.9}, None
        train_t = test_t = ["ToTensor()"] + ([data.NORMALIZE[dataset]] if dataset in data.NORMALIZE else [])
        epochs, batch_size = epochs or 10, batch_size or 128
    if lr is not None:
        opt_kwargs["lr"] = lr
        if schedule and schedule["name"] == "OneCycleLR":
            schedule["kwargs"]["max_lr"] = lr
    if epochs <= 0 or batch_size <= 0:
        raise RfkitError("--epochs and --batch-size must be positive")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return TrainConfig(
        model=model_spec, name=name, dataset=dataset, data_dir=str(data_dir or data.default_data_dir()),
        run_dir=str(run_dir or Path("runs") / f"{name}-{stamp}"), device=resolve_device(device),
        epochs=epochs, batch_size=batch_size, seed=seed, loader=loader, optimizer=opt,
        optimizer_kwargs=opt_kwargs, schedule=schedule, train_transforms=train_t, test_transforms=test_t,
        compile=compile, amp=amp, workers=workers if workers is not None else min(4, (os.cpu_count() or 2) - 1),
        inferred=dict(recipe.inferred) if recipe else {}, channels_last=channels_last,
    )


def load_config(run_dir: Path, **overrides) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise RfkitError(f"--resume {run_dir}: no config.json there (not an rfkit run directory)")
    values = json.loads(path.read_text())
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
