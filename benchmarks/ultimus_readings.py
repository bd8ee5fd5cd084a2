"""UltimusNet's settings trained under the seed's own pipeline, and the comparison with its log.

    python benchmarks/ultimus_readings.py run --data-dir DIR --out RUN.json [--attention A] [--logits gap|fc]
                                              [--aug seed|none] [--stop-after N] [--seed S] [--cache DIR]
    python benchmarks/ultimus_readings.py report RUN.json|RUN_DIR ...   benchmarks/results/UltimusNet_readings.json,
                                          docs/ultimus_readings.png and the markdown table (RUN_DIR: an
                                          `rfkit train zoo.UltimusNet` run directory, read from its metrics.json)

`run` follows the seed's notebook and code (github.com/sunandhini96/School_of_AI_Assignment_9,
Main_Models@6fa34eb utils.py and main.py): Adam with the card's OneCycleLR over the full 24-epoch
schedule (98 steps an epoch; --stop-after ends the run early without shortening the schedule),
batch 512 reshuffled each epoch, train augmentation as AlbumentationImageDataset applies it
(PadIfNeeded(36, reflect-101) > RandomCrop(32) > Normalize > HorizontalFlip(.5) > Cutout(1 hole 8x8,
fill 0.473363, p=.5) > ToGray(.5); the seed lists them in a Python set, so its order is not
knowable, and this is the order written), test Normalize only in batches of 512 in a fixed random
order (CIFAR-10's test set is unsorted; the JPEG set's folders are class-sorted, which would leak
labels into the batch-mixing readings). Train accuracy is counted over the epoch on the augmented
batches and train loss is the mean batch loss, as the seed printed them.

Without ReLU (the seed's code) the conv stem and the pool are one affine map of S(x), the 26x26
means of every 7x7 offset of the image, so each step computes features = S(x) @ K + b with K the
composed conv weights (autograd through the composition). `run` checks that this equals the
module's own forward, outputs and gradients, in float64 before training: the same network, at
seconds per epoch instead of minutes on a shared 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import zoo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "UltimusNet_readings.json"
FIGURE = ROOT / "docs" / "ultimus_readings.png"
MEAN = torch.tensor([0.49139968, 0.48215841, 0.44653091]).view(1, 3, 1, 1)  # the seed's own constants
STD = torch.tensor([0.24703223, 0.24348513, 0.26158784]).view(1, 3, 1, 1)
SEED_TRAIN_ACC = [15.574, 21.484, 22.698, 19.05, 22.814, 23.446, 23.818, 24.128, 24.344, 24.092, 24.63, 24.702,
                  24.652, 24.818, 24.972, 24.936, 25.272, 25.04, 25.316, 25.138, 25.56, 25.348, 25.678, 25.924]
SEED_TRAIN_LOSS = [2.62711, 2.11942, 2.10211, 2.83089, 2.09412, 2.08744, 2.08331, 2.07809, 2.07603, 2.07687,
                   2.06931, 2.07199, 2.06916, 2.06743, 2.06403, 2.06572, 2.06190, 2.05988, 2.05973, 2.06200,
                   2.06142, 2.05658, 2.05563, 2.04934]


def load(data_dir: Path, cache: Path | None):
    from rfkit.train import data

    splits = {}
    for name, train in (("train", True), ("test", False)):
        path = cache / f"{name}.pt" if cache else None
        if path is not None and path.is_file():
            splits[name] = torch.load(path)
            continue
        split = data.load_split("imagefolder", data_dir, train=train)
        splits[name] = {"images": split.images, "labels": split.labels}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(splits[name], path)
    return splits["train"], splits["test"]


def plain(u8: torch.Tensor) -> torch.Tensor:
    return (u8.float() / 255 - MEAN) / STD


def augment(u8: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = len(u8)
    x = F.pad(u8.float(), (2, 2, 2, 2), mode="reflect")  # cv2 BORDER_REFLECT_101 is torch's "reflect"
    oy, ox = torch.randint(0, 5, (n,), generator=g), torch.randint(0, 5, (n,), generator=g)
    rows = (oy.view(n, 1) + torch.arange(32)).view(n, 1, 32, 1).expand(n, 3, 32, 36)
    x = x.gather(2, rows)
    cols = (ox.view(n, 1) + torch.arange(32)).view(n, 1, 1, 32).expand(n, 3, 32, 32)
    x = x.gather(3, cols)
    x = (x / 255 - MEAN) / STD
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    cut = torch.rand(n, generator=g) < 0.5
    cy, cx = torch.randint(0, 33, (n,), generator=g), torch.randint(0, 33, (n,), generator=g)
    y1, x1 = (cy - 4).clamp(0, 32), (cx - 4).clamp(0, 32)
    r = torch.arange(32)
    hole = ((r.view(1, 32, 1) >= y1.view(n, 1, 1)) & (r.view(1, 32, 1) < (y1 + 8).clamp(max=32).view(n, 1, 1)) &
            (r.view(1, 1, 32) >= x1.view(n, 1, 1)) & (r.view(1, 1, 32) < (x1 + 8).clamp(max=32).view(n, 1, 1)))
    x = torch.where((hole & cut.view(n, 1, 1)).unsqueeze(1), torch.tensor(0.473363), x)
    gray = torch.rand(n, generator=g) < 0.5
    y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1).expand(n, 3, 32, 32)
    return torch.where(gray.view(n, 1, 1, 1), y, x)


def boxes(x: torch.Tensor) -> torch.Tensor:
    """S(x): the 26x26 means of every 7x7 offset, flattened to 147."""
    return F.avg_pool2d(x, 26, stride=1).flatten(1)


def features(m, s: torch.Tensor) -> torch.Tensor:
    """The pooled stem output of a ReLU-free UltimusNet, from S(x)."""
    basis = torch.eye(147, dtype=s.dtype).view(147, 3, 7, 7)
    composed = F.conv2d(F.conv2d(F.conv2d(basis, m.conv1.weight), m.conv2.weight), m.conv3.weight).flatten(1)
    bias = m.conv3(m.conv2(m.conv1(torch.zeros(1, 3, 7, 7, dtype=s.dtype)))).flatten(1)
    return s @ composed + bias


def forward(m, s: torch.Tensor) -> torch.Tensor:
    x = features(m, s)
    out = m.fc(m.ultimus(x))
    return x if m.logits == "gap" else out


def check_equivalence(model, images: torch.Tensor, labels: torch.Tensor):
    m64 = zoo.UltimusNet(attention=model.ultimus[0].attention, relu=False, logits=model.logits).double()
    m64.load_state_dict(model.state_dict())
    x = plain(images).double()
    grads = []
    for out in (m64(x), forward(m64, boxes(x))):
        loss = F.cross_entropy(out, labels) + out.square().mean()
        grads.append((out, torch.autograd.grad(loss, list(m64.parameters()), allow_unused=True)))
    (a, ga), (b, gb) = grads
    assert torch.allclose(a, b, atol=1e-10), "the composed stem differs from the module"
    for p, q in zip(ga, gb):
        assert (p is None) == (q is None) and (p is None or torch.allclose(p, q, atol=1e-10))


def attention_logit_max(block, x: torch.Tensor) -> float:
    q, k = block.Q(x), block.K(x)
    if block.attention == "batch_tokens":
        scores = q @ k.T
    elif block.attention == "batch":
        scores = q.T @ k
    else:
        scores = q.unsqueeze(-1) * k.unsqueeze(-2)
    return (scores / math.sqrt(8)).abs().max().item()


def run(args):
    torch.set_num_threads(1)
    train, test = load(Path(args.data_dir), Path(args.cache) if args.cache else None)
    torch.manual_seed(args.seed)
    model = zoo.UltimusNet(attention=args.attention, relu=False, logits=args.logits)
    check_equivalence(model, train["images"][:16], train["labels"][:16])
    card = zoo.card("UltimusNet")
    opt = getattr(torch.optim, card.recipe.optimizer)(model.parameters(), **card.recipe.optimizer_kwargs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, **dict(card.recipe.schedule.kwargs, epochs=24, steps_per_epoch=98))
    order = torch.randperm(10000, generator=torch.Generator().manual_seed(0))
    test_s, test_y = boxes(plain(test["images"][order])), test["labels"][order]
    epochs, steps = [], []
    for epoch in range(1, args.stop_after + 1):
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
        perm = torch.randperm(50000, generator=g)
        lr, loss_sum, correct, seen, start = opt.param_groups[0]["lr"], 0.0, 0, 0, time.time()
        model.train()
        for i in range(0, 50000, 512):
            idx = perm[i:i + 512]
            x = augment(train["images"][idx], g) if args.aug == "seed" else plain(train["images"][idx])
            y, s = train["labels"][idx], boxes(x)
            out = forward(model, s)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = math.sqrt(sum((p.grad ** 2).sum().item() for p in model.parameters() if p.grad is not None))
            with torch.no_grad():
                feats = features(model, s)
                logit_max = attention_logit_max(model.ultimus[0], feats)
            opt.step()
            sched.step()
            steps.append({"epoch": epoch, "lr": opt.param_groups[0]["lr"], "loss": loss.item(), "grad_norm": grad_norm,
                          "feat_absmax": feats.abs().max().item(), "attn_logit_absmax": logit_max})
            loss_sum += loss.item()
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        model.eval()
        test_correct, test_loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, 10000, 512):
                out = forward(model, test_s[i:i + 512])
                test_loss += F.cross_entropy(out, test_y[i:i + 512]).item()
                test_correct += (out.argmax(1) == test_y[i:i + 512]).sum().item()
        row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / 98, "train_acc": 100 * correct / seen,
               "test_loss": test_loss / 20, "test_acc": test_correct / 100, "seconds": time.time() - start}
        epochs.append(row)
        print(json.dumps(row), flush=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "epochs": epochs, "steps": steps}))


def _commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() or None


def _label(a: dict) -> str:
    if a["logits"] == "gap":
        return "as run (logits = pooled features)" + ("" if a["aug"] == "seed" else ", no augmentation")
    return f"{a['attention']} + classifier" + ("" if a["aug"] == "seed" else ", no augmentation")


def train_run(run_dir: Path) -> dict:
    """An `rfkit train zoo.UltimusNet` run directory (the default network, the card's transforms) as a
    readings entry."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    return {"label": f"rfkit train (default, no augmentation{', compiled' if config.get('compile') else ''})",
            "attention": "batch_tokens", "logits": "gap", "relu": False, "augmentation": "none",
            "seed": config["seed"], "schedule_epochs": config["epochs"], "epochs_run": len(metrics),
            "compile": config.get("compile", False), "threads": config.get("threads"),
            **{k: [round(e[k], 4) for e in metrics] for k in ("test_acc", "train_acc", "train_loss", "test_loss",
                                                              "lr")}}


def report(files: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    card = zoo.card("UltimusNet")
    seed_test = [card.results.test_acc[e] for e in range(1, 25)]
    runs = []
    for f in files:
        if Path(f).is_dir():
            runs.append(train_run(Path(f)))
            continue
        d = json.loads(Path(f).read_text())
        a = d["args"]
        runs.append({"label": _label(a), "attention": a["attention"], "logits": a["logits"], "relu": False,
                     "augmentation": a["aug"], "seed": a["seed"], "schedule_epochs": 24, "epochs_run": len(d["epochs"]),
                     **{k: [round(e[k], 4) for e in d["epochs"]] for k in ("test_acc", "train_acc", "train_loss",
                                                                           "test_loss", "lr")},
                     "max_step_loss": max(s["loss"] for s in d["steps"])})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "network": "UltimusNet", "date": time.strftime("%Y-%m-%d"), "device": "cpu", "torch": torch.__version__,
        "rfkit_commit": _commit(), "dataset": "CIFAR-10 JPEG set (imagefolder)",
        "pipeline": "benchmarks/ultimus_readings.py run: the seed's optimizer, schedule, batch and augmentation",
        "seed_log": {"test_acc": seed_test, "train_acc": SEED_TRAIN_ACC, "train_loss": SEED_TRAIN_LOSS,
                     "lr": [card.results.logged_lr[e] for e in range(1, 25)]},
        "runs": runs}, indent=1) + "\n")

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    epochs = range(1, 25)
    for ax, key, seed_values, title in ((axes[0], "test_acc", seed_test, "test accuracy (%)"),
                                        (axes[1], "train_acc", SEED_TRAIN_ACC, "train accuracy (%), counted during the epoch"),
                                        (axes[2], "train_loss", SEED_TRAIN_LOSS, "train loss (epoch mean)")):
        ax.plot(epochs, seed_values, "k-o", lw=2.5, ms=4, label="seed 004's log")
        for r in runs:
            ax.plot(range(1, r["epochs_run"] + 1), r[key], "-o", ms=3, label=r["label"])
        ax.axvline(6, color="grey", ls=":", lw=1)
        ax.set_title(title)
        ax.set_xlabel("epoch (LR peaks at the start of epoch 6)")
    axes[2].set_yscale("log")
    axes[0].set_ylim(0, 40)
    axes[1].set_ylim(0, 40)
    axes[0].legend(fontsize=7)
    fig.suptitle("UltimusNet on the CIFAR-10 JPEG set, the seed's recipe (Adam, OneCycleLR over 24 epochs, "
                 "batch 512), seed 1, CPU")
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=90)

    print("| setting | test acc, epochs 1-6 (seed: " + " / ".join(f"{v:.2f}" for v in seed_test[:6]) +
          ") | train acc, epochs 1-6 (seed: " + " / ".join(f"{v:.2f}" for v in SEED_TRAIN_ACC[:6]) +
          ") | epochs run | last test acc |")
    print("| --- | --- | --- | --- | --- |")
    for r in runs:
        print(f"| {r['label']} | " + " / ".join(f"{v:.2f}" for v in r["test_acc"][:6]) + " | " +
              " / ".join(f"{v:.2f}" for v in r["train_acc"][:6]) +
              f" | {r['epochs_run']} | {r['test_acc'][-1]:.2f}% |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data-dir", required=True, help="train/<class>/*.jpg and test/<class>/*.jpg")
    r.add_argument("--out", required=True)
    r.add_argument("--attention", default="batch_tokens", choices=zoo.s9.READINGS)
    r.add_argument("--logits", default="gap", choices=("gap", "fc"))
    r.add_argument("--aug", default="seed", choices=("seed", "none"))
    r.add_argument("--stop-after", type=int, default=24)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--cache", help="keep the decoded splits here as .pt files")
    p = sub.add_parser("report")
    p.add_argument("files", nargs="+")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args.files)


if __name__ == "__main__":
    main()
