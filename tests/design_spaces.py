"""Define-by-run spaces for tests/test_design*.py: small and fast on the synthetic MNIST."""
import time

import torch.nn as nn


def tiny(trial):
    """Two conv widths and a GAP head; a few hundred parameters."""
    w1 = trial.suggest_categorical("w1", [4, 6, 8])
    w2 = trial.suggest_categorical("w2", [8, 12, 16])
    return nn.Sequential(nn.Conv2d(1, w1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(w1, w2, 3), nn.ReLU(),
                         nn.Conv2d(w2, 10, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def slow(trial):
    """`tiny`, with a forward slowed down: a trial that lasts long enough to be killed in."""

    class Slow(nn.Module):
        def forward(self, x):
            time.sleep(0.2)
            return x

    return nn.Sequential(Slow(), tiny(trial))


def raises(trial):
    trial.suggest_int("n", 0, 1)
    raise ValueError("this space is broken")


def returns_none(trial):
    trial.suggest_int("n", 0, 1)
    return None
