"""Seed 002 ("Simple Neural Network for MNIST", the S7 assignment): three
iterations towards "< 8K params, >= 99.4% test accuracy within 15 epochs".

Each network's module tree reproduces the seed's torchinfo table row for row:
the same module types in the same order, output shapes and parameter counts.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from rfkit.checks.docparse import Documented, parse_arch_table, parse_rf_table, parse_torchinfo
from rfkit.train.data import NORMALIZE
from zoo.registry import Card, Recipe, Results, Schedule, Targets, register

SEED = "002_2893cf392c735321.txt"
_AUGMENT = ("RandomRotation((-7.0, 7.0), fill=(1,))", "RandomAffine(degrees=15)", "ToTensor()", NORMALIZE["mnist"])
_PLAIN = ("ToTensor()", NORMALIZE["mnist"])
_SEED_TARGETS = ("< 8,000 params", ">= 99.4% test accuracy within 15 epochs")
_SGD_INFERRED = "optimizer not printed; SGD with momentum 0.9 assumed, initial LR from the first logged LR"
_BATCH_INFERRED = "469 batches per epoch in the log: ceil(60000 / 128)"


def _augmented_recipe(lr: float, step_size: int, gamma: float, dropout: float, dropout_source: str) -> Recipe:
    """MnistNet_2/3's recipe: SGD + StepLR, 15 epochs of batch 128, rotation + affine augmentation."""
    return Recipe(
        optimizer="SGD",
        optimizer_kwargs={"lr": lr, "momentum": 0.9},
        schedule=Schedule("StepLR", {"step_size": step_size, "gamma": gamma}),
        epochs=15,
        batch_size=128,
        train_transforms=_AUGMENT,
        test_transforms=_PLAIN,
        dropout=dropout,
        inferred={"optimizer": _SGD_INFERRED, "batch_size": _BATCH_INFERRED,
                  "schedule": f"log: {lr:g} at first, x{gamma:g} every {step_size} epochs -> "
                              f"StepLR(step_size={step_size}, gamma={gamma:g})",
                  "dropout": f"from {dropout_source}"},
    )


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=k, bias=False)


def _unit(cin: int, cout: int, order: str, dropout: float) -> list[nn.Module]:
    """A 3x3 conv followed by ReLU, BatchNorm and Dropout in `order` ("RB" or "BR")."""
    layers = {"R": nn.ReLU(), "B": nn.BatchNorm2d(cout)}
    return [_conv(cin, cout), *(layers[c] for c in order), nn.Dropout(dropout)]


class _LogSoftmaxHead(nn.Module):
    def forward(self, x):
        return F.log_softmax(self.body(x).view(-1, 10), dim=-1)


MNISTNET_1_SUMMARY = """
├─Sequential: 1-1                        [1, 8, 11, 11]            --
│    └─Conv2d: 2-1                       [1, 8, 26, 26]            72
│    └─ReLU: 2-2                         [1, 8, 26, 26]            --
│    └─Conv2d: 2-3                       [1, 16, 24, 24]           1,152
│    └─ReLU: 2-4                         [1, 16, 24, 24]           --
│    └─Conv2d: 2-5                       [1, 16, 22, 22]           2,304
│    └─ReLU: 2-6                         [1, 16, 22, 22]           --
│    └─Conv2d: 2-7                       [1, 8, 22, 22]            128
│    └─MaxPool2d: 2-8                    [1, 8, 11, 11]            --
├─Sequential: 1-2                        [1, 10, 5, 5]             --
│    └─Conv2d: 2-9                       [1, 8, 9, 9]              576
│    └─ReLU: 2-10                        [1, 8, 9, 9]              --
│    └─Conv2d: 2-11                      [1, 8, 7, 7]              576
│    └─ReLU: 2-12                        [1, 8, 7, 7]              --
│    └─Conv2d: 2-13                      [1, 16, 5, 5]             1,152
│    └─ReLU: 2-14                        [1, 16, 5, 5]             --
│    └─Conv2d: 2-15                      [1, 10, 5, 5]             160
│    └─ReLU: 2-16                        [1, 10, 5, 5]             --
├─Sequential: 1-3                        [1, 10, 1, 1]             --
│    └─Conv2d: 2-17                      [1, 10, 1, 1]             2,500
"""

MNISTNET_1_RF = """
| 28         | 3     | 1     | 0     | 26          | 1          | 1          | 3           | 1           |
| 26         | 3     | 1     | 0     | 24          | 3          | 1          | 5           | 1           |
| 24         | 3     | 1     | 0     | 22          | 5          | 1          | 7           | 1           |
| 22         | 1     | 1     | 0     | 22          | 7          | 1          | 7           | 1           |
| 22         | 2     | 2     | 0     | 11          | 7          | 1          | 8           | 2           |
| 11         | 3     | 1     | 0     | 9           | 8          | 2          | 12          | 2           |
| 9          | 3     | 1     | 0     | 7           | 12         | 2          | 16          | 2           |
| 7          | 3     | 1     | 0     | 5           | 16         | 2          | 20          | 2           |
| 5          | 5     | 1     | 0     | 1           | 20         | 2          | 28          | 2           |
"""

MNISTNET_1_ARCH = """
| INPUT    | KERNEL     | OUTPUT |
|----------|------------|--------|
| 28x28x1  | 3x3x1x8    | 26     |
| 26x26x8  | 3x3x8x16   | 24     |
| 24x24x16 | 3x3x16x16  | 22     |
| 22x22x16 | 1x1x16x16  | 22     |
| Maxpool()|            | 11     |
| 11x11x8  | 3x3x8x8    | 9      |
| 9x9x8    | 3x3x8x8    | 7      |
| 7x7x8    | 3x3x8x16   | 5      |
| 7x7x16   | 1x1x16x10  | 5      |
| 5x5x10   | 5x5x10x10  | 1      |
| Flatten()             |        |
"""


@register(Card(
    name="MnistNet_1",
    seed=SEED,
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=8_620,
        summary_style="torchinfo",
        summary_title="MnistNet_1",
        summary_rows=parse_torchinfo(MNISTNET_1_SUMMARY),
        rf_rows=parse_rf_table(MNISTNET_1_RF),
        arch_rows=parse_arch_table(MNISTNET_1_ARCH),
    ),
    recipe=Recipe(
        optimizer="SGD",
        optimizer_kwargs={"lr": 0.01, "momentum": 0.9},
        schedule=None,
        epochs=15,
        batch_size=128,
        train_transforms=_PLAIN,
        test_transforms=_PLAIN,
        inferred={"optimizer": "not printed and no LR logged; SGD(lr=0.01, momentum=0.9) assumed",
                  "batch_size": _BATCH_INFERRED,
                  "schedule": "no LR lines in the log: constant LR"},
    ),
    results=Results(
        best_train_acc=98.66, best_train_epoch=15,
        best_test_acc=98.37, best_test_epoch=10,
        test_acc={1: 16.82, 2: 89.15, 3: 95.38, 4: 96.58, 5: 97.24, 6: 97.68, 7: 98.04, 8: 98.13,
                  9: 98.01, 10: 98.37, 11: 98.34, 12: 98.33, 13: 98.34, 14: 98.11, 15: 98.24},
    ),
    targets=Targets(min_test_acc=98.0, within_epochs=10,
                    text=("params near 8K", "> 98% test accuracy within 10 epochs")),
    errata=(
        "architecture table row '22x22x16 | 1x1x16x16' contradicts the summary (128 params: 1x1x16x8)",
        "architecture table row '7x7x16 | 1x1x16x10' has input 7x7x16; the summary shows 5x5x16",
        "RF table leaves out the 1x1 conv 16->10 at n=5",
    ),
    compile_on_cpu=True,
))
class MnistNet_1(_LogSoftmaxHead):
    """No BatchNorm, no dropout; a 5x5 conv collapses 5x5 to 1x1 at the end."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(
            _conv(1, 8), nn.ReLU(), _conv(8, 16), nn.ReLU(), _conv(16, 16), nn.ReLU(),
            _conv(16, 8, 1), nn.MaxPool2d(2, 2),
        )
        self.block2 = nn.Sequential(
            _conv(8, 8), nn.ReLU(), _conv(8, 8), nn.ReLU(), _conv(8, 16), nn.ReLU(),
            _conv(16, 10, 1), nn.ReLU(),
        )
        self.block3 = nn.Sequential(_conv(10, 10, 5))

    def body(self, x):
        return self.block3(self.block2(self.block1(x)))


class _GapNet(_LogSoftmaxHead):
    """MnistNet_2/3: conv units, 1x1 transition + max-pool, conv units, GAP, 1x1 classifier."""

    def __init__(self, widths: tuple[int, ...], orders: tuple[str, ...], dropout: float):
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        o1, o2 = orders
        self.block1 = nn.Sequential(
            *_unit(1, w1, o1, dropout), *_unit(w1, w2, o1, dropout), _conv(w2, 8, 1), nn.MaxPool2d(2, 2),
        )
        self.block2 = nn.Sequential(
            *_unit(8, w3, o2, dropout), *_unit(w3, w4, o2, dropout), *_unit(w4, w5, o2, dropout),
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.block4 = nn.Sequential(_conv(w5, 10, 1))

    def body(self, x):
        return self.block4(self.gap(self.block2(self.block1(x))))


MNISTNET_2_SUMMARY = """
├─Sequential: 1-1                        [1, 8, 12, 12]            --
│    └─Conv2d: 2-1                       [1, 8, 26, 26]            72
│    └─ReLU: 2-2                         [1, 8, 26, 26]            --
│    └─BatchNorm2d: 2-3                  [1, 8, 26, 26]            16
│    └─Dropout: 2-4                      [1, 8, 26, 26]            --
│    └─Conv2d: 2-5                       [1, 16, 24, 24]           1,152
│    └─ReLU: 2-6                         [1, 16, 24, 24]           --
│    └─BatchNorm2d: 2-7                  [1, 16, 24, 24]           32
│    └─Dropout: 2-8                      [1, 16, 24, 24]           --
│    └─Conv2d: 2-9                       [1, 8, 24, 24]            128
│    └─MaxPool2d: 2-10                   [1, 8, 12, 12]            --
├─Sequential: 1-2                        [1, 16, 6, 6]             --
│    └─Conv2d: 2-11                      [1, 16, 10, 10]           1,152
│    └─ReLU: 2-12                        [1, 16, 10, 10]           --
│    └─BatchNorm2d: 2-13                 [1, 16, 10, 10]           32
│    └─Dropout: 2-14                     [1, 16, 10, 10]           --
│    └─Conv2d: 2-15                      [1, 16, 8, 8]             2,304
│    └─ReLU: 2-16                        [1, 16, 8, 8]             --
│    └─BatchNorm2d: 2-17                 [1, 16, 8, 8]             32
│    └─Dropout: 2-18                     [1, 16, 8, 8]             --
│    └─Conv2d: 2-19                      [1, 16, 6, 6]             2,304
│    └─ReLU: 2-20                        [1, 16, 6, 6]             --
│    └─BatchNorm2d: 2-21                 [1, 16, 6, 6]             32
│    └─Dropout: 2-22                     [1, 16, 6, 6]             --
├─AdaptiveAvgPool2d: 1-3                 [1, 16, 1, 1]             --
├─Sequential: 1-4                        [1, 10, 1, 1]             --
│    └─Conv2d: 2-23                      [1, 10, 1, 1]             160
"""

MNISTNET_2_RF = """
| 28         | 3     | 1     | 0     | 26          | 1          | 1          | 3           | 1           |
| 26         | 3     | 1     | 0     | 24          | 3          | 1          | 5           | 1           |
| 24         | 1     | 1     | 0     | 24          | 5          | 1          | 5           | 1           |
| 24         | 2     | 2     | 0     | 12          | 5          | 1          | 6           | 2           |
| 12         | 3     | 1     | 0     | 10          | 6          | 2          | 10          | 2           |
| 10         | 3     | 1     | 0     | 8           | 10         | 2          | 14          | 2           |
| 8          | 3     | 1     | 0     | 6           | 14         | 2          | 18          | 2           |
"""

MNISTNET_2_ARCH = """
| INPUT    | KERNEL     | OUTPUT |
|----------|------------|--------|
| 28x28x1  | 3x3x1x8    | 26     |
| 26x26x8  | 3x3x8x16   | 24     |
| 24x24x16 | 1x1x16x8   | 24     |
| Maxpool()|            | 12     |
| 12x12x8  | 3x3x8x16   | 10     |
| 10x10x16 | 3x3x16x16  | 8      |
| 8x8x16   | 3x3x16x16  | 6      |
| AdaptiveAvgPool()|    | 1      |
| 1x1x16   | 1x1x16x10  | 1      |
| Flatten()             |        |
"""

_GAP_RF_NOTE = "the RF table stops at the last 3x3 conv (r=18); the GAP (r 18 -> 28) and the 1x1 conv follow"


@register(Card(
    name="MnistNet_2",
    seed=SEED,
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=7_416,
        summary_style="torchinfo",
        summary_title="MnistNet_4",
        summary_rows=parse_torchinfo(MNISTNET_2_SUMMARY),
        rf_rows=parse_rf_table(MNISTNET_2_RF),
        arch_rows=parse_arch_table(MNISTNET_2_ARCH),
    ),
    recipe=_augmented_recipe(lr=0.075, step_size=2, gamma=0.65, dropout=0.05,
                             dropout_source="the analysis text ('dropout rate (0.05)')"),
    results=Results(
        best_train_acc=98.87, best_train_epoch=14,
        best_test_acc=99.47, best_test_epoch=13,
        logged_lr={1: 7.5e-2, 2: 7.5e-2, 3: 4.875e-2, 4: 4.875e-2, 5: 3.1688e-2, 6: 3.1688e-2,
                   7: 2.0597e-2, 8: 2.0597e-2, 9: 1.3388e-2, 10: 1.3388e-2, 11: 8.7022e-3,
                   12: 8.7022e-3, 13: 5.6564e-3, 14: 5.6564e-3, 15: 3.6767e-3},
        test_acc={1: 98.55, 2: 98.86, 3: 99.07, 4: 99.02, 5: 99.28, 6: 99.24, 7: 99.38, 8: 99.29,
                  9: 99.36, 10: 99.41, 11: 99.38, 12: 99.38, 13: 99.47, 14: 99.40, 15: 99.34},
    ),
    targets=Targets(max_params=8_000, min_test_acc=99.4, within_epochs=15, text=_SEED_TARGETS),
    errata=("summary table's root row is titled MnistNet_4, under the MnistNet_2 heading",),
    notes=_GAP_RF_NOTE,
    compile_on_cpu=True,
))
class MnistNet_2(_GapNet):
    """BN + dropout 0.05 (conv -> ReLU -> BN -> dropout), GAP head: 7,416 params."""

    def __init__(self, dropout: float = 0.05):
        super().__init__((8, 16, 16, 16, 16), ("RB", "RB"), dropout)


MNISTNET_3_SUMMARY = """
├─Sequential: 1-1                        [1, 8, 12, 12]            --
│    └─Conv2d: 2-1                       [1, 8, 26, 26]            72
│    └─BatchNorm2d: 2-2                  [1, 8, 26, 26]            16
│    └─ReLU: 2-3                         [1, 8, 26, 26]            --
│    └─Dropout: 2-4                      [1, 8, 26, 26]            --
│    └─Conv2d: 2-5                       [1, 16, 24, 24]           1,152
│    └─BatchNorm2d: 2-6                  [1, 16, 24, 24]           32
│    └─ReLU: 2-7                         [1, 16, 24, 24]           --
│    └─Dropout: 2-8                      [1, 16, 24, 24]           --
│    └─Conv2d: 2-9                       [1, 8, 24, 24]            128
│    └─MaxPool2d: 2-10                   [1, 8, 12, 12]            --
├─Sequential: 1-2                        [1, 16, 6, 6]             --
│    └─Conv2d: 2-11                      [1, 12, 10, 10]           864
│    └─ReLU: 2-12                        [1, 12, 10, 10]           --
│    └─BatchNorm2d: 2-13                 [1, 12, 10, 10]           24
│    └─Dropout: 2-14                     [1, 12, 10, 10]           --
│    └─Conv2d: 2-15                      [1, 16, 8, 8]             1,728
│    └─ReLU: 2-16                        [1, 16, 8, 8]             --
│    └─BatchNorm2d: 2-17                 [1, 16, 8, 8]             32
│    └─Dropout: 2-18                     [1, 16, 8, 8]             --
│    └─Conv2d: 2-19                      [1, 16, 6, 6]             2,304
│    └─ReLU: 2-20                        [1, 16, 6, 6]             --
│    └─BatchNorm2d: 2-21                 [1, 16, 6, 6]             32
│    └─Dropout: 2-22                     [1, 16, 6, 6]             --
├─AdaptiveAvgPool2d: 1-3                 [1, 16, 1, 1]             --
├─Sequential: 1-4                        [1, 10, 1, 1]             --
│    └─Conv2d: 2-23                      [1, 10, 1, 1]             160
"""

MNISTNET_3_ARCH = """
| INPUT    | KERNEL     | OUTPUT |
|----------|------------|--------|
| 28x28x1  | 3x3x1x8    | 26     |
| 26x26x8  | 3x3x8x16   | 24     |
| 24x24x16 | 1x1x16x8   | 24     |
| Maxpool()|            | 12     |
| 12x12x8  | 3x3x8x12   | 10     |
| 10x10x12 | 3x3x12x16  | 8      |
| 8x8x16   | 3x3x16x16  | 6      |
| AdaptiveAvgPool()|    | 1      |
| 1x1x16   | 1x1x16x10  | 1      |
| Flatten()             |        |
"""


@register(Card(
    name="MnistNet_3",
    seed=SEED,
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=6_544,
        summary_style="torchinfo",
        summary_title="MnistNet_3",
        summary_rows=parse_torchinfo(MNISTNET_3_SUMMARY),
        rf_rows=parse_rf_table(MNISTNET_2_RF),
        arch_rows=parse_arch_table(MNISTNET_3_ARCH),
    ),
    recipe=_augmented_recipe(lr=0.05, step_size=4, gamma=0.35, dropout=0.01,
                             dropout_source="the analysis text ('dropout rate: 0.01')"),
    results=Results(
        best_train_acc=98.92, best_train_epoch=13,
        best_test_acc=99.45, best_test_epoch=10,
        logged_lr={1: 5e-2, 2: 5e-2, 3: 5e-2, 4: 5e-2, 5: 1.75e-2, 6: 1.75e-2, 7: 1.75e-2,
                   8: 1.75e-2, 9: 6.125e-3, 10: 6.125e-3, 11: 6.125e-3, 12: 6.125e-3,
                   13: 2.1437e-3, 14: 2.1437e-3, 15: 2.1437e-3},
        test_acc={1: 97.11, 2: 98.59, 3: 98.69, 4: 99.00, 5: 99.24, 6: 99.17, 7: 99.24, 8: 99.36,
                  9: 99.36, 10: 99.45, 11: 99.42, 12: 99.41, 13: 99.42, 14: 99.41, 15: 99.40},
    ),
    targets=Targets(max_params=7_000, min_test_acc=99.4, within_epochs=15,
                    text=(*_SEED_TARGETS, "< 7K params", "99.4% at least once before the 10th epoch")),
    errata=("transforms listing lacks the comma after RandomAffine(degrees=15): not valid Python as printed",),
    notes=_GAP_RF_NOTE,
    compile_on_cpu=True,
))
class MnistNet_3(_GapNet):
    """Fewer channels in block 2 (12), dropout 0.01, BN before ReLU in block 1: 6,544 params."""

    def __init__(self, dropout: float = 0.01):
        super().__init__((8, 16, 12, 16, 16), ("BR", "RB"), dropout)
