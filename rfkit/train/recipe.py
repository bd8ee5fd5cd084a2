"""A training recipe as data: what a zoo card documents and what a designed
network carries. A model class may carry its own (`recipe`, `dataset` and
`input_size` class attributes), as the files `rfkit design` exports do, so that
`rfkit train file.py:Net` trains it as it was designed, with no other flag."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Schedule:
    """An LR scheduler as `torch.optim.lr_scheduler.<name>(**kwargs)`.

    `per` says when it steps: "epoch" (StepLR) or "batch" (OneCycleLR).
    """

    name: str
    kwargs: dict = field(default_factory=dict)
    per: str = "epoch"


@dataclass(frozen=True)
class Recipe:
    """The documented training recipe; `inferred` names every value not printed in the seed."""

    optimizer: str
    optimizer_kwargs: dict
    schedule: Schedule | None
    epochs: int
    batch_size: int
    train_transforms: tuple[str, ...]
    test_transforms: tuple[str, ...]
    dropout: float | None = None
    inferred: dict = field(default_factory=dict)  # field -> how it was inferred


def carried(model) -> tuple[Recipe | None, str | None, tuple[int, ...] | None]:
    """(recipe, dataset, input_size) that a model or its class carries, each None where it carries none."""
    recipe = getattr(model, "recipe", None)
    dataset = getattr(model, "dataset", None)
    size = getattr(model, "input_size", None)
    return (recipe if isinstance(recipe, Recipe) else None, dataset if isinstance(dataset, str) else None,
            tuple(size) if isinstance(size, tuple) and all(isinstance(n, int) for n in size) else None)
