"""Training on a few hundred generated images in torchvision's on-disk MNIST format (CPU)."""
import json
import textwrap

import numpy as np
import pytest
import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from typer.testing import CliRunner

from conftest import stripes
from rfkit.train import augment, data
from rfkit.train import config as train_config
from rfkit.train import trainer as training
from rfkit.cli import app
from rfkit.errors import RfkitError
from rfkit.loading import load

runner = CliRunner()


def config(mnist_dir, tmp_path, name="r", **kw):
    values = dict(data_dir=mnist_dir, run_dir=tmp_path / name, device="cpu", epochs=2, batch_size=32, seed=3)
    values.update(kw)
    import zoo
    return train_config.make_config("zoo.MnistNet_3", "MnistNet_3", zoo.card("MnistNet_3"), **values)


def begin(cfg, resume=False):
    """A trainer for `cfg`, its model built under the run's seed as `rfkit train` builds it."""
    torch.manual_seed(cfg.seed)
    return training.start(cfg, load(cfg.model, need_size=False).model, resume=resume)


def test_torchvision_reads_the_generated_files(mnist_dir):
    ds = torchvision.datasets.MNIST(str(mnist_dir), train=True, download=False)
    assert len(ds) == 320 and ds[0][0].size == (28, 28)


def test_loss_falls_and_run_directory_is_complete(mnist_dir, tmp_path):
    cfg = config(mnist_dir, tmp_path, epochs=3)
    result = begin(cfg).run()
    losses = [m["train_loss"] for m in result.metrics]
    assert losses[-1] < losses[0]
    run = tmp_path / "r"
    for name in ("config.json", "metrics.csv", "metrics.json", "curves.png", "misclassified.png", "last.pt",
                 "best.pt"):
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text())["optimizer_kwargs"] == {"lr": 0.05, "momentum": 0.9}
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "lr", "train_loss"] and len(rows) == 4
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and len(state["metrics"]) == 3
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["metrics"]["test_acc"] == max(m["test_acc"] for m in result.metrics)
    assert [m["lr"] for m in result.metrics] == [0.05, 0.05, 0.05]  # StepLR(4, 0.35) from the card


def test_resume_equals_uninterrupted(mnist_dir, tmp_path):
    whole = begin(config(mnist_dir, tmp_path, "whole", epochs=3)).run()
    begin(config(mnist_dir, tmp_path, "part", epochs=2)).run()
    resumed_cfg = train_config.load_config(tmp_path / "part", epochs=3)
    resumed = begin(resumed_cfg, resume=True).run()
    strip = [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in resumed.metrics]
    expected = [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in whole.metrics]
    assert strip == expected


def _metrics(result):
    return [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in result.metrics]


def test_a_run_keeps_its_thread_count_and_resumes_with_it(mnist_dir, tmp_path):
    process = torch.get_num_threads()
    assert config(mnist_dir, tmp_path).threads == process
    assert config(mnist_dir, tmp_path, threads=2).device_label() == "cpu, 2 threads"
    one = _metrics(begin(config(mnist_dir, tmp_path, "one", epochs=2, threads=1)).run())
    two = _metrics(begin(config(mnist_dir, tmp_path, "two", epochs=2, threads=2)).run())
    assert torch.get_num_threads() == process
    assert one != two  # the thread count is part of a CPU run: the sums split differently
    begin(config(mnist_dir, tmp_path, "part", epochs=1, threads=1)).run()
    torch.set_num_threads(2)
    try:
        resumed = begin(train_config.load_config(tmp_path / "part", epochs=2), resume=True).run()
    finally:
        torch.set_num_threads(process)
    assert _metrics(resumed) == one
    assert json.loads((tmp_path / "part" / "config.json").read_text())["threads"] == 1


@pytest.mark.parametrize("loader", ["fast", "torchvision"])
def test_evaluation_does_not_depend_on_the_test_batch(mnist_dir, tmp_path, loader):
    trainer = begin(config(mnist_dir, tmp_path, loader=loader, workers=0))
    trainer.train_epoch(1)
    assert training.eval_batch_size(trainer.device) == 128
    results = [trainer.evaluate(size) for size in (None, 7, 1000)]
    assert len({r[0]["test_acc"] for r in results}) == 1
    for metrics, wrong_idx, wrong_pred in results[1:]:
        assert metrics["test_loss"] == pytest.approx(results[0][0]["test_loss"], rel=1e-5)
        assert torch.equal(wrong_idx, results[0][1]) and torch.equal(wrong_pred, results[0][2])


def test_torchvision_loader_runs_the_same_recipe(mnist_dir, tmp_path):
    result = begin(config(mnist_dir, tmp_path, epochs=1, loader="torchvision", workers=0)).run()
    assert len(result.metrics) == 1 and 0 <= result.metrics[0]["test_acc"] <= 100
    assert (tmp_path / "r" / "misclassified.png").is_file()


def test_refuses_to_overwrite_a_run(mnist_dir, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(RfkitError, match="exists and is not empty"):
        begin(config(mnist_dir, tmp_path))
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"


NAN_NET = textwrap.dedent("""
    import torch
    from zoo import MnistNet_3

    class Diverging(MnistNet_3):
        '''MnistNet_3 whose output turns NaN after 12 training batches (epoch 2 at 10 batches per epoch).'''

        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

        def forward(self, x):
            out = super().forward(x)
            if self.training:
                self.calls += 1
                if self.calls > 12:
                    out = out * float("nan")
            return out
""")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(mnist_dir, tmp_path):
    path = tmp_path / "diverging.py"
    path.write_text(NAN_NET)
    import zoo
    cfg = train_config.make_config(f"{path}:Diverging", "Diverging", zoo.card("MnistNet_3"), data_dir=mnist_dir,
                               run_dir=tmp_path / "r", device="cpu", epochs=3, batch_size=32)
    with pytest.raises(training.Diverged, match=r"became nan in epoch 2.*last.pt \(epoch 1\)"):
        begin(cfg).run()
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["epoch"] == 1


def test_missing_data_names_the_files(tmp_path, monkeypatch):
    def offline(self):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(RfkitError) as info:
        data.load_split("mnist", tmp_path, train=True)
    message = str(info.value)
    assert "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte" in message and "download failed" in message
    assert "\n" not in message


def test_cuda_without_cuda_is_one_line_error():
    bad = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(RfkitError, match="CUDA|CUDA device"):
        train_config.resolve_device(bad)
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--device", bad])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_cli_train_one_epoch(mnist_dir, tmp_path):
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--data-dir", str(mnist_dir), "--epochs", "1",
                                 "--batch-size", "64", "--device", "cpu", "--run-dir", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "Epoch   1/1" in result.output and "MnistNet_3: results" in result.output
    assert "documented (seed)" in result.output and "99.45% (epoch 10)" in result.output


@pytest.mark.parametrize("loader", ["fast", "torchvision"])
def test_s5_recipe_trains_with_either_loader(mnist_dir, tmp_path, loader):
    result = runner.invoke(app, ["train", "zoo.S5Net", "--data-dir", str(mnist_dir), "--epochs", "1", "--device", "cpu",
                                 "--loader", loader, "--run-dir", str(tmp_path / loader)])
    assert result.exit_code == 0, result.output
    assert "Epoch   1/1" in result.output


def test_non_zoo_model_needs_a_dataset():
    result = runner.invoke(app, ["train", "torchvision.models.resnet18"])
    assert result.exit_code == 2 and "--dataset" in result.output


# Augmentation fidelity: the fast loader against torchvision's own transforms.


def _pil(images: torch.Tensor) -> list:
    return [Image.fromarray(im[0].numpy(), mode="L") for im in images]


@pytest.mark.parametrize("angle", [-7.0, -2.5, 3.3, 6.999, 15.0])
def test_pixel_exact_rotation_and_affine_at_fixed_angles(angle):
    images = torch.from_numpy(stripes(64, 7)[0].astype(np.uint8)).unsqueeze(1)
    n = len(images)
    rotated = augment.pil_affine_nearest(images, augment.rotation_matrix(torch.full((n,), angle), 28, 28),
                                         torch.tensor([1], dtype=torch.uint8))
    expected = torch.stack([torch.from_numpy(np.array(TF.rotate(p, angle, fill=(1,)))) for p in _pil(images)])
    assert torch.equal(rotated[:, 0], expected)
    z = torch.zeros(n)
    matrix = augment.inverse_affine_matrix(torch.full((n,), angle), z + 2, z - 1, z + 0.9, z + 4, z, 28, 28)
    warped = augment.pil_affine_nearest(images, matrix, torch.tensor([0], dtype=torch.uint8))
    expected = torch.stack([torch.from_numpy(np.array(TF.affine(p, angle, [2, -1], 0.9, [4.0, 0.0])))
                            for p in _pil(images)])
    assert torch.equal(warped[:, 0], expected)


@pytest.mark.parametrize("angle", [-37.5, 0.0, 90.0, 151.0])
def test_pixel_exact_affine_on_colour_non_square_images_with_a_fill_per_channel(angle):
    gen = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (6, 3, 20, 33), dtype=torch.uint8, generator=gen)
    n, fill = len(images), (10, 200, 30)
    z = torch.zeros(n)
    matrix = augment.inverse_affine_matrix(torch.full((n,), angle), z + 5, z - 3, z + 0.6, z - 12, z + 7, 33, 20)
    warped = augment.pil_affine_nearest(images, matrix, torch.tensor(fill, dtype=torch.uint8))
    expected = torch.stack([TF.pil_to_tensor(TF.affine(TF.to_pil_image(image), angle, [5, -3], 0.6, [-12.0, 7.0],
                                                       fill=list(fill))) for image in images])
    assert (warped == torch.tensor(fill).view(1, 3, 1, 1)).all(1).any()  # the frame is reached
    assert torch.equal(warped, expected)


def test_fast_and_torchvision_augmentations_draw_the_same_distributions():
    import zoo
    specs = zoo.card("MnistNet_3").recipe.train_transforms
    image = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    image[0, 0, 4:24, 12:16] = 255  # a vertical bar: rotations spread it
    n = 3000
    fast = augment.DeviceAugment(specs)(image.expand(n, 1, 28, 28), torch.Generator().manual_seed(0))
    pipeline = augment.torchvision_pipeline(specs)
    torch.manual_seed(0)
    pil = _pil(image)[0]
    reference = torch.stack([pipeline(pil) for _ in range(n)])
    assert fast.shape == reference.shape and fast.dtype == reference.dtype
    # per-pixel means and the spread of the bar's mass agree within sampling error
    assert (fast.mean(0) - reference.mean(0)).abs().max() < 0.12
    def width(batch):
        mass = (batch[:, 0] > 0).float().sum(1)  # bright pixels per row
        return mass.mean(0)
    assert (width(fast) - width(reference)).abs().max() < 0.35
    assert abs(fast.mean().item() - reference.mean().item()) < 0.01


def test_per_image_steps_are_torchvisions_own_and_randomapply_draws_its_p():
    """S5's `RandomApply([CenterCrop(22)], p=0.1), Resize((28, 28))`: both branches pixel for pixel
    as torchvision makes them, and each sample takes the crop with probability p."""
    import zoo
    specs = zoo.card("S5Net").recipe.train_transforms
    fast = augment.DeviceAugment(specs)
    images = torch.from_numpy(stripes(40, 5)[0].astype(np.uint8)).unsqueeze(1)
    variants = fast.variants(images)
    plain = augment.torchvision_pipeline(("Resize((28, 28))",))
    cropped = augment.torchvision_pipeline(("CenterCrop(22)", "Resize((28, 28))"))
    for k, p in enumerate(_pil(images)):
        assert torch.equal(variants[0, k, 0], torch.from_numpy(np.array(plain(p))))
        assert torch.equal(variants[1, k, 0], torch.from_numpy(np.array(cropped(p))))
    one = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    one[0, 0, 2, :] = 255  # a line the 22-pixel centre crop cuts away
    no_rotation = augment.DeviceAugment(("RandomApply([CenterCrop(22)], p=0.1)", "Resize((28, 28))", "ToTensor()"))
    out = no_rotation(no_rotation.variants(one).expand(-1, 20000, -1, -1, -1), torch.Generator().manual_seed(3))
    share = (out[:, 0, 2].amax(1) == 0).float().mean().item()  # the line cropped away
    assert abs(share - 0.1) < 0.007  # 3.3 standard errors
    assert torch.equal(no_rotation(one, None), one.float().div(255))  # evaluation: the branch never taken


def test_s5_recipe_fast_and_torchvision_draw_the_same_distributions():
    import zoo
    specs = zoo.card("S5NetBias").recipe.train_transforms
    image = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    image[0, 0, 3:25, 12:16] = 255
    n = 3000
    fast = augment.DeviceAugment(specs)(image.expand(n, 1, 28, 28), torch.Generator().manual_seed(0))
    pipeline = augment.torchvision_pipeline(specs)
    torch.manual_seed(0)
    reference = torch.stack([pipeline(_pil(image)[0]) for _ in range(n)])
    assert (fast.mean(0) - reference.mean(0)).abs().max() < 0.12
    assert abs(fast.mean().item() - reference.mean().item()) < 0.01


@pytest.mark.parametrize("specs", [("RandomApply([ColorJitter(0.2)], p=0.5)", "ToTensor()"),
                                   ("RandomRotation(5)", "Resize((28, 28))", "ToTensor()"),
                                   ("RandomApply([CenterCrop(20)], p=0.5)", "RandomApply([CenterCrop(22)], p=0.5)")])
def test_per_image_steps_the_fast_loader_cannot_place_ask_for_torchvision(specs):
    with pytest.raises(RfkitError, match="--loader torchvision"):
        augment.DeviceAugment(specs)


def test_randomapply_branches_of_two_sizes_ask_for_torchvision():
    fast = augment.DeviceAugment(("RandomApply([CenterCrop(22)], p=0.5)", "ToTensor()"))
    with pytest.raises(RfkitError, match="one image size"):
        fast.variants(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_normalisation_is_bitwise_torchvision():
    images = torch.from_numpy(stripes(16, 3)[0].astype(np.uint8)).unsqueeze(1)
    specs = ("ToTensor()", "Normalize((0.1307,), (0.3081,))")
    ours = augment.DeviceAugment(specs)(images, None)
    theirs = torch.stack([augment.torchvision_pipeline(specs)(p) for p in _pil(images)])
    assert torch.equal(ours, theirs)


def test_crop_and_flip_match_torchvision_for_fixed_parameters():
    images = torch.from_numpy(stripes(8, 4)[0].astype(np.uint8)).unsqueeze(1)
    step = augment.build(("RandomCrop(28, padding=4)",))[0]
    gen = torch.Generator().manual_seed(5)
    out = augment.DeviceAugment._crop(step, images, gen)
    gen = torch.Generator().manual_seed(5)
    i = torch.randint(0, 9, (8,), generator=gen)
    j = torch.randint(0, 9, (8,), generator=gen)
    for k, p in enumerate(_pil(images)):
        expected = TF.crop(TF.pad(p, 4), int(i[k]), int(j[k]), 28, 28)
        assert torch.equal(out[k, 0], torch.from_numpy(np.array(expected)))
    flipped = augment.DeviceAugment(("RandomHorizontalFlip(p=1.0)",))(images, torch.Generator())
    assert torch.equal(flipped, images.flip(-1).float().div(255))


def test_unsupported_transform_asks_for_the_torchvision_loader():
    with pytest.raises(RfkitError, match="--loader torchvision"):
        augment.DeviceAugment(("ColorJitter(0.2)",))


def test_ctrl_c_keeps_the_last_epoch_and_says_how_to_resume(mnist_dir, tmp_path, monkeypatch):
    original = training.Trainer.train_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(training.Trainer, "train_epoch", interrupted)
    run = tmp_path / "ctrl-c"
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--data-dir", str(mnist_dir), "--epochs", "3",
                                 "--batch-size", "64", "--device", "cpu", "--run-dir", str(run)])
    assert result.exit_code == 130
    assert f"Resume with: rfkit train --resume {run}" in result.output
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(training.Trainer, "train_epoch", original)
    resumed = runner.invoke(app, ["train", "--resume", str(run), "--device", "cpu"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "metrics.json").read_text())[-1]["epoch"] == 3


def test_real_mnist_loads_with_documented_statistics(data_dir):
    train, test = data.load_split("mnist", data_dir, True), data.load_split("mnist", data_dir, False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.bincount().tolist()[1] == 6742
    pixels = train.images.float() / 255
    assert round(pixels.mean().item(), 4) == 0.1307 and round(pixels.std().item(), 4) == 0.3081
    images = test.images[:200]
    angles = torch.empty(200).uniform_(-7, 7, generator=torch.Generator().manual_seed(2))
    ours = augment.pil_affine_nearest(images, augment.rotation_matrix(angles, 28, 28),
                                      torch.tensor([1], dtype=torch.uint8))
    for k in range(0, 200, 20):
        expected = TF.rotate(_pil(images[k:k + 1])[0], float(angles[k]), fill=(1,))
        assert torch.equal(ours[k, 0], torch.from_numpy(np.array(expected)))


COUNTED_NET = textwrap.dedent("""
    from pathlib import Path
    from zoo import MnistNet_3

    class Counted(MnistNet_3):
        '''MnistNet_3 that notes every construction in builds.txt beside this file.'''

        def __init__(self):
            super().__init__()
            with open(Path(__file__).with_name("builds.txt"), "a") as f:
                f.write("built\\n")
""")


def train_from_source(source: str, cls: str, mnist_dir, tmp_path, run_dir, *extra):
    """`rfkit train` of class `cls` written to a module file, one epoch on the generated MNIST."""
    path = tmp_path / f"{cls.lower()}.py"
    path.write_text(source)
    return runner.invoke(app, ["train", f"{path}:{cls}", "--dataset", "mnist", "--data-dir", str(mnist_dir),
                               "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--run-dir", str(run_dir),
                               *extra])


def test_train_builds_the_model_once(mnist_dir, tmp_path):
    result = train_from_source(COUNTED_NET, "Counted", mnist_dir, tmp_path, tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "builds.txt").read_text().splitlines() == ["built"]
    assert "RF at output" in result.output  # the final panel traced the trained model


VIEW_FLATTEN_NET = textwrap.dedent("""
    import torch.nn as nn

    class ViewFlatten(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(self.conv(x).view(-1, 4 * 28 * 28))
""")


def test_channels_last_by_default_and_not_for_a_forward_that_views(mnist_dir, tmp_path):
    assert begin(config(mnist_dir, tmp_path, "cl")).memory_format == torch.channels_last
    result = train_from_source(VIEW_FLATTEN_NET, "ViewFlatten", mnist_dir, tmp_path, tmp_path / "view")
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "view" / "metrics.json").read_text())) == 1


@pytest.mark.parametrize("name", ["MnistNet_3", "S6Net", "UltimusNet"])
def test_channels_last_leaves_the_rf_and_summary_as_they_were(name):
    import rfkit
    import zoo

    contiguous = zoo.create(name)
    before = {style: str(rfkit.summary(contiguous, style=style)) for style in ("torchinfo", "torchsummary")}
    size = zoo.card(name).input_size
    report = rfkit.trace(contiguous, size).to_dict(all_rows=True)
    moved = contiguous.to(memory_format=torch.channels_last)
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
               and not p.is_contiguous() for p in moved.parameters())
    assert rfkit.trace(moved, size).to_dict(all_rows=True) == report
    assert {style: str(rfkit.summary(moved, style=style)) for style in before} == before


BROKEN_NET = textwrap.dedent("""
    import torch.nn as nn

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 10)

        def forward(self, x):
            return self.fc(x)
""")


def test_a_run_that_never_finished_an_epoch_can_start_again(mnist_dir, tmp_path):
    run = tmp_path / "run"
    failed = train_from_source(BROKEN_NET, "Broken", mnist_dir, tmp_path, run)
    assert failed.exit_code == 1 and [p.name for p in run.iterdir()] == ["config.json"]
    resumed = runner.invoke(app, ["train", "--resume", str(run)])
    assert resumed.exit_code == 2 and "start it again without --resume" in resumed.output
    args = ["--data-dir", str(mnist_dir), "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--run-dir",
            str(run)]
    fixed = runner.invoke(app, ["train", "zoo.MnistNet_3", *args])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads((run / "config.json").read_text())["model"] == "zoo.MnistNet_3"
    again = runner.invoke(app, ["train", "zoo.MnistNet_3", *args])  # a finished run is still refused
    assert again.exit_code == 2 and "exists and is not empty" in again.output


def test_a_directory_with_a_foreign_config_json_is_not_reused(mnist_dir, tmp_path):
    run = tmp_path / "mine"
    run.mkdir()
    (run / "config.json").write_text('{"theme": "dark"}')
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--data-dir", str(mnist_dir), "--epochs", "1",
                                 "--device", "cpu", "--run-dir", str(run)])
    assert result.exit_code == 2 and "exists and is not empty" in result.output
    assert (run / "config.json").read_text() == '{"theme": "dark"}'


def test_compile_is_the_default_only_where_it_was_measured_to_help(mnist_dir, tmp_path, monkeypatch,
                                                                   compile_default):
    import zoo
    monkeypatch.setattr(train_config, "compiler_found", lambda: True)
    assert [n for n in zoo.names() if not zoo.card(n).compile_on_cpu] == ["S6Net"]
    assert config(mnist_dir, tmp_path).compile is True
    assert config(mnist_dir, tmp_path, compile=False).compile is False
    assert train_config.default_compile(zoo.card("S6Net"), "cpu") is False  # measured slower compiled
    assert train_config.default_compile(zoo.card("MnistNet_3"), "cuda") is False  # no GPU measured
    assert train_config.default_compile(None, "cpu") is False  # a user's model: unmeasured
    monkeypatch.setattr(train_config, "compiler_found", lambda: False)
    assert config(mnist_dir, tmp_path).compile is False


def test_compile_without_a_compiler_is_one_line_error_before_anything_is_written(mnist_dir, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(train_config, "compiler_found", lambda: False)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "zoo.MnistNet_3", "--compile", "--data-dir", str(mnist_dir), "--epochs",
                                 "1", "--device", "cpu", "--run-dir", str(run)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "no C++ compiler" in result.output and "--no-compile" in result.output
    assert not run.exists()


def test_a_compiled_run_repeats_for_its_seed_and_resumes_to_the_same_result(mnist_dir, tmp_path, compile_default):
    if not train_config.compiler_found():
        pytest.skip("no C++ compiler here: torch.compile cannot build CPU kernels")
    args = ["--data-dir", str(mnist_dir), "--device", "cpu", "--seed", "3", "--batch-size", "160"]

    def train(name, *more):
        result = runner.invoke(app, ["train", "zoo.MnistNet_3", *args, "--run-dir", str(tmp_path / name), *more])
        assert result.exit_code == 0, result.output
        return result.output

    assert "torch.compile (the first epoch compiles)" in train("whole", "--epochs", "2")
    assert json.loads((tmp_path / "whole" / "config.json").read_text())["compile"] is True
    train("part", "--epochs", "1")
    resumed = runner.invoke(app, ["train", "--resume", str(tmp_path / "part"), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    train("eager", "--epochs", "2", "--no-compile")
    read = lambda name: [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")}
                         for m in json.loads((tmp_path / name / "metrics.json").read_text())]
    assert read("part") == read("whole")
    assert read("eager") != read("whole")  # compiled kernels round differently: compile ran
