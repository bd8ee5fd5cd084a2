"""PNG figures of a training run: learning curves and misclassified test images."""
from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure  # no pyplot: no backend switch, no global figure state (a notebook's
# inline plots keep working after a run)

from rfkit.output.plots import save as _save


def learning_curves(metrics: list[dict], path: Path, title: str):
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(10, 3.8))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("test_loss", "test")):
        loss_ax.plot(epochs, [m[key] for m in metrics], marker="o", label=label)
    for key, label in (("train_acc", "train"), ("test_acc", "test")):
        acc_ax.plot(epochs, [m[key] for m in metrics], marker="o", label=label)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def _name(classes: list[str], index: int) -> str:
    """A class name; a model with more outputs than the dataset has classes (the seed's UltimusNet
    returns 48 logits for 10 classes) can predict an index with none, shown as the number."""
    return classes[index] if 0 <= index < len(classes) else str(index)


def misclassified_grid(images: torch.Tensor, truth: list[int], predicted: list[int], classes: list[str],
                       path: Path, title: str):
    """Up to 25 uint8 images (N, C, H, W) with 'true -> predicted' labels."""
    n = len(truth)
    cols = 5
    rows = max(1, (n + cols - 1) // cols)
    fig = Figure(figsize=(cols * 1.8, rows * 2.0))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        image = images[k].cpu()
        if image.shape[0] == 1:
            ax.imshow(image[0].numpy(), cmap="gray")
        else:
            ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_title(f"{_name(classes, truth[k])} -> {_name(classes, predicted[k])}", fontsize=8, color="crimson")
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "no misclassified test images", ha="center", va="center")
    fig.suptitle(title)
    _save(fig, path)
