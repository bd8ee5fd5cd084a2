"""Trial 89 of the rfkit design study 'mnist-6000' (space mnist, mnist): 2,410 parameters, 1,279,920 MACs, RF 34, best validation accuracy 95.65% in 15 epochs, test 93.04% at the last.

Exported by `rfkit design`; train it with `rfkit train THIS_FILE.py:Net` (the recipe below),
print its RF table with `rfkit table THIS_FILE.py:Net`.
"""
import torch.nn as nn

from rfkit.train.recipe import Recipe, Schedule


class Net(nn.Module):
    dataset = 'mnist'
    input_size = (1, 28, 28)
    recipe = Recipe(
        optimizer='SGD',
        optimizer_kwargs={'lr': 0.04928259718371466, 'momentum': 0.9},
        schedule=None,
        epochs=15,
        batch_size=128,
        train_transforms=('RandomRotation((-7.0, 7.0), fill=(1,))', 'RandomAffine(degrees=15)', 'ToTensor()', 'Normalize((0.1307,), (0.3081,))'),
        test_transforms=('ToTensor()', 'Normalize((0.1307,), (0.3081,))'),
        dropout=0.11265786690544669,
    )

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),  # 28x28, RF 3
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.11265786690544669),
            nn.Conv2d(4, 10, 3, padding=1),  # 28x28, RF 5
            nn.BatchNorm2d(10),
            nn.ReLU(),
            nn.Dropout(0.11265786690544669),
            nn.Conv2d(10, 12, 3, padding=1),  # 28x28, RF 7
            nn.BatchNorm2d(12),
            nn.ReLU(),
            nn.Dropout(0.11265786690544669),
        )
        self.transition1 = nn.Sequential(
            nn.Conv2d(12, 4, 1),  # 28x28, RF 7
            nn.MaxPool2d(2, 2),  # 14x14, RF 8
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(4, 6, 3),  # 12x12, RF 12
            nn.ReLU(),
            nn.Dropout(0.11265786690544669),
            nn.BatchNorm2d(6),
            nn.Conv2d(6, 10, 3),  # 10x10, RF 16
            nn.ReLU(),
            nn.Dropout(0.11265786690544669),
            nn.BatchNorm2d(10),
        )
        self.transition2 = nn.Sequential(
            nn.MaxPool2d(2, 2),  # 5x5, RF 18
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # 1x1, RF 34
        )

    def forward(self, x):
        x = self.block1(x)
        x = self.transition1(x)
        x = self.block2(x)
        x = self.transition2(x)
        x = self.head(x)
        return x.flatten(1)
