"""Seed 004 ("School_of_AI_Assignment_9"): a CIFAR-10 conv stem, global
average pooling, four "Ultimus" attention blocks and a linear classifier;
25,786 params. ReLU is functional, as the seed's table has no ReLU rows.

Ultimus attention, per sample x in R^48 (no mixing across the batch):
    k = K x,  q = Q x,  v = V x            (K, Q, V: Linear(48 -> 8, no bias))
    A = softmax_row(q k^T / sqrt(8))        (8 x 8; A[i, j] = softmax_j(q_i k_j / sqrt 8))
    z = A v                                 (8)
    out = Out z                             (Out: Linear(8 -> 48))
"""
from __future__ import annotations

import math

import torch.nn as nn
import torch.nn.functional as F

from rfkit.checks.docparse import Documented, parse_torchsummary
from rfkit.train.data import NORMALIZE
from zoo.registry import Card, Recipe, Results, Schedule, Targets, register

ULTIMUS_SUMMARY = """
           Conv2d-1           [-1, 16, 30, 30]             448
           Conv2d-2           [-1, 32, 28, 28]           4,640
           Conv2d-3           [-1, 48, 26, 26]          13,872
        AvgPool2d-4             [-1, 48, 1, 1]               0
           Linear-5                    [-1, 8]             384
           Linear-6                    [-1, 8]             384
           Linear-7                    [-1, 8]             384
           Linear-8                   [-1, 48]             432
     UltimusBlock-9                   [-1, 48]               0
          Linear-10                    [-1, 8]             384
          Linear-11                    [-1, 8]             384
          Linear-12                    [-1, 8]             384
          Linear-13                   [-1, 48]             432
    UltimusBlock-14                   [-1, 48]               0
          Linear-15                    [-1, 8]             384
          Linear-16                    [-1, 8]             384
          Linear-17                    [-1, 8]             384
          Linear-18                   [-1, 48]             432
    UltimusBlock-19                   [-1, 48]               0
          Linear-20                    [-1, 8]             384
          Linear-21                    [-1, 8]             384
          Linear-22                    [-1, 8]             384
          Linear-23                   [-1, 48]             432
    UltimusBlock-24                   [-1, 48]               0
          Linear-25                   [-1, 10]             490
"""

# "EPOCH: n (LR: x)" lines of the seed's log, verbatim.
ULTIMUS_LOGGED_LR = {
    1: 1.856635533445111e-05, 2: 0.003735710158920203, 3: 0.007452853962505956,
    4: 0.011169997766091707, 5: 0.01488714156967746, 6: 0.018556384154661588,
    7: 0.017579208535288125, 8: 0.016602032915914663, 9: 0.0156248572965412,
    10: 0.01464768167716774, 11: 0.013670506057794277, 12: 0.012693330438420816,
    13: 0.011716154819047354, 14: 0.010738979199673891, 15: 0.009761803580300429,
    16: 0.008784627960926968, 17: 0.007807452341553507, 18: 0.006830276722180043,
    19: 0.00585310110280658, 20: 0.00487592548343312, 21: 0.003898749864059657,
    22: 0.0029215742446861946, 23: 0.0019443986253127321, 24: 0.0009672230059392731,
}


class UltimusBlock(nn.Module):
    """Per-sample 8-dimensional self-attention over the 48 pooled channels."""

    def __init__(self, dim: int = 48, heads_dim: int = 8):
        super().__init__()
        self.K = nn.Linear(dim, heads_dim, bias=False)
        self.Q = nn.Linear(dim, heads_dim, bias=False)
        self.V = nn.Linear(dim, heads_dim, bias=False)
        self.Out = nn.Linear(heads_dim, dim)
        self.scale = 1.0 / math.sqrt(heads_dim)

    def forward(self, x):
        k, q, v = self.K(x), self.Q(x), self.V(x)
        attention = F.softmax(q.unsqueeze(-1) @ k.unsqueeze(-2) * self.scale, dim=-1)
        z = (attention @ v.unsqueeze(-1)).squeeze(-1)
        return self.Out(z)


@register(Card(
    name="UltimusNet",
    seed="004_95c6e7ca06a96d0e.txt",
    input_size=(3, 32, 32),
    dataset="cifar10",
    documented=Documented(
        params=25_786,
        summary_style="torchsummary",
        summary_title=None,
        summary_rows=parse_torchsummary(ULTIMUS_SUMMARY),
        rf_rows=(),
        arch_rows=(),
    ),
    recipe=Recipe(
        optimizer="Adam",
        optimizer_kwargs={"lr": 0.01856635533445111 / 1000},
        schedule=Schedule("OneCycleLR", {
            "max_lr": 0.01856635533445111, "epochs": 24, "steps_per_epoch": 98,
            "pct_start": 5 / 24, "div_factor": 1000, "final_div_factor": 1000,
            "three_phase": False, "anneal_strategy": "linear",
        }, per="batch"),
        epochs=24,
        batch_size=512,
        train_transforms=("ToTensor()", NORMALIZE["cifar10"]),
        test_transforms=("ToTensor()", NORMALIZE["cifar10"]),
        inferred={
            "optimizer": "not printed; Adam assumed (OneCycleLR sets its LR)",
            "schedule": "fitted to the 24 logged LRs: linear OneCycle, peak after 5 of 24 epochs "
                        "(pct_start=5/24), LR(epoch 1) = max_lr / div_factor with div_factor=1000; "
                        "max_lr as found by the seed's LR finder",
            "final_div_factor": "fitted: 1000 reproduces all 24 logged LRs to 1e-15; 100 or 1e4 miss by >= 1.6e-5",
            "batch_size": "98 batches per epoch: ceil(50000 / 512)",
            "train_transforms": "not documented; ToTensor + CIFAR-10 normalisation assumed",
        },
    ),
    results=Results(
        best_train_acc=25.92, best_train_epoch=24,
        best_test_acc=32.57, best_test_epoch=24,
        logged_lr=ULTIMUS_LOGGED_LR,
        test_acc={1: 23.45, 2: 27.22, 3: 27.81, 4: 26.13, 5: 29.52, 6: 30.56, 7: 27.91, 8: 30.34,
                  9: 29.23, 10: 30.68, 11: 29.90, 12: 30.54, 13: 30.17, 14: 31.32, 15: 30.55,
                  16: 30.90, 17: 31.13, 18: 31.55, 19: 31.45, 20: 32.35, 21: 31.67, 22: 31.93,
                  23: 32.20, 24: 32.57},
    ),
    targets=Targets(text=("train for 24 epochs with OneCycleLR",)),
    errata=("the summary header and separator lines above the first row are missing",
            "the first row 'Conv2d-1' is indented one space less than torchsummary prints (a paste artefact)"),
))
class UltimusNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.conv3 = nn.Conv2d(32, 48, 3)
        self.gap = nn.AvgPool2d(26)
        self.ultimus = nn.Sequential(*(UltimusBlock() for _ in range(4)))
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = self.gap(x).view(-1, 48)
        return self.fc(self.ultimus(x))
