"""`rfkit erf`, the end-of-run ERF of `rfkit train`, and `rfkit runs`, on the generated
MNIST-format data of tests/test_train.py; and trained against initial weights on real MNIST.

Oracles: inputs normalised by hand from the generated pixels (not through torchvision),
the ERF of the same weights through the Python API, the cards' documented parameter
counts and RF tables, and metrics.json read back by hand."""
import copy
import dataclasses
import hashlib
import json
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from typer.testing import CliRunner

import rfkit
import zoo
from rfkit.analysis.erf import erf
from rfkit.cli import app
from rfkit.train import config as train_config
from conftest import stripes

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_hand(images: np.ndarray) -> torch.Tensor:
    """ToTensor + Normalize((0.1307,), (0.3081,)) written out: uint8 (N, 28, 28) -> float32 (N, 1, 28, 28)."""
    x = torch.from_numpy(images.astype(np.uint8)).unsqueeze(1).float() / 255
    return (x - torch.tensor(0.1307)) / torch.tensor(0.3081)


def fake_test_images(n: int) -> torch.Tensor:
    """The first n test images the mnist_dir fixture wrote (t10k: stripes(100, seed 1))."""
    return by_hand(np.clip(stripes(100, 1)[0], 0, 255)[:n])


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def state_file(tmp_path_factory):
    """A MnistNet_3 state_dict with non-default weights (and the model that holds them)."""
    torch.manual_seed(11)
    model = zoo.MnistNet_3()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("ckpt") / "weights.pt"
    torch.save(model.state_dict(), path)
    return path, model


# ---------------------------------------------------------------- rfkit erf

def test_cli_json_equals_the_api_on_the_same_weights(state_file):
    path, model = state_file
    before = digest(path)
    result = runner.invoke(app, ["erf", "zoo.MnistNet_3", "--checkpoint", str(path), "--samples", "5",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    want = erf(model, (1, 28, 28), samples=5)
    assert data["schema"] == "rfkit.erf/1" and data["model"] == "MnistNet_3" and data["weights"] == str(path)
    assert data["layer"] == "block2.11" and data["rf"] == [18, 18] and data["samples"] == 5
    assert np.array_equal(np.array(data["map"]), want.map.numpy())
    assert data["area_ratio"] == {f"{t:g}": v for t, v in want.area_ratio.items()}
    assert abs(data["in_rf_share"] - 1) < 1e-9
    assert digest(path) == before  # read, never written


def test_cli_dataset_writes_png_and_json_and_prints_the_panel(mnist_dir, state_file, tmp_path):
    path, model = state_file
    out = tmp_path / "out"
    result = runner.invoke(app, ["erf", "zoo.MnistNet_3", "--dataset", "mnist", "--data-dir", str(mnist_dir),
                                 "--samples", "16", "--checkpoint", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "effective receptive field of MnistNet_3" in result.output and "first 16 mnist test images" in result.output
    assert "100.0000%" in result.output  # mass inside the theoretical RF
    assert (out / "erf.png").read_bytes()[:8] == PNG
    data = json.loads((out / "erf.json").read_text())
    want = erf(model, fake_test_images(16))
    assert data["samples"] == 16 and data["input_shape"] == [16, 1, 28, 28]
    assert np.allclose(np.array(data["map"]), want.map.numpy(), atol=1e-12, rtol=0)


def test_cli_layer_and_a_1d_model(tmp_path):
    net = tmp_path / "oned.py"
    net.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Conv1d(4, 4, 5, dilation=2), nn.ReLU(),
                                 nn.AdaptiveAvgPool1d(1))
    """))
    out = tmp_path / "out"
    result = runner.invoke(app, ["erf", f"{net}:Net", "-i", "2,40", "--layer", "0", "--out", str(out), "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["layer"] == "0" and data["rf"] == [3] and len(data["map"]) == 40 and data["rf_box"] == [[19, 21]]  # output 38 long: centre 19 reads inputs 19..21
    assert (out / "erf.png").read_bytes()[:8] == PNG
    default = json.loads(runner.invoke(app, ["erf", f"{net}:Net", "-i", "2,40", "-f", "json"]).output)
    assert default["layer"] == "3" and default["rf"] == [11]  # the ReLU entering the global pool


def test_cli_errors_are_one_line(tmp_path, state_file, monkeypatch):
    path, _ = state_file
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--layer", "block9.0"]), "'block9.0'", "block1.0")
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--checkpoint", str(tmp_path / "nope.pt")]),
                   "does not exist")
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--checkpoint", str(tmp_path)]), "no best.pt")
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--samples", "0"]), "positive")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:300])
    before = digest(broken)
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--checkpoint", str(broken)]), "cannot read")
    assert digest(broken) == before
    other = tmp_path / "other.pt"
    torch.save({"model": zoo.MnistNet_1().state_dict(), "epoch": 3}, other)
    before = digest(other)
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--checkpoint", str(other)]),
                   "does not fit MnistNet_3", "missing", "shapes differ")
    assert digest(other) == before

    def offline(self):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    one_line_error(runner.invoke(app, ["erf", "zoo.MnistNet_3", "--dataset", "mnist", "--data-dir",
                                       str(tmp_path / "empty")]), "MNIST/raw", "--data-dir")


# ---------------------------------------------------------------- rfkit train's ERF, and rfkit runs

SYNTHETIC_ACCS = [97.5, 98.2, 97.9]  # a hand-written MnistNet_1 run: its card's target (98%) met at epoch 2


@pytest.fixture(scope="module")
def runs_root(mnist_dir, tmp_path_factory):
    """A tiny MnistNet_3 run through the CLI (1 epoch), and a hand-written MnistNet_1 run directory
    (config.json as rfkit train writes it, metrics.json, no erf.json, no checkpoint)."""
    root = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--data-dir", str(mnist_dir), "--epochs", "1",
                                 "--batch-size", "64", "--device", "cpu", "--seed", "3",
                                 "--run-dir", str(root / "m3")])
    assert result.exit_code == 0, result.output
    cfg = train_config.make_config("zoo.MnistNet_1", "MnistNet_1", zoo.card("MnistNet_1"), data_dir=mnist_dir,
                                   run_dir=root / "m1", device="cpu", epochs=3, seed=4, threads=3,
                                   compile=True)
    (root / "m1").mkdir()
    (root / "m1" / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    metrics = [{"epoch": e + 1, "test_acc": acc, "seconds": 10.0 + e} for e, acc in enumerate(SYNTHETIC_ACCS)]
    (root / "m1" / "metrics.json").write_text(json.dumps(metrics))
    return root, result.output


def test_train_writes_the_best_checkpoints_erf(runs_root):
    root, output = runs_root
    run = root / "m3"
    assert "ERF area ratio (best.pt, 100 test images)" in output and "ERF mass inside the theoretical RF" in output
    assert (run / "erf.png").read_bytes()[:8] == PNG
    data = json.loads((run / "erf.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    best = max(metrics, key=lambda m: m["test_acc"])
    assert data["weights"] == f"best.pt (epoch {best['epoch']})" and data["layer"] == "block2.11"
    model = zoo.MnistNet_3()
    model.load_state_dict(torch.load(run / "best.pt", weights_only=True)["model"])
    want = erf(model, fake_test_images(100))  # the fixture's whole test split: 100 < 256
    assert data["samples"] == 100
    assert np.allclose(np.array(data["map"]), want.map.numpy(), atol=1e-12, rtol=0)
    assert abs(data["in_rf_share"] - 1) < 1e-6


def test_runs_table_against_the_run_directories(runs_root):
    root, _ = runs_root
    result = runner.invoke(app, ["runs", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == "rfkit.runs/1"
    rows = {r["network"]: r for r in data["runs"]}
    assert set(rows) == {"MnistNet_1", "MnistNet_3"}
    for name, row in rows.items():  # traced from the run's model spec: the cards' documented numbers
        assert row["params"] == zoo.card(name).documented.params
        assert row["macs"] == rfkit.trace(zoo.create(name), (1, 28, 28)).macs
        assert row["rf"] == [28, 28] and row["device"] == "cpu" and row["note"] == ""
    assert rows["MnistNet_1"]["threads"] == 3 and rows["MnistNet_3"]["threads"] == torch.get_num_threads()
    assert rows["MnistNet_1"]["compile"] is True and rows["MnistNet_3"]["compile"] is False
    # documented RF tables: MnistNet_3 18 entering its GAP, MnistNet_1 20 entering its last (global) conv
    assert rows["MnistNet_3"]["rf_before_global"] == [18, 18] and rows["MnistNet_1"]["rf_before_global"] == [20, 20]

    m3 = rows["MnistNet_3"]
    metrics = json.loads((root / "m3" / "metrics.json").read_text())
    erf_data = json.loads((root / "m3" / "erf.json").read_text())
    accs = [m["test_acc"] for m in metrics]
    assert m3["best_test_acc"] == max(accs) and m3["final_test_acc"] == accs[-1]
    assert m3["best_epoch"] == metrics[accs.index(max(accs))]["epoch"]
    assert m3["epochs_done"] == m3["epochs"] == 1 and m3["seed"] == 3
    assert m3["seconds_per_epoch"] == metrics[0]["seconds"]
    assert m3["erf_area_50"] == erf_data["area_ratio"]["0.5"] and m3["erf_area_99"] == erf_data["area_ratio"]["0.99"]
    assert m3["erf_in_rf"] == erf_data["in_rf_share"] and m3["erf_layer"] == "block2.11"
    assert m3["target_acc"] == 99.4 and m3["target_epoch"] is None  # 320 striped images: far from 99.4%

    m1 = rows["MnistNet_1"]
    assert (m1["best_test_acc"], m1["best_epoch"], m1["final_test_acc"]) == (98.2, 2, 97.9)
    assert (m1["target_acc"], m1["target_epoch"]) == (98.0, 2)
    assert m1["seconds_per_epoch"] == 11.0 and m1["epochs_done"] == m1["epochs"] == 3
    assert m1["erf_area_50"] is m1["erf_area_99"] is m1["erf_in_rf"] is None


def test_runs_formats_and_plot(runs_root, tmp_path):
    root, _ = runs_root
    md = runner.invoke(app, ["runs", str(root / "m1"), str(root / "m3"), "-f", "markdown"]).output.splitlines()
    assert md[0].startswith("| run | network | params | MACs | RF out | RF pre-global | ERF 0.5 | ERF 0.99 |")
    assert [line.split(" | ")[1] for line in md[2:]] == ["MnistNet_1", "MnistNet_3"]
    macs = f"{rfkit.trace(zoo.MnistNet_1(), (1, 28, 28)).macs:,}"
    assert md[2] == f"| m1 | MnistNet_1 | 8,620 | {macs} | 28 | 20 | - | - | 98.20% (ep 2) | 97.90% (3/3) | epoch 2 | 11.0 | cpu, 3 thr, compiled |"
    csv_lines = runner.invoke(app, ["runs", str(root), "-f", "csv"]).output.splitlines()
    assert csv_lines[0].startswith("run_dir,network,model,dataset,device,seed") and len(csv_lines) == 3
    plot = tmp_path / "runs.png"
    result = runner.invoke(app, ["runs", str(root), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "MnistNet_3" in result.output and plot.read_bytes()[:8] == PNG
    assert [r.network for r in rfkit.runs([root])] == ["MnistNet_1", "MnistNet_3"]


def test_runs_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(runner.invoke(app, ["runs"]), "no runs/")
    (tmp_path / "empty").mkdir()
    one_line_error(runner.invoke(app, ["runs", "empty"]), "not a run directory")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    one_line_error(runner.invoke(app, ["runs", "bad"]), "cannot read config")


# ---------------------------------------------------------------- trained against initial weights, real MNIST

def test_trained_mnistnet3_uses_a_different_erf_inside_its_rf(data_dir):
    """40 SGD steps of MnistNet_3 on real MNIST change the ERF of the tensor entering
    its GAP; before and after, all of its mass lies inside the 18x18 theoretical RF."""
    from rfkit.train.data import load_split

    train, test = load_split("mnist", data_dir, train=True), load_split("mnist", data_dir, train=False)
    torch.manual_seed(0)
    model = zoo.MnistNet_3()
    init = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):
        idx = torch.randint(0, len(train), (64,), generator=gen)
        loss = F.cross_entropy(model(by_hand(train.images[idx, 0].numpy())), train.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(by_hand(test.images[:500, 0].numpy())).argmax(1) == test.labels[:500]).float().mean()
    assert acc > 0.4  # it learned (chance: 0.1)
    x = by_hand(test.images[:32, 0].numpy())
    before, after = erf(init, x), erf(model, x)
    assert before.layer == after.layer == "block2.11" and before.rf_box == after.rf_box
    assert abs(before.in_rf_share - 1) < 1e-6 and abs(after.in_rf_share - 1) < 1e-6
    distance = 0.5 * (before.map - after.map).abs().sum().item()  # total variation, in [0, 1]
    assert distance > 0.05, distance  # 0.11 after these 40 steps
