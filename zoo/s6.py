"""Seed 003 ("S6 Assignment"): padded 3x3 convs with ReLU -> Dropout -> BN,
three max-pools and an AvgPool2d head; 17,118 params.

Blocks are `nn.Sequential`s because torchsummary, which printed the seed's
table, lists every module except Sequentials: a custom container would have
added rows the seed does not have.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from rfkit.checks.docparse import Documented, parse_torchsummary
from rfkit.train.data import NORMALIZE
from zoo.registry import Card, Recipe, Results, Schedule, Targets, register

S6NET_SUMMARY = """
            Conv2d-1           [-1, 16, 28, 28]             160
              ReLU-2           [-1, 16, 28, 28]               0
           Dropout-3           [-1, 16, 28, 28]               0
       BatchNorm2d-4           [-1, 16, 28, 28]              32
         MaxPool2d-5           [-1, 16, 14, 14]               0
            Conv2d-6           [-1, 32, 14, 14]           4,640
              ReLU-7           [-1, 32, 14, 14]               0
           Dropout-8           [-1, 32, 14, 14]               0
       BatchNorm2d-9           [-1, 32, 14, 14]              64
        MaxPool2d-10             [-1, 32, 7, 7]               0
           Conv2d-11             [-1, 32, 7, 7]           9,248
             ReLU-12             [-1, 32, 7, 7]               0
          Dropout-13             [-1, 32, 7, 7]               0
      BatchNorm2d-14             [-1, 32, 7, 7]              64
           Conv2d-15             [-1, 10, 7, 7]           2,890
             ReLU-16             [-1, 10, 7, 7]               0
          Dropout-17             [-1, 10, 7, 7]               0
      BatchNorm2d-18             [-1, 10, 7, 7]              20
        MaxPool2d-19             [-1, 10, 3, 3]               0
        AvgPool2d-20             [-1, 10, 1, 1]               0
"""



def _unit(cin: int, cout: int, dropout: float) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Dropout(dropout), nn.BatchNorm2d(cout)]


@register(Card(
    name="S6Net",
    seed="003_5d4ceed8b63f7d59.txt",
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=17_118,
        summary_style="torchsummary",
        summary_title=None,
        summary_rows=parse_torchsummary(S6NET_SUMMARY),
        rf_rows=(),
        arch_rows=(),
    ),
    recipe=Recipe(
        optimizer="SGD",
        optimizer_kwargs={"lr": 0.01, "momentum": 0.9},
        schedule=Schedule("StepLR", {"step_size": 15, "gamma": 0.1}),
        epochs=20,
        batch_size=128,
        train_transforms=("ToTensor()", NORMALIZE["mnist"]),
        test_transforms=("ToTensor()", NORMALIZE["mnist"]),
        dropout=0.1,
        inferred={
            "optimizer": "text: 'SGD', 'Learning rate - 0.01 with LR scheduler'; momentum 0.9 assumed",
            "schedule": "log shows 1e-3 for its four epochs, taken as the last four of 20; "
                        "StepLR(step_size=15, gamma=0.1) is one schedule that fits, not pinned down",
            "dropout": "not documented; 0.1 assumed",
            "train_transforms": "not documented; ToTensor + the MNIST normalisation assumed",
        },
    ),
    results=Results(
        best_train_acc=None, best_train_epoch=None,
        best_test_acc=99.33, best_test_epoch=17,
        logged_lr={17: 1e-3, 18: 1e-3, 19: 1e-3, 20: 1e-3},
        test_acc={17: 99.33, 18: 99.31, 19: 99.33, 20: 99.32},
    ),
    targets=Targets(text=("no targets documented",)),
    errata=("test accuracy is printed rounded to '(99%)'; 9933/10000 is 99.33%",
            "the log's four epochs carry no epoch numbers: taken as epochs 17-20 of 20"),
))
class S6Net(nn.Module):
    """Conv units at 28, 14 and 7 pixels; MaxPool 7 -> 3 and AvgPool2d(3) collapse to 1x1."""

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.block1 = nn.Sequential(*_unit(1, 16, dropout), nn.MaxPool2d(2, 2))
        self.block2 = nn.Sequential(*_unit(16, 32, dropout), nn.MaxPool2d(2, 2))
        self.block3 = nn.Sequential(*_unit(32, 32, dropout), *_unit(32, 10, dropout), nn.MaxPool2d(2, 2))
        self.gap = nn.AvgPool2d(3)

    def forward(self, x):
        x = self.gap(self.block3(self.block2(self.block1(x))))
        return F.log_softmax(x.view(-1, 10), dim=-1)
