"""Search spaces. A space is what Optuna users already write: a define-by-run function
that takes a trial and returns an `nn.Module` (`my_space.py:space`,
`pkg.module:space`). The built-in `mnist` space is the family the documented MNIST
networks belong to: stages of 3x3 conv units (BatchNorm, ReLU and dropout in a
searched order, padding per stage), a 1x1 conv and/or max-pool between stages, and
a GAP or conv head; with the recipe knobs that matter (learning rate, schedule,
rotation augmentation, dropout). MnistNet_1, MnistNet_2, MnistNet_3 and S6Net are
each a point of it (`POINTS`).

A network of the built-in space is an `Arch`: its layers come from one list
(`layer_specs`), which both builds the module and writes it out as Python
(`source`), so an exported file rebuilds the very network that was trained.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from rfkit.errors import RfkitError
from rfkit.train.data import NORMALIZE
from rfkit.train.recipe import Recipe, Schedule

WIDTHS = (4, 6, 8, 10, 12, 14, 16, 20, 24, 32)
TRANSITIONS = (0, 4, 6, 8, 10, 12, 16)  # 1x1 conv width before a pool; 0: a pool alone
ORDERS = ("R", "RB", "BR", "RBD", "BRD", "RDB")  # what follows each 3x3 conv: ReLU, BatchNorm, Dropout
HEADS = ("gap_conv", "gap", "conv")
AUGMENTS = {
    "none": (),
    "rotate": ("RandomRotation((-7.0, 7.0), fill=(1,))",),
    "rotate_affine": ("RandomRotation((-7.0, 7.0), fill=(1,))", "RandomAffine(degrees=15)"),
}
SCHEDULES = ("none", "step", "onecycle")
_LETTERS = {"R": ("ReLU", ()), "B": ("BatchNorm2d", None), "D": ("Dropout", None)}


@dataclass(frozen=True)
class Stage:
    """3x3 conv units at one resolution, then what leads to the next: a 1x1 conv (`transition`
    channels, 0: none) and a 2x2 max-pool (`pool`)."""

    widths: tuple[int, ...]
    order: str
    padding: int
    transition: int = 0
    pool: bool = True


@dataclass(frozen=True)
class Arch:
    """A network of the built-in space. Heads: "gap_conv" (global average pool, then a 1x1 conv to the
    classes: MnistNet_2/3), "gap" (the last conv has one channel per class; global average pool: S6Net),
    "conv" (a 1x1 conv to the classes with ReLU, then one conv as large as what is left: MnistNet_1)."""

    stages: tuple[Stage, ...]
    head: str
    bias: bool = False
    dropout: float = 0.0
    in_channels: int = 1
    classes: int = 10
    size: int = 28


class Infeasible(RfkitError):
    """A point of the built-in space that cannot be built: its layers run out of pixels."""


LayerSpec = tuple[str, tuple, dict]  # (torch.nn class name, args, kwargs)


def _post(order: str, width: int, dropout: float) -> list[LayerSpec]:
    specs = []
    for letter in order:
        if letter == "R":
            specs.append(("ReLU", (), {}))
        elif letter == "B":
            specs.append(("BatchNorm2d", (width,), {}))
        elif dropout > 0:
            specs.append(("Dropout", (dropout,), {}))
    return specs


def layer_specs(arch: Arch) -> dict[str, list[LayerSpec]]:
    """The network as named blocks of layers, in forward order; raises RfkitError where the spatial
    size runs out (a stage that convolves or pools below 1 pixel)."""
    blocks: dict[str, list[LayerSpec]] = {}
    cin, n = arch.in_channels, arch.size
    for i, stage in enumerate(arch.stages, 1):
        layers = []
        for width in stage.widths:
            layers.append(("Conv2d", (cin, width, 3), {"padding": stage.padding, "bias": arch.bias}))
            layers += _post(stage.order, width, arch.dropout)
            cin, n = width, n + 2 * stage.padding - 2
            if n < 1:
                raise Infeasible(f"stage {i} convolves the input below 1 pixel")
        blocks[f"block{i}"] = layers
        tail = []
        if stage.transition:
            tail.append(("Conv2d", (cin, stage.transition, 1), {"bias": arch.bias}))
            cin = stage.transition
        if stage.pool:
            tail.append(("MaxPool2d", (2, 2), {}))
            n //= 2
            if n < 1:
                raise Infeasible(f"stage {i} pools the input below 1 pixel")
        if tail:
            blocks[f"transition{i}"] = tail
    if arch.head == "gap_conv":
        blocks["head"] = [("AdaptiveAvgPool2d", (1,), {}), ("Conv2d", (cin, arch.classes, 1), {"bias": arch.bias})]
    elif arch.head == "gap":
        if cin != arch.classes:
            raise Infeasible(f"a gap head needs the last conv to have {arch.classes} channels, not {cin}")
        blocks["head"] = [("AdaptiveAvgPool2d", (1,), {})]
    elif arch.head == "conv":
        blocks["head"] = [("Conv2d", (cin, arch.classes, 1), {"bias": arch.bias}), ("ReLU", (), {}),
                          ("Conv2d", (arch.classes, arch.classes, n), {"bias": arch.bias})]
    else:
        raise RfkitError(f"unknown head {arch.head!r}; one of {', '.join(HEADS)}")
    return blocks


def _layer(spec: LayerSpec) -> nn.Module:
    name, args, kwargs = spec
    return getattr(nn, name)(*args, **kwargs)


class DesignedNet(nn.Module):
    """A network of the built-in space: its blocks in order, then the logits flattened. The exported
    file's `Net` has the same blocks under the same names (so the same state_dict keys)."""

    def __init__(self, arch: Arch, recipe: Recipe | None = None, dataset: str = "mnist"):
        super().__init__()
        for name, layers in layer_specs(arch).items():
            self.add_module(name, nn.Sequential(*map(_layer, layers)))
        self.arch, self.dataset = arch, dataset
        self.input_size = (arch.in_channels, arch.size, arch.size)
        if recipe is not None:
            self.recipe = recipe

    def forward(self, x):
        for block in self.children():
            x = block(x)
        return x.flatten(1)


def recipe_of(trial, dataset: str, dropout: float, epochs: int = 15) -> Recipe:
    """The recipe knobs: SGD (momentum 0.9) at a searched LR, schedule and augmentation; batch 128.
    (A study trains for its own --epochs and exports the recipe with them.)"""
    lr = trial.suggest_float("lr", 0.005, 0.3, log=True)
    kind = trial.suggest_categorical("schedule", SCHEDULES)
    schedule = None
    if kind == "step":
        schedule = Schedule("StepLR", {"step_size": trial.suggest_int("step_size", 1, 15),
                                       "gamma": trial.suggest_float("gamma", 0.1, 0.9)})
    elif kind == "onecycle":
        schedule = Schedule("OneCycleLR", {"max_lr": lr, "steps_per_epoch": 0, "epochs": epochs,
                                           "pct_start": trial.suggest_float("pct_start", 0.1, 0.5)}, per="batch")
    augment = trial.suggest_categorical("augment", tuple(AUGMENTS))
    plain = ("ToTensor()", NORMALIZE[dataset]) if dataset in NORMALIZE else ("ToTensor()",)
    return Recipe(optimizer="SGD", optimizer_kwargs={"lr": lr, "momentum": 0.9}, schedule=schedule,
                  epochs=epochs, batch_size=128, train_transforms=AUGMENTS[augment] + plain,
                  test_transforms=plain, dropout=dropout)


def arch_of(trial, in_channels: int = 1, classes: int = 10, size: int = 28) -> Arch:
    """The architecture knobs, define-by-run: 2-3 stages of 1-4 convs, widths, orders, padding,
    transitions, head, bias and dropout."""
    n_stages = trial.suggest_int("stages", 2, 3)
    head = trial.suggest_categorical("head", HEADS)
    stages = []
    for s in range(1, n_stages + 1):
        last = s == n_stages
        convs = trial.suggest_int(f"s{s}_convs", 1, 4)
        widths = [trial.suggest_categorical(f"s{s}_w{c}", WIDTHS) for c in range(1, convs + (not (last and head == "gap")))]
        if last and head == "gap":
            widths.append(classes)
        stages.append(Stage(tuple(widths), trial.suggest_categorical(f"s{s}_order", ORDERS),
                            trial.suggest_int(f"s{s}_pad", 0, 1),
                            0 if last else trial.suggest_categorical(f"t{s}", TRANSITIONS),
                            trial.suggest_categorical("last_pool", (False, True)) if last else True))
    dropout = trial.suggest_float("dropout", 0.0, 0.15) if any("D" in st.order for st in stages) else 0.0
    return Arch(tuple(stages), head, trial.suggest_categorical("bias", (False, True)), dropout, in_channels,
                classes, size)


def mnist(trial) -> nn.Module:
    """The built-in space for 1x28x28 inputs and 10 classes (MNIST, Fashion-MNIST: the study's dataset,
    which it sets as the trial's user attribute "dataset", picks the normalisation)."""
    dataset = trial.user_attrs.get("dataset", "mnist")
    arch = arch_of(trial)
    return DesignedNet(arch, recipe_of(trial, dataset, arch.dropout), dataset)


BUILT_IN: dict[str, tuple[Callable, tuple[int, ...]]] = {"mnist": (mnist, (1, 28, 28))}

def resolve_space(spec: str):
    """(the space function, its input size or None): the built-in name, or a user's define-by-run function
    (`my_space.py:space`, `pkg.module:space`)."""
    from rfkit.loading import resolve

    if spec in BUILT_IN:
        return BUILT_IN[spec]
    if ":" not in spec:
        raise RfkitError(f"unknown space {spec!r}: use the built-in {', '.join(BUILT_IN)} or a define-by-run "
                         f"function, my_space.py:space or pkg.module:space")
    try:
        function = resolve(spec)
    except RfkitError as exc:
        raise RfkitError(f"space {spec}: {str(exc).split(': ', 1)[-1]}") from None
    if not callable(function) or isinstance(function, type):
        raise RfkitError(f"space {spec} is a {type(function).__name__}, not a function of an Optuna trial "
                         f"returning an nn.Module")
    return function, None


# The documented networks as points of the built-in space (tests/test_design.py builds each and compares
# its parameters and RF table with the zoo network's).
POINTS = {
    "MnistNet_1": {"stages": 2, "head": "conv", "s1_convs": 3, "s1_w1": 8, "s1_w2": 16, "s1_w3": 16,
                   "s1_order": "R", "s1_pad": 0, "t1": 8, "s2_convs": 3, "s2_w1": 8, "s2_w2": 8, "s2_w3": 16,
                   "s2_order": "R", "s2_pad": 0, "last_pool": False, "bias": False,
                   "lr": 0.01, "schedule": "none", "augment": "none"},
    "MnistNet_2": {"stages": 2, "head": "gap_conv", "s1_convs": 2, "s1_w1": 8, "s1_w2": 16, "s1_order": "RBD",
                   "s1_pad": 0, "t1": 8, "s2_convs": 3, "s2_w1": 16, "s2_w2": 16, "s2_w3": 16, "s2_order": "RBD",
                   "s2_pad": 0, "last_pool": False, "dropout": 0.05, "bias": False,
                   "lr": 0.075, "schedule": "step", "step_size": 2, "gamma": 0.65, "augment": "rotate_affine"},
    "MnistNet_3": {"stages": 2, "head": "gap_conv", "s1_convs": 2, "s1_w1": 8, "s1_w2": 16, "s1_order": "BRD",
                   "s1_pad": 0, "t1": 8, "s2_convs": 3, "s2_w1": 12, "s2_w2": 16, "s2_w3": 16, "s2_order": "RBD",
                   "s2_pad": 0, "last_pool": False, "dropout": 0.01, "bias": False,
                   "lr": 0.05, "schedule": "step", "step_size": 4, "gamma": 0.35, "augment": "rotate_affine"},
    "S6Net": {"stages": 3, "head": "gap", "s1_convs": 1, "s1_w1": 16, "s1_order": "RDB", "s1_pad": 1, "t1": 0,
              "s2_convs": 1, "s2_w1": 32, "s2_order": "RDB", "s2_pad": 1, "t2": 0, "s3_convs": 2, "s3_w1": 32,
              "s3_order": "RDB", "s3_pad": 1, "last_pool": True, "dropout": 0.1, "bias": True,
              "lr": 0.01, "schedule": "step", "step_size": 15, "gamma": 0.1, "augment": "none"},
}


def _call(spec: LayerSpec) -> str:
    name, args, kwargs = spec
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()
                                       if not (k in ("padding",) and v == 0) and not (k == "bias" and v is True)]
    return f"nn.{name}({', '.join(parts)})"


def _recipe_source(recipe: Recipe) -> str:
    schedule = "None" if recipe.schedule is None else (
        f"Schedule({recipe.schedule.name!r}, {recipe.schedule.kwargs!r}, per={recipe.schedule.per!r})")
    return (f"Recipe(\n        optimizer={recipe.optimizer!r},\n        optimizer_kwargs={recipe.optimizer_kwargs!r},\n"
            f"        schedule={schedule},\n        epochs={recipe.epochs},\n        batch_size={recipe.batch_size},\n"
            f"        train_transforms={tuple(recipe.train_transforms)!r},\n"
            f"        test_transforms={tuple(recipe.test_transforms)!r},\n"
            f"        dropout={recipe.dropout!r},\n    )")


def source(arch: Arch, recipe: Recipe, dataset: str, title: str, notes: dict[str, str]) -> str:
    """A standalone Python file defining `class Net(nn.Module)` with every layer spelled out (each conv
    commented with `notes[layer name]`: its output size and RF) and the recipe it was trained with, which
    `rfkit train FILE.py:Net` uses with no other flag."""
    blocks = layer_specs(arch)
    body = []
    for name, layers in blocks.items():
        lines = []
        for i, spec in enumerate(layers):
            note = notes.get(f"{name}.{i}", "")
            lines.append(f"            {_call(spec)},{'  # ' + note if note else ''}")
        body.append(f"        self.{name} = nn.Sequential(\n" + "\n".join(lines) + "\n        )")
    forward = "\n".join(f"        x = self.{name}(x)" for name in blocks)
    return f'''"""{title}

Exported by `rfkit design`; train it with `rfkit train THIS_FILE.py:Net` (the recipe below),
print its RF table with `rfkit table THIS_FILE.py:Net`.
"""
import torch.nn as nn

from rfkit.train.recipe import Recipe, Schedule


class Net(nn.Module):
    dataset = {dataset!r}
    input_size = {(arch.in_channels, arch.size, arch.size)!r}
    recipe = {_recipe_source(recipe)}

    def __init__(self):
        super().__init__()
{chr(10).join(body)}

    def forward(self, x):
{forward}
        return x.flatten(1)
'''
