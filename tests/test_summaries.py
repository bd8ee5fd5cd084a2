"""Summaries: parameters, MACs and memory against independent oracles, and the seeds'
printed tables reproduced line for line."""
import dataclasses
import json
import re
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchinfo
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import rfkit
import zoo
from conftest import seeds_dir
from torchinfo_models import torchinfo_label_fixed
from rfkit.output import summaries
from rfkit.cli import app

SEEDS = seeds_dir()
TORCHSUMMARY_LINE = re.compile(
    r"^(-{64}|={64}|\s+Layer \(type\)\s+Output Shape\s+Param #|\s*\w+-\d+\s+\[.*\]\s+[\d,]+|"
    r"(Total|Trainable|Non-trainable) params: [\d,]+|Input size \(MB\).*|Forward/backward pass size \(MB\).*|"
    r"Params size \(MB\).*|Estimated Total Size \(MB\).*)$")


def seed_text(name: str) -> str:
    path = SEEDS / zoo.card(name).seed
    if not path.is_file():
        pytest.skip(f"seed file not found: {path}")
    return path.read_text()


def seed_torchsummary_lines(name):
    return [line.rstrip() for line in seed_text(name).splitlines() if TORCHSUMMARY_LINE.match(line.rstrip())]


def is_subsequence(needles, haystack):
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


@pytest.mark.parametrize("name", ["S5Net", "S5NetBias", "S6Net", "UltimusNet"])
def test_torchsummary_style_reproduces_seed_lines(name):
    ours = summaries.torchsummary_text(rfkit.trace(zoo.create(name), zoo.card(name).input_size)).splitlines()
    seed = seed_torchsummary_lines(name)
    if name == "UltimusNet":  # card erratum: the seed's first row lost one leading space in the paste
        assert seed[0] == ours[3][1:]
        seed[0] = ours[3]
    assert len(seed) >= len(zoo.card(name).documented.summary_rows)
    assert is_subsequence(seed, ours), "\n".join(l for l in seed if l not in ours)
    rows = [l for l in ours if re.match(r"^\s*\w+-\d+\s+\[", l)]
    assert rows == [l for l in seed if re.match(r"^\s*\w+-\d+\s+\[", l)]


def test_torchsummary_s5net_full_block_is_byte_identical():
    text = seed_text("S5Net")
    block = text[text.index("----"):text.index("```", text.index("----"))]
    ours = summaries.torchsummary_text(rfkit.trace(zoo.create("S5Net"), (1, 28, 28)))
    assert ours == block


def seed_torchinfo_block(name):
    text = seed_text(name)
    section = text[text.index(f"# [{name}]"):]
    start = section.index("=" * 90)
    end = section.index("```", start)
    return section[start:end]


@pytest.mark.parametrize("name", ["MnistNet_1", "MnistNet_2", "MnistNet_3"])
def test_torchinfo_style_reproduces_seed_002(name):
    ours = summaries.torchinfo_text(rfkit.trace(zoo.create(name), (1, 28, 28)))  # "(M)", as the seeds print
    block = seed_torchinfo_block(name)
    if name == "MnistNet_2":  # the seed's erratum: its table is titled MnistNet_4
        block = block.replace("MnistNet_4    ", "MnistNet_2    ")
    assert ours == block


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_torchinfo_style_matches_torchinfo_itself_where_it_is_right(depth):
    model = zoo.create("MnistNet_3")
    stats = torchinfo.summary(model, input_size=(1, 1, 28, 28), verbose=0, depth=depth)
    ours = summaries.torchinfo_text(rfkit.trace(model, (1, 28, 28)), depth=depth)
    assert ours == torchinfo_label_fixed(str(stats)) + "\n"  # str(ModelStatistics) has no final newline


@pytest.mark.parametrize("scale, label, shown", [(1, "M", "0.00"), (10**6, "M", "1.07"), (10**9, "G", "1.07"),
                                                 (10**12, "T", "1.07")])
def test_torchinfo_style_mult_adds_label_on_this_python(scale, label, shown):
    """Under the running Python (whatever its version), the label is the unit's letter: never
    torchinfo 1.8's "(Units.MEGABYTES)", which it prints from Python 3.11 on."""
    report = rfkit.trace(zoo.create("MnistNet_3"), (1, 28, 28))
    assert f"Total mult-adds (M): 1.07\n" in summaries.torchinfo_text(report), sys.version
    report.torchinfo = dataclasses.replace(report.torchinfo, mult_adds=1_070_000 * scale // 10**6)
    text = summaries.torchinfo_text(report)
    assert f"Total mult-adds ({label}): {shown}\n" in text and "Units." not in text, sys.version


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, 32, bias=False)
        self.back = nn.Linear(32, 16, bias=False)
        self.back.weight = nn.Parameter(self.embed.weight.T.contiguous())
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.out = nn.Linear(32, 16, bias=False)
        self.out.weight = self.back.weight  # tied

    def forward(self, x):
        y = self.shared(self.shared(x.view(1, 4, 2, 2)))
        h = self.embed(y.view(1, 16))
        return self.out(h) + self.back(h)


def test_shared_and_tied_weights_counted_once():
    model = Tied()
    report = rfkit.trace(model, (16,), spatial=0)
    truth = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert report.params == truth == 16 * 32 * 2 + 4 * 4 * 9 + 4
    shared_rows = [r for r in report.module_stats if r.shared]
    assert [r.call.name for r in shared_rows] == ["shared#2", "back"]  # out met the tied weight first


class GridEncoding(nn.Module):
    """A conv on a coordinate grid made inside forward (edgenext's Fourier positional encoding)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.encode = nn.Conv2d(2, 8, 3, padding=1)

    def forward(self, x):
        h, w = x.shape[-2:]
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        return self.stem(x) + self.encode(torch.stack([ys, xs])[None])


class RelativePositionMLP(nn.Module):
    """An MLP on a relative-position table built inside forward, added to attention scores (swinv2_cr)."""

    def __init__(self, tokens=16, dim=8):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.mlp = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1))
        self.tokens = tokens

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        coords = torch.arange(self.tokens, dtype=x.dtype)
        table = torch.stack(torch.meshgrid(coords, coords, indexing="ij"), -1) - coords.mean()
        return ((q @ k.transpose(-2, -1) + self.mlp(table)[..., 0]).softmax(-1)) @ v


class OneHotPositions(nn.Module):
    """Position embeddings as a one-hot matrix times a table (gemma4's vision encoder)."""

    def __init__(self, positions=32, dim=16):
        super().__init__()
        self.table = nn.Parameter(torch.randn(positions, dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        one_hot = F.one_hot(torch.arange(x.shape[1]), self.table.shape[0]).to(x.dtype)
        return self.proj(x + one_hot @ self.table)


class MergedLowRank(nn.Module):
    """A weight made from two factors inside forward (a LoRA merge): work on the weights alone."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(16, 64)), nn.Parameter(torch.randn(64, 16))

    def forward(self, x):
        return F.linear(x, self.a @ self.b)


MODELS = {
    "resnet18": (torchvision.models.resnet18, (3, 64, 64)),
    "vgg11": (torchvision.models.vgg11, (3, 32, 32)),
    "mobilenet_v3_small": (torchvision.models.mobilenet_v3_small, (3, 64, 64)),
    "densenet121": (torchvision.models.densenet121, (3, 64, 64)),
    "convnext_tiny": (torchvision.models.convnext_tiny, (3, 64, 64)),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(image_size=64), (3, 64, 64)),
    "tied toy": (Tied, (16,)),
    "grid encoding": (GridEncoding, (3, 16, 16)),
    "relative-position MLP": (RelativePositionMLP, (16, 8)),
    "one-hot positions": (OneHotPositions, (32, 16)),
    "merged low rank": (MergedLowRank, (16,)),
}


@pytest.mark.parametrize("name", MODELS)
def test_params_and_macs_against_oracles(name):
    build, size = MODELS[name]
    model = build().eval()
    report = rfkit.trace(model, size, spatial=0 if len(size) == 1 else None)
    assert report.params == sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fast path hides attention FLOPs
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, *size))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    assert report.macs == pytest.approx(counter.get_total_flops() / 2, rel=0.01)


def test_params_equal_torchinfo_on_resnet():
    model = torchvision.models.resnet18()
    stats = torchinfo.summary(model, input_size=(1, 3, 64, 64), verbose=0)
    assert rfkit.trace(model, (3, 64, 64)).params == stats.total_params


def test_linear_macs_cover_all_leading_dims():
    model = nn.Linear(8, 4)
    report = rfkit.trace(model, (5, 7, 8), spatial=0)
    assert report.macs == 5 * 7 * 4 * 8


def test_activation_memory_by_dtype():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
    r32 = rfkit.trace(model, (1, 8, 8))
    r64 = rfkit.trace(model.double(), (1, 8, 8))
    assert r32.training_activation_bytes == 2 * 4 * 64 * 4
    assert r64.training_activation_bytes == 2 * r32.training_activation_bytes
    assert r32.inference_activation_bytes == (4 * 64 + 4 * 64) * 4  # the ReLU: 4x8x8 in and out


def test_summary_cli_styles_and_json():
    runner = CliRunner()
    rich_out = runner.invoke(app, ["summary", "zoo.MnistNet_2"]).output
    assert "7,416" in rich_out and "MACs" in rich_out and "r_out" in rich_out
    data = json.loads(runner.invoke(app, ["summary", "zoo.MnistNet_2", "-f", "json"]).output)
    assert data["schema"] == "rfkit.summary/1"
    assert data["params"] == 7416 and data["macs"] == 1131712
    gap = next(m for m in data["modules"] if m["name"] == "gap")
    assert gap["r_out"] == [28.0, 28.0]
    block1 = next(m for m in data["modules"] if m["name"] == "block1")
    assert block1["subtree_params"] == 72 + 16 + 1152 + 32 + 128 and block1["params"] == 0
    assert "1,400" in rich_out  # the same subtree total in the rich tree
    ts = runner.invoke(app, ["summary", "zoo.S6Net", "--style", "torchsummary"]).output
    assert "Total params: 17,118" in ts
    ti = runner.invoke(app, ["summary", "zoo.MnistNet_1", "--style", "torchinfo", "--depth", "1"]).output
    assert "Conv2d: 2-1" not in ti and "Sequential: 1-1" in ti
    assert "Total mult-adds (M): 2.00" in ti  # on every Python (torchinfo 1.8: "(Units.MEGABYTES)" on >= 3.11)
