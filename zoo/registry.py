"""Registry of documented networks, timm-style: a decorator files each network
under its name together with a frozen card of what its documentation claims.

Cards hold numbers exactly as the seed printed them, so that tests and
`rfkit audit` compare the code against the documentation, not against itself.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from rfkit.checks.docparse import ArchRow, Documented, RFRow, SummaryRow  # noqa: F401 (re-exported)
from rfkit.train.recipe import Recipe, Schedule  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Results:
    """Documented results; epochs are 1-based counts of completed epochs."""

    best_train_acc: float | None
    best_train_epoch: int | None
    best_test_acc: float | None
    best_test_epoch: int | None
    logged_lr: dict = field(default_factory=dict)  # 1-based epoch -> LR at its start
    test_acc: dict = field(default_factory=dict)  # 1-based epoch -> logged test accuracy


@dataclass(frozen=True)
class Targets:
    """Documented goals: the numbers a budget check enforces."""

    max_params: int | None = None
    min_test_acc: float | None = None
    within_epochs: int | None = None
    text: tuple[str, ...] = ()


@dataclass(frozen=True)
class Card:
    """What a seed documents about one network."""

    name: str
    seed: str
    input_size: tuple[int, ...]
    dataset: str
    documented: Documented  # the seed's tables, parsed from the text it printed
    recipe: Recipe
    results: Results
    targets: Targets
    errata: tuple[str, ...] = ()
    notes: str = ""
    # rfkit's own measurement, not the seed's: the compiled training step ran faster than the eager one
    # on a CPU (benchmarks/train_speed.py), so `rfkit train` compiles it there by default
    compile_on_cpu: bool = False


@dataclass(frozen=True)
class Entry:
    name: str
    builder: Callable[[], nn.Module]
    card: Card


_REGISTRY: dict[str, Entry] = {}


def register(card: Card):
    """Class decorator: file `cls` in the zoo under `card.name`."""

    def wrap(cls):
        if card.name in _REGISTRY:
            raise ValueError(f"zoo network {card.name!r} registered twice")
        _REGISTRY[card.name] = Entry(card.name, cls, card)
        cls.card = card
        return cls

    return wrap


def names() -> list[str]:
    return list(_REGISTRY)


def entry(name: str) -> Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = ", ".join(closest(name)) or ", ".join(names())
        raise KeyError(f"no zoo network {name!r}; closest: {hint}") from None


def card(name: str) -> Card:
    return entry(name).card


def create(name: str) -> nn.Module:
    return entry(name).builder()


def card_of(model: nn.Module) -> Card | None:
    """The card of a zoo network instance (or class), if it is one."""
    c = getattr(model, "card", None)
    return c if isinstance(c, Card) else None


def closest(name: str, n: int = 3) -> list[str]:
    short = name.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
    return difflib.get_close_matches(short, names(), n=n, cutoff=0.4)
