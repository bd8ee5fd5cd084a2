"""Trial 45 of the rfkit design study 'mnist-6000' (space mnist, mnist): 5,048 parameters, 1,846,320 MACs, RF 46, best validation accuracy 98.21% in 15 epochs, test 97.88% at the last.

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
        optimizer_kwargs={'lr': 0.011230378647287344, 'momentum': 0.9},
        schedule=None,
        epochs=15,
        batch_size=128,
        train_transforms=('ToTensor()', 'Normalize((0.1307,), (0.3081,))'),
        test_transforms=('ToTensor()', 'Normalize((0.1307,), (0.3081,))'),
        dropout=0.06386382202238015,
    )

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False),  # 28x28, RF 3
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.06386382202238015),
            nn.Conv2d(4, 20, 3, padding=1, bias=False),  # 28x28, RF 5
            nn.BatchNorm2d(20),
            nn.ReLU(),
            nn.Dropout(0.06386382202238015),
            nn.Conv2d(20, 4, 3, padding=1, bias=False),  # 28x28, RF 7
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Dropout(0.06386382202238015),
        )
        self.transition1 = nn.Sequential(
            nn.Conv2d(4, 6, 1, bias=False),  # 28x28, RF 7
            nn.MaxPool2d(2, 2),  # 14x14, RF 8
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(6, 12, 3, padding=1, bias=False),  # 14x14, RF 12
            nn.ReLU(),
            nn.BatchNorm2d(12),
            nn.Conv2d(12, 14, 3, padding=1, bias=False),  # 14x14, RF 16
            nn.ReLU(),
            nn.BatchNorm2d(14),
            nn.Conv2d(14, 10, 3, padding=1, bias=False),  # 14x14, RF 20
            nn.ReLU(),
            nn.BatchNorm2d(10),
        )
        self.transition2 = nn.Sequential(
            nn.MaxPool2d(2, 2),  # 7x7, RF 22
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # 1x1, RF 46
        )

    def forward(self, x):
        x = self.block1(x)
        x = self.transition1(x)
        x = self.block2(x)
        x = self.transition2(x)
        x = self.head(x)
        return x.flatten(1)
