"""Seeds 000 and 001 ("MNIST: Assignment 5"): a 4-conv + 2-linear MNIST net,
documented without biases (S5Net, 592,660 params) and with them (S5NetBias,
593,200 params). ReLU and max-pooling are functional in `forward`, which is why
the seeds' torchsummary tables show no row for them.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from rfkit.checks.docparse import Documented, parse_torchsummary
from rfkit.train.data import NORMALIZE
from zoo.registry import Card, Recipe, Results, Schedule, Targets, register


S5NET_SUMMARY = """
            Conv2d-1           [-1, 32, 26, 26]             288
            Conv2d-2           [-1, 64, 24, 24]          18,432
            Conv2d-3          [-1, 128, 10, 10]          73,728
            Conv2d-4            [-1, 256, 8, 8]         294,912
            Linear-5                   [-1, 50]         204,800
            Linear-6                   [-1, 10]             500
"""

S5NETBIAS_SUMMARY = """
            Conv2d-1           [-1, 32, 26, 26]             320
            Conv2d-2           [-1, 64, 24, 24]          18,496
            Conv2d-3          [-1, 128, 10, 10]          73,856
            Conv2d-4            [-1, 256, 8, 8]         295,168
            Linear-5                   [-1, 50]         204,850
            Linear-6                   [-1, 10]             510
"""

_S5_RECIPE_INFERRED = {
    "optimizer": "not printed; SGD with momentum 0.9 assumed (the course's S5 code)",
    "batch_size": "118 batches per epoch in the log: ceil(60000 / 512)",
    "train_transforms": "not printed; the course's S5 code (its utils.py): RandomApply([CenterCrop(22)], "
                        "p=0.1), Resize((28, 28)), RandomRotation((-15., 15.), fill=0). The log agrees: train "
                        "accuracy stays below test accuracy at every logged epoch, which ToTensor alone does "
                        "not give (docs/zoo.md)",
}
# The course's S5 training transforms (see _S5_RECIPE_INFERRED).
_S5_TRAIN_TRANSFORMS = ("RandomApply([CenterCrop(22)], p=0.1)", "Resize((28, 28))",
                        "RandomRotation((-15., 15.), fill=0)", "ToTensor()", NORMALIZE["mnist"])


class _S5Base(nn.Module):
    """The S5 network; `bias` is the only difference between seeds 000 and 001."""

    bias = True

    def __init__(self):
        super().__init__()
        b = self.bias
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, bias=b)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, bias=b)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, bias=b)
        self.conv4 = nn.Conv2d(128, 256, kernel_size=3, bias=b)
        self.fc1 = nn.Linear(4096, 50, bias=b)
        self.fc2 = nn.Linear(50, 10, bias=b)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.conv3(x))
        x = F.relu(F.max_pool2d(self.conv4(x), 2))
        x = x.view(-1, 4096)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


@register(Card(
    name="S5Net",
    seed="000_75bc54f6d3708316.txt",
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=592_660,
        summary_style="torchsummary",
        summary_title=None,
        summary_rows=parse_torchsummary(S5NET_SUMMARY),
        rf_rows=(),
        arch_rows=(),
    ),
    recipe=Recipe(
        optimizer="SGD",
        optimizer_kwargs={"lr": 0.01, "momentum": 0.9},
        schedule=Schedule("StepLR", {"step_size": 15, "gamma": 0.1}),
        epochs=20,
        batch_size=512,
        train_transforms=_S5_TRAIN_TRANSFORMS,
        test_transforms=("ToTensor()", NORMALIZE["mnist"]),
        inferred={
            **_S5_RECIPE_INFERRED,
            "schedule": "log: 1e-2 up to epoch 15, 1e-3 from epoch 16 -> StepLR(step_size=15, gamma=0.1)",
            "epochs": "log ends at epoch 20",
        },
    ),
    results=Results(
        best_train_acc=99.17, best_train_epoch=18,
        best_test_acc=99.27, best_test_epoch=16,
        logged_lr={11: 1e-2, 12: 1e-2, 13: 1e-2, 14: 1e-2, 15: 1e-2,
                   16: 1e-3, 17: 1e-3, 18: 1e-3, 19: 1e-3, 20: 1e-3},
        test_acc={11: 99.04, 12: 99.01, 13: 99.09, 14: 99.01, 15: 98.71,
                  16: 99.27, 17: 99.24, 18: 99.21, 19: 99.22, 20: 99.22},
    ),
    targets=Targets(text=("no targets documented",)),
    errata=("the log shows epochs 11-20 only; best figures are over those epochs",),
    compile_on_cpu=True,
))
class S5Net(_S5Base):
    """Seed 000: the S5 network without biases."""

    bias = False


@register(Card(
    name="S5NetBias",
    seed="001_1527324a2c96831f.txt",
    input_size=(1, 28, 28),
    dataset="mnist",
    documented=Documented(
        params=593_200,
        summary_style="torchsummary",
        summary_title=None,
        summary_rows=parse_torchsummary(S5NETBIAS_SUMMARY),
        rf_rows=(),
        arch_rows=(),
    ),
    recipe=Recipe(
        optimizer="SGD",
        optimizer_kwargs={"lr": 0.01, "momentum": 0.9},
        schedule=Schedule("StepLR", {"step_size": 3, "gamma": 0.1}),
        epochs=20,
        batch_size=512,
        train_transforms=_S5_TRAIN_TRANSFORMS,
        test_transforms=("ToTensor()", NORMALIZE["mnist"]),
        inferred={
            **_S5_RECIPE_INFERRED,
            "schedule": "log: LR divided by 10 every 3 epochs from 1e-2 -> StepLR(step_size=3, gamma=0.1)",
        },
    ),
    results=Results(
        best_train_acc=97.53, best_train_epoch=13,
        best_test_acc=98.55, best_test_epoch=11,
        logged_lr={1: 1e-2, 2: 1e-2, 3: 1e-2, 4: 1e-3, 5: 1e-3, 6: 1e-3, 7: 1e-4, 8: 1e-4,
                   9: 1e-4, 10: 1e-5, 11: 1e-5, 12: 1e-5, 13: 1e-6, 14: 1e-6, 15: 1e-6,
                   16: 1e-7, 17: 1e-7, 18: 1e-7, 19: 1e-8, 20: 1e-8},
        test_acc={1: 77.56, 2: 97.17, 3: 97.88, 4: 98.43, 5: 98.52, 6: 98.50, 7: 98.52,
                  8: 98.52, 9: 98.54, 10: 98.54, 11: 98.55, 12: 98.55, 13: 98.55, 14: 98.55,
                  15: 98.55, 16: 98.55, 17: 98.55, 18: 98.55, 19: 98.55, 20: 98.55},
    ),
    targets=Targets(text=("no targets documented",)),
    errata=(
        "text reports 'train accuracy of 97.39%' (the last epoch's); the best logged is 97.53% at epoch 13",
        "logged test losses (0.0001 from epoch 3) are summed-then-divided inconsistently with the train loss",
    ),    compile_on_cpu=True,
))
class S5NetBias(_S5Base):
    """Seed 001: the S5 network with biases."""
