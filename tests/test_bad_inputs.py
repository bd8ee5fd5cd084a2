"""Bad input, everywhere: wrong arguments, flags, files and models, through the CLI and the API.

One table, one row per bad input: what is run (CLI arguments, or a Python callable), what must come out
(an exit code, or an exception type and its exit code), a regex the one-line message must match, and,
for every row, that nothing the user had was altered: each file under the row's directory keeps its
bytes and mtime, no file appears (unless the row started a run), and a model the row hands to rfkit
keeps its parameters, buffers and train/eval flags.

CLI rows run in-process (typer's CliRunner) in the row's own directory, with downloads cut off. Exit 2
means bad input, 1 that the model's own forward failed or training diverged; stderr is one line and never
a traceback.
"""
from __future__ import annotations

import contextlib
import json
import re
import resource
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from typer.testing import CliRunner

import rfkit
import zoo
from conftest import stripes, write_idx
from rfkit.checks import budget as budgets
from rfkit.cli import app
from rfkit.errors import ModelLoadError, RfkitError, TraceError
from rfkit.analysis.devices import parse_device
from rfkit.loading import load
from rfkit.testing import assert_budget, assert_params, assert_rf
from rfkit.train import config as train_config
from rfkit.train import data
from rfkit.train import trainer as training

BAD_CUDA = "cuda:99" if torch.cuda.is_available() else "cuda"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@dataclass
class Ctx:
    """A row's directory: `data` (a copy of the fake MNIST), `run` (a copy of a one-epoch run), files."""

    tmp: Path
    data: Path
    run: Path
    model: nn.Module | None = None
    monkeypatch: pytest.MonkeyPatch | None = None

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text))
        return path

    @property
    def raw(self) -> Path:
        return self.data / "MNIST" / "raw"


@dataclass
class Row:
    id: str
    run: list[str] | Callable[[Ctx], object]  # CLI arguments ({tmp}, {data}, {run} filled in) or a callable
    expect: int | type[BaseException] | None  # CLI: exit code; API: exception type (None: must succeed)
    match: str = ""  # regex the one-line message (CLI: stderr; exit 0: stdout) must match
    setup: Callable[[Ctx], object] | None = None
    code: int | None = None  # API: the exception's exit_code
    stdout: bool = False  # CLI: stdout may hold output (the table up to a failing layer)
    writes: bool = False  # a run that started may write its directory
    huge: bool = False  # under a memory cap: a real pass on a huge input fails fast instead of swapping
    prints: bool = False  # CLI: the outcome is printed output (a failed check's table), no error line
    marks: tuple = ()


# ---------------------------------------------------------------- user files


def net_file(name: str, body: str) -> Callable[[Ctx], Path]:
    return lambda ctx: ctx.file(name, "import torch\nimport torch.nn as nn\n" + textwrap.dedent(body))


def raising_block(message: str) -> str:
    """A Net whose submodule `block` raises ValueError(message) in its forward."""
    return f"""
class Block(nn.Module):
    def forward(self, x):
        raise ValueError({message!r})
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
    def forward(self, x):
        return self.block(x)
"""


SMALL = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
    def forward(self, x):
        return self.conv(x)
"""


def package(name: str, body: str) -> Callable[[Ctx], None]:
    """A package `name` on sys.path whose module `mod` holds `body`."""

    def setup(ctx: Ctx):
        ctx.file(f"pkgs/{name}/__init__.py", "")
        ctx.file(f"pkgs/{name}/mod.py", textwrap.dedent(body))
        ctx.monkeypatch.syspath_prepend(str(ctx.tmp / "pkgs"))
    return setup


# ---------------------------------------------------------------- data files


def rewrite(name: str, change: Callable[[bytes], bytes]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        path = ctx.raw / name
        path.write_bytes(change(path.read_bytes()))
    return setup


def labels_of(values) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        write_idx(ctx.raw / "train-labels-idx1-ubyte", np.asarray(values), 0x801)
    return setup


def image_folder(bad: bool = True, empty: bool = False) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        for split in ("train", "test"):
            folder = ctx.tmp / "folder" / split / "a"
            folder.mkdir(parents=True)
            if empty:
                continue
            Image.fromarray(stripes(1, 0)[0][0].astype(np.uint8), mode="L").save(folder / "ok.png")
            if bad and split == "train":
                (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return setup


def set_config(**changes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        path = ctx.run / "config.json"
        values = json.loads(path.read_text())
        for key, value in changes.items():
            if value is _DROP:
                values.pop(key)
            else:
                values[key] = value
        path.write_text(json.dumps(values))
    return setup


_DROP = object()


def write_run_file(name: str, content: bytes | Callable[[bytes], bytes]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        path = ctx.run / name
        path.write_bytes(content(path.read_bytes()) if callable(content) else content)
    return setup


def save_checkpoint(make: Callable[[dict], object]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        state = torch.load(ctx.run / "last.pt", weights_only=True)
        torch.save(make(state), ctx.run / "last.pt")
    return setup


def setups(*steps) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        for step in steps:
            step(ctx)
    return setup


TRAIN = ["train", "zoo.MnistNet_3", "--data-dir", "{data}", "--epochs", "1", "--batch-size", "64", "--device",
         "cpu", "--run-dir", "{tmp}/out"]


def train_with(*flags) -> list[str]:
    """TRAIN with `flags` in place of the same flags there."""
    args = list(TRAIN)
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


RESUME = ["train", "--resume", "{run}", "--device", "cpu"]


# ---------------------------------------------------------------- models for the API rows


class Counting(nn.Module):
    """A forward that increments a buffer in place (as BatchNorm's num_batches_tracked does)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        self.calls += 1
        return self.conv(x)


class Scaling(nn.Module):
    """A forward that writes its own weight in place."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        with torch.no_grad():
            self.conv.weight.mul_(2)
        return self.conv(x)


class Rebinding(nn.Module):
    """A forward that replaces a buffer with a new tensor."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.register_buffer("seen", torch.zeros(1))

    def forward(self, x):
        self.seen = self.seen + 1
        return self.conv(x)


class Training(nn.Module):
    """A forward that switches the model to train mode."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        self.train()
        return self.bn(self.conv(x))


class Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        raise ValueError("boom")


class Inner(nn.Module):
    def forward(self, x):
        raise ValueError("boom")


class FailingInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.block = Inner()

    def forward(self, x):
        return self.block(self.conv(x))


def with_model(model_cls) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx):
        torch.manual_seed(0)
        ctx.model = model_cls()
    return setup


def small(ctx: Ctx) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())


def configure(**flags) -> Callable[[Ctx], object]:
    return lambda ctx: train_config.make_config("zoo.MnistNet_3", "MnistNet_3", zoo.card("MnistNet_3"),
                                                **{"data_dir": ctx.data, "run_dir": ctx.tmp / "out",
                                                   "device": "cpu", **flags})


def resume_api(ctx: Ctx):
    config = train_config.load_config(ctx.run, epochs=2)
    torch.manual_seed(config.seed)
    return training.start(config, load(config.model, need_size=False).model, resume=True)


# ---------------------------------------------------------------- the table

MODEL_ROWS = [
    Row("markup-closing-tag-in-model", ["table", "zoo.Net[/b]"], 2, r"cannot load MODEL 'zoo\.Net\[/b\]'"),
    Row("markup-tag-in-model", ["summary", "[red]Net"], 2, r"cannot load MODEL '\[red\]Net'"),
    Row("unknown-zoo-name", ["table", "zoo.MnistNet_9"], 2, r"closest zoo names: zoo\.MnistNet_"),
    Row("no-such-package", ["table", "nosuchpkg.Net", "-i", "1,2,2"], 2, r"cannot load MODEL 'nosuchpkg\.Net'"),
    Row("missing-file", ["table", "{tmp}/missing.py:Net", "-i", "1,28,28"], 2, r"missing\.py does not exist"),
    Row("directory-as-file", ["table", "{tmp}/:Net", "-i", "1,8,8"], 2, r"is a directory, not a \.py file"),
    Row("not-python", ["table", "{tmp}/notes.txt:Net", "-i", "1,8,8"], 2, r"cannot import .*notes\.txt as Python",
        setup=lambda ctx: ctx.file("notes.txt", "hello")),
    Row("missing-attribute", ["table", "{tmp}/net.py:Missing", "-i", "1,8,8"], 2,
        r"net\.py has no attribute 'Missing'", setup=net_file("net.py", SMALL)),
    Row("syntax-error", ["table", "{tmp}/syntax.py:Net", "-i", "1,8,8"], 2,
        r"importing .*syntax\.py failed: SyntaxError: .*line 3", setup=net_file("syntax.py", "class Net(nn.Module:\n")),
    Row("raises-at-import", ["table", "{tmp}/boom.py:Net", "-i", "1,8,8"], 2,
        r"importing .*boom\.py failed: ZeroDivisionError: division by zero \(boom\.py, line 3\)",
        setup=net_file("boom.py", "x = 1 / 0\n")),
    Row("exits-at-import", ["table", "{tmp}/exits.py:Net", "-i", "1,8,8"], 2,
        r"importing .*exits\.py failed: it called sys\.exit\(3\) at import time",
        setup=net_file("exits.py", "import sys\nsys.exit(3)\n")),
    Row("missing-dependency", ["table", "{tmp}/dep.py:Net", "-i", "1,8,8"], 2,
        r"importing .*dep\.py failed: ModuleNotFoundError: No module named 'nosuchdep_xyz' \(dep\.py, line 3\)",
        setup=net_file("dep.py", "import nosuchdep_xyz\n")),
    Row("package-module-raises", ["table", "badpkg_a.mod:Net", "-i", "1,8,8"], 2,
        r"importing module badpkg_a\.mod failed: ZeroDivisionError: division by zero \(mod\.py, line 2\)",
        setup=package("badpkg_a", "import torch\nx = 1 / 0\n")),
    Row("dotted-module-raises", ["table", "badpkg_b.mod.Net", "-i", "1,8,8"], 2,
        r"importing module badpkg_b\.mod(\.Net)? failed: KeyError: 'width' \(mod\.py, line 2\)",
        setup=package("badpkg_b", "import os\nos.environ['width']\n")),
    Row("dotted-missing-dependency", ["table", "badpkg_c.mod.Net", "-i", "1,8,8"], 2,
        r"importing module badpkg_c\.mod(\.Net)? failed: ModuleNotFoundError: No module named 'nosuchdep_xyz' "
        r"\(mod\.py, line 1\)",
        setup=package("badpkg_c", "import nosuchdep_xyz\n")),
    Row("empty-module-name", ["table", ":Net", "-i", "1,8,8"], 2, r"'' is not a module name"),
    Row("relative-dotted-path", ["table", "..foo.Net", "-i", "1,8,8"], 2, r"not a dotted path of Python names"),
    Row("empty-model", ["table", ""], 2, r"cannot load MODEL ''"),
    Row("module-not-model", ["table", "torch.nn:functional", "-i", "1,8,8"], 2, r"is a module, not an nn\.Module"),
    Row("factory-returns-int", ["table", "{tmp}/f.py:build", "-i", "1,8,8"], 2, r"build\(\) returned int",
        setup=net_file("f.py", "def build():\n    return 42\n")),
    Row("constant-not-callable", ["table", "{tmp}/c.py:WIDTH", "-i", "1,8,8"], 2, r"WIDTH is a int, not an nn",
        setup=net_file("c.py", "WIDTH = 3\n")),
    Row("class-needs-arguments", ["table", "{tmp}/args.py:Net", "-i", "1,8,8"], 2,
        r"needs arguments to build \(missing a required argument: 'width'\)",
        setup=net_file("args.py", "class Net(nn.Module):\n    def __init__(self, width):\n        pass\n")),
    Row("constructor-raises", ["table", "{tmp}/ctor.py:Net", "-i", "1,8,8"], 2,
        r"building .*ctor\.py:Net failed: ValueError: bad width \(ctor\.py, line 7\)",
        setup=net_file("ctor.py", """
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    raise ValueError("bad width")
        """)),
    Row("constructor-type-error", ["table", "{tmp}/ctor2.py:Net", "-i", "1,8,8"], 2,
        r"building .*failed: TypeError: unsupported operand",
        setup=net_file("ctor2.py", """
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.width = None + 1
        """)),
    Row("no-input-size", ["table", "torchvision.models.resnet18"], 2, r"not a zoo network: pass --input-size"),
    Row("verify-no-input-size", ["verify", "torchvision.models.resnet18"], 2, r"pass --input-size"),
    Row("verify-markup-model", ["verify", "zoo.Net[/b]"], 2, r"cannot load MODEL 'zoo\.Net\[/b\]'"),
]

SIZE_ROWS = [
    Row("size-letter", ["table", "zoo.MnistNet_2", "-i", "1,a,28"], 2, r"--input-size '1,a,28' is not C,H,W"),
    Row("size-empty-part", ["table", "zoo.MnistNet_2", "-i", "1,,28"], 2, r"is not C,H,W"),
    Row("size-zero", ["table", "zoo.MnistNet_2", "-i", "0,28,28"], 2, r"needs positive integers"),
    Row("size-negative", ["summary", "zoo.MnistNet_2", "-i", "-1,28,28"], 2, r"needs positive integers"),
    Row("size-empty", ["table", "zoo.MnistNet_2", "-i", ""], 2, r"--input-size '' is not C,H,W"),
    Row("size-fraction", ["table", "zoo.MnistNet_2", "-i", "1.5,28,28"], 2, r"'1\.5,28,28' is not C,H,W"),
    Row("size-too-few-dims", ["table", "zoo.MnistNet_1", "-i", "1,28"], 1,
        r"forward failed at MnistNet_1\.block1\.0: F\.conv2d on input \(1, 1, 28\)", stdout=True),
    Row("size-wrong-channels", ["table", "zoo.MnistNet_1", "-i", "3,28,28"], 1,
        r"forward failed at MnistNet_1\.block1\.0.*to have 1 channels, but got 3", stdout=True),
    Row("size-wrong-spatial", ["check", "zoo.S5Net", "-i", "1,32,32", "--min-rf", "5"], 1,
        r"Tensor\.view on input \(1, 256, 5, 5\)"),
    Row("size-huge-fully-convolutional", ["table", "torchvision.models.resnet18", "-i", "3,100000,100000",
                                          "-f", "json"], 0,
        r'"name": "conv1",[^}]*"out_shape": \[\s*1,\s*64,\s*50000,\s*50000\s*\]', huge=True),
    Row("size-huge-wrong-channels", ["table", "zoo.MnistNet_1", "-i", "3,100000,100000"], 1, r"(?i)channel",
        stdout=True, huge=True),
    Row("size-huge-one-channel-too-few", ["table", "torchvision.models.resnet18", "-i", "1,100000,100000"], 1,
        r"(?i)channel", stdout=True, huge=True),
    Row("size-overflows-int64", ["table", "zoo.MnistNet_1", "-i", "1,99999999999,99999999999"], 2,
        r"99999999999", huge=True),
]

DEVICE_ROWS = [
    Row("table-device-nope", ["table", "zoo.MnistNet_1", "--device", "nope"], 2,
        r"--device 'nope': use auto, meta, cpu, cuda or cuda:N"),
    Row("table-device-no-cuda", ["table", "zoo.MnistNet_1", "--device", BAD_CUDA], 2, r"CUDA"),
    Row("table-device-cuda-letters", ["table", "zoo.MnistNet_1", "--device", "cuda:x"], 2, r"--device 'cuda:x'"),
    Row("table-device-cuda-negative", ["table", "zoo.MnistNet_1", "--device", "cuda:-1"], 2, r"'cuda:-1'"),
    Row("table-device-mps-here", ["table", "zoo.MnistNet_1", "--device", "mps"], 2, r"MPS is not available",
        marks=(pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS"),)),
    Row("table-device-index-on-cpu", ["table", "zoo.MnistNet_1", "--device", "cpu:1"], 2, r"'cpu:1'"),
    Row("summary-device-nope", ["summary", "zoo.MnistNet_1", "--device", "nope"], 2, r"--device 'nope'"),
    Row("summary-device-no-cuda", ["summary", "zoo.MnistNet_1", "--device", BAD_CUDA], 2, r"CUDA"),
    Row("check-device-nope", ["check", "zoo.MnistNet_1", "--device", "nope", "--max-macs", "9"], 2,
        r"--device 'nope'"),
    Row("train-device-meta", train_with("--device", "meta"), 2, r"--device 'meta': use auto, cpu, cuda or cuda:N"),
    Row("train-device-nope", train_with("--device", "gpu"), 2, r"--device 'gpu'"),
    Row("train-device-cuda-letters", train_with("--device", "cuda:abc"), 2, r"--device 'cuda:abc'"),
    Row("train-device-no-cuda", train_with("--device", BAD_CUDA), 2, r"CUDA"),
    Row("api-parse-device", lambda ctx: parse_device("cuda:x"), RfkitError, r"'cuda:x'", code=2),
]

USAGE_ROWS = [
    Row("missing-model-argument", ["table"], 2, r"(?i)missing argument 'model'.*table --help"),
    Row("unknown-format", ["table", "zoo.MnistNet_1", "-f", "xml"], 2, r"'xml' is not one of"),
    Row("unknown-style", ["summary", "zoo.MnistNet_1", "--style", "keras"], 2, r"'keras' is not one of"),
    Row("negative-depth", ["summary", "zoo.MnistNet_1", "--depth", "-1"], 2, r"--depth"),
    Row("unknown-command", ["tabel"], 2, r"No such command 'tabel'"),
    Row("unknown-option", ["table", "zoo.MnistNet_1", "--bogus"], 2, r"No such option: --bogus"),
    Row("unknown-top-level-option", ["--bogus"], 2, r"No such option: --bogus"),
    Row("int-flag-not-int", ["check", "zoo.MnistNet_1", "--max-params", "abc"], 2,
        r"Invalid value for '--max-params'.*integer"),
    Row("float-flag-not-float", ["check", "zoo.MnistNet_1", "--min-coverage", "half"], 2,
        r"Invalid value for '--min-coverage'"),
    Row("epochs-not-int", train_with("--epochs", "ten"), 2, r"Invalid value for '--epochs'.*integer"),
    Row("lr-not-float", train_with("--lr", "fast"), 2, r"Invalid value for '--lr'"),
    Row("unknown-loader", train_with("--loader", "turbo"), 2, r"'turbo' is not one of"),
]


def toml(text: str) -> Callable[[Ctx], None]:
    return lambda ctx: ctx.file("budget.toml", text)


CHECK = ["check", "zoo.MnistNet_3"]
BUDGET = CHECK + ["--budget", "{tmp}/budget.toml"]
CHECK_ROWS = [
    Row("max-params-negative", CHECK + ["--max-params", "-1"], 2, r"--max-params -1 needs a whole number >= 0"),
    Row("max-trainable-negative", CHECK + ["--max-trainable-params", "-5"], 2, r"--max-trainable-params -5"),
    Row("max-macs-negative", CHECK + ["--max-macs", "-5"], 2, r"--max-macs -5 needs a whole number"),
    Row("activation-negative", CHECK + ["--max-activation-mb", "-1"], 2, r"--max-activation-mb -1\.0 needs"),
    Row("activation-zero", CHECK + ["--max-activation-mb", "0"], 2, r"--max-activation-mb 0\.0 needs"),
    Row("activation-nan", CHECK + ["--max-activation-mb", "nan"], 2, r"--max-activation-mb nan needs"),
    Row("activation-inf", CHECK + ["--max-activation-mb", "inf"], 2, r"--max-activation-mb inf needs"),
    Row("coverage-above-one", CHECK + ["--min-coverage", "1.5"], 2, r"--min-coverage 1\.5 needs a share"),
    Row("coverage-negative", CHECK + ["--min-coverage", "-0.1"], 2, r"--min-coverage -0\.1 needs a share"),
    Row("overshoot-negative", CHECK + ["--max-overshoot", "-1"], 2, r"--max-overshoot -1 needs"),
    Row("depth-negative", CHECK + ["--max-depth", "-1"], 2, r"--max-depth -1 needs"),
    Row("min-rf-zero", CHECK + ["--min-rf", "0"], 2, r"needs positive integers"),
    Row("min-rf-letters", CHECK + ["--min-rf", "2x"], 2, r"--min-rf '2x' is not an integer or a per-axis list"),
    Row("min-rf-three-axes", CHECK + ["--min-rf", "28,28,28"], 2, r"gives 3 axes; MnistNet_3 has 2 spatial"),
    Row("rf-layer-unknown", CHECK + ["--rf-layer", "nosuch", "--min-rf", "5"], 2,
        r"rf_layer 'nosuch': no layer 'nosuch'; layers: \S"),
    Row("rf-layer-markup", CHECK + ["--rf-layer", "[/b]", "--min-rf", "5"], 2, r"rf_layer '\[/b\]': no layer"),
    Row("rf-layer-alone", ["check", "torchvision.models.resnet18", "--rf-layer", "fc"], 2,
        r'no budget for torchvision\.models\.resnet18: .*\[tool\.rfkit\.budgets\."torchvision\.models\.resnet18"\] '
        r"in pyproject\.toml"),
    Row("no-budget-names-pyproject-table", ["check", "torchvision.models.resnet18", "-i", "3,32,32"], 2,
        r'or \[tool\.rfkit\.budgets\."torchvision\.models\.resnet18"\] in pyproject\.toml$'),
    Row("budget-file-missing", BUDGET, 2, r"budget file .*budget\.toml does not exist"),
    Row("budget-file-directory", CHECK + ["--budget", "{tmp}"], 2, r"is a directory; name a \.toml file"),
    Row("budget-file-binary", BUDGET, 2, r"budget\.toml is not UTF-8 text",
        setup=lambda ctx: ctx.file("budget.toml", b"\xff\xfe\x00bad")),
    Row("budget-file-bad-toml", BUDGET, 2, r"budget\.toml is not valid TOML", setup=toml("max_params = \n")),
    Row("budget-file-unknown-key", BUDGET, 2, r"unknown budget key\(s\) max_parms", setup=toml("max_parms = 3\n")),
    Row("budget-file-string-count", BUDGET, 2, r"max_params 'many' needs a whole number",
        setup=toml('max_params = "many"\n')),
    Row("budget-file-bool-count", BUDGET, 2, r"max_params True needs a whole number",
        setup=toml("max_params = true\n")),
    Row("budget-file-float-count", BUDGET, 2, r"max_macs 1\.5 needs a whole number", setup=toml("max_macs = 1.5\n")),
    Row("budget-file-bad-min-rf", BUDGET, 2, r"min_rf \[28, 'a'\] needs a positive integer",
        setup=toml('min_rf = [28, "a"]\n')),
    Row("budget-file-empty-min-rf", BUDGET, 2, r"min_rf \[\] needs a positive integer", setup=toml("min_rf = []\n")),
    Row("budget-file-coverage-two", BUDGET, 2, r"min_coverage 2 needs a share", setup=toml("min_coverage = 2\n")),
    Row("budget-file-budgets-not-tables", BUDGET, 2, r"budgets must be tables", setup=toml("budgets = 3\n")),
    Row("budget-file-model-not-table", BUDGET, 2, r"expected a table of limits",
        setup=toml('[budgets]\n"zoo.MnistNet_3" = 5\n')),
    Row("budget-file-model-negative", BUDGET, 2, r"budgets\.'zoo\.MnistNet_3': max_params -3 needs",
        setup=toml('[budgets."zoo.MnistNet_3"]\nmax_params = -3\n')),
    Row("pyproject-bad-toml", CHECK + ["--max-params", "9000"], 2, r"pyproject file pyproject\.toml is not valid TOML",
        setup=lambda ctx: ctx.file("pyproject.toml", "[tool.rfkit\n")),
    Row("pyproject-bad-limit", CHECK, 2, r"pyproject\.toml \[tool\.rfkit\] budgets\.'zoo\.MnistNet_3': max_macs 'x'",
        setup=lambda ctx: ctx.file("pyproject.toml", '[tool.rfkit.budgets."zoo.MnistNet_3"]\nmax_macs = "x"\n')),
    Row("pyproject-rfkit-not-table", CHECK + ["--max-params", "9000"], 2, r"budgets must be tables",
        setup=lambda ctx: ctx.file("pyproject.toml", "[tool]\nrfkit = 3\n")),
]

AUDIT_ROWS = [
    Row("audit-non-zoo-without-doc", ["audit", "torchvision.models.resnet18", "-i", "3,32,32"], 2,
        r"is not a zoo network: pass --doc README\.md"),
    Row("audit-doc-missing", ["audit", "zoo.MnistNet_3", "--doc", "{tmp}/README.md"], 2,
        r"cannot read --doc .*README\.md: No such file"),
    Row("audit-doc-directory", ["audit", "zoo.MnistNet_3", "--doc", "{tmp}"], 2,
        r"cannot read --doc .*: Is a directory"),
    Row("audit-doc-binary", ["audit", "zoo.MnistNet_3", "--doc", "{tmp}/README.md"], 2, r"is not UTF-8 text",
        setup=lambda ctx: ctx.file("README.md", b"\x89PNG\r\n\x1a\n\xff\xff")),
    Row("audit-unknown-section", ["audit", "zoo.MnistNet_3", "--doc", "{tmp}/README.md", "--section", "nosuch"], 2,
        r"has no heading mentioning 'nosuch'", setup=lambda ctx: ctx.file("README.md", "# Title\n\ntext\n")),
]

NAMES = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleDict({"[bold]x": nn.Conv2d(1, 2, 3), "[/b]": nn.ReLU()})
    def forward(self, x):
        for m in self.layers.values():
            x = m(x)
        return x
"""

FORWARD_ROWS = [
    Row("forward-raises-in-submodule", ["table", "{tmp}/fail.py:Net", "-i", "1,8,8"], 1,
        r"forward failed at Net\.block: ValueError: boom$", stdout=True, setup=net_file("fail.py", raising_block("boom"))),
    Row("forward-raises-at-top", ["table", "{tmp}/top.py:Net", "-i", "1,8,8"], 1,
        r"^error: forward failed (?!at : ).*ValueError: no$", stdout=True,
        setup=net_file("top.py", "class Net(nn.Module):\n    def forward(self, x):\n        raise ValueError('no')\n")),
    Row("forward-error-with-markup", ["table", "{tmp}/mk.py:Net", "-i", "1,8,8"], 1,
        r"ValueError: \[/red\] bad \[bold\]$", stdout=True, setup=net_file("mk.py", raising_block("[/red] bad [bold]"))),
    Row("markup-module-names-table", ["table", "{tmp}/names.py:Net", "-i", "1,8,8"], 0, r"layers\.\[bold\]x +Conv2d",
        setup=net_file("names.py", NAMES)),
    Row("markup-module-names-summary", ["summary", "{tmp}/names.py:Net", "-i", "1,8,8"], 0, r"\[/b\] +ReLU",
        setup=net_file("names.py", NAMES)),
    Row("markup-module-names-check", ["check", "{tmp}/names.py:Net", "-i", "1,8,8", "--max-params", "1"], 1,
        r"layers\.\[bold\]x \(20, 100%\)", prints=True, setup=net_file("names.py", NAMES)),
]


def corrupt(name: str, change: Callable[[bytes], bytes], why: str, args=None, rid=None) -> Row:
    return Row(rid or f"mnist-{name}-{why.split()[0]}", args or TRAIN, 2, rf"{name} is damaged \({why}",
               setup=rewrite(name, change))


TRAIN_ROWS = [
    Row("epochs-zero", train_with("--epochs", "0"), 2, r"--epochs 0: needs a positive integer"),
    Row("epochs-negative", train_with("--epochs", "-3"), 2, r"--epochs -3: needs a positive integer"),
    Row("batch-size-zero", train_with("--batch-size", "0"), 2, r"--batch-size 0: needs a positive integer"),
    Row("batch-size-negative", train_with("--batch-size", "-1"), 2, r"--batch-size -1: needs a positive integer"),
    Row("lr-zero", train_with("--lr", "0"), 2, r"--lr 0\.0: needs a finite number > 0"),
    Row("lr-negative", train_with("--lr", "-0.1"), 2, r"--lr -0\.1: needs a finite number > 0"),
    Row("lr-nan", train_with("--lr", "nan"), 2, r"--lr nan: needs a finite number"),
    Row("lr-inf", train_with("--lr", "inf"), 2, r"--lr inf: needs a finite number"),
    Row("seed-negative", train_with("--seed", "-1"), 2, r"--seed -1: needs an integer from 0 to 4294967295"),
    Row("seed-huge", train_with("--seed", str(2 ** 40)), 2, r"--seed 1099511627776: needs an integer from 0"),
    Row("amp-fp16", train_with("--amp", "fp16"), 2, r"--amp 'fp16': only bf16 is supported"),
    Row("threads-zero", train_with("--threads", "0"), 2, r"--threads 0: needs a positive integer"),
    Row("threads-negative", train_with("--threads", "-2"), 2, r"--threads -2: needs a positive integer"),
    Row("dataset-unknown", train_with("--dataset", "imagenet"), 2, r"--dataset 'imagenet': is not one of mnist"),
    Row("no-model-no-resume", ["train", "--epochs", "1"], 2, r"give a MODEL to train, or --resume RUN_DIR"),
    Row("non-zoo-without-dataset", ["train", "torchvision.models.resnet18"], 2, r"not a zoo network: pass --dataset"),
    Row("run-dir-is-a-file", train_with("--run-dir", "{tmp}/taken"), 2, r"--run-dir .*taken is a file",
        setup=lambda ctx: ctx.file("taken", "mine")),
    Row("run-dir-not-empty", train_with("--run-dir", "{tmp}/used"), 2, r"used exists and is not empty",
        setup=lambda ctx: ctx.file("used/notes.txt", "mine")),
    Row("run-dir-under-a-file", train_with("--run-dir", "{tmp}/taken/run"), 2, r"cannot create run directory",
        setup=lambda ctx: ctx.file("taken", "mine")),
    Row("data-missing", train_with("--data-dir", "{tmp}/nodata"), 2,
        r"mnist not found in .*nodata \(expected .*MNIST/raw/\{train,t10k\}.*download failed"),
    Row("data-dir-is-a-file", train_with("--data-dir", "{tmp}/taken"), 2, r"mnist not found in .*taken",
        setup=lambda ctx: ctx.file("taken", "mine")),
    Row("data-partial", TRAIN, 2, r"mnist not found or incomplete in .*\(3 file\(s\) there\)",
        setup=lambda ctx: (ctx.raw / "t10k-labels-idx1-ubyte").unlink()),
    corrupt("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number 0x801, expected 0x803"),
    corrupt("train-images-idx3-ubyte", lambda b: b[:len(b) // 2], "125,448 bytes where its header promises 250,896"),
    corrupt("train-images-idx3-ubyte", lambda b: b + b"\x00" * 7, "250,903 bytes where", rid="mnist-images-padded"),
    corrupt("train-images-idx3-ubyte", lambda b: b"", "0 bytes, shorter than an IDX header"),
    corrupt("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x03" + bytes(12), "it holds no images",
            rid="mnist-images-none"),
    corrupt("train-labels-idx1-ubyte", lambda b: b[:-10], "318 bytes where its header promises 328"),
    corrupt("train-labels-idx1-ubyte", lambda b: b"\x00\x00\x08\x03" + b[4:], "magic number 0x803, expected 0x801"),
    corrupt("t10k-images-idx3-ubyte", lambda b: b[:-1], "78,415 bytes"),
    Row("mnist-labels-count-mismatch", TRAIN, 2, r"train-labels-idx1-ubyte is damaged \(300 labels for the 320 images",
        setup=labels_of(np.zeros(300))),
    Row("mnist-label-out-of-range", TRAIN, 2, r"train-labels-idx1-ubyte is damaged \(label 12, but mnist has classes "
        r"0 to 9\): replace it with a good copy, or delete it", setup=labels_of(np.full(320, 12))),
    corrupt("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number",
            args=train_with("--loader", "torchvision"), rid="mnist-torchvision-loader-corrupted"),
    Row("imagefolder-bad-image", train_with("--dataset", "imagefolder", "--data-dir", "{tmp}/folder"), 2,
        r"cannot read image .*bad\.png \(UnidentifiedImageError: .*\): remove or replace it", setup=image_folder()),
    Row("imagefolder-no-images", train_with("--dataset", "imagefolder", "--data-dir", "{tmp}/folder"), 2,
        r"no images in .*folder/train \(FileNotFoundError: ", setup=image_folder(empty=True)),
    Row("imagefolder-no-folder", train_with("--dataset", "imagefolder", "--data-dir", "{tmp}"), 2,
        r"no .*train: --dataset imagefolder expects"),
    Row("training-diverges", ["train", "{tmp}/nan.py:Diverging", "--dataset", "mnist", "--data-dir", "{data}",
                              "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--run-dir", "{tmp}/out"], 1,
        r"training loss became nan in epoch 1; run stopped.*try a lower --lr$", stdout=True, writes=True,
        setup=lambda ctx: ctx.file("nan.py", """
            from zoo import MnistNet_3
            class Diverging(MnistNet_3):
                def forward(self, x):
                    return super().forward(x) * float("nan")
        """)),
]

RESUME_ROWS = [
    Row("resume-missing-dir", ["train", "--resume", "{tmp}/nope"], 2, r"--resume .*nope: no such run directory"),
    Row("resume-not-a-run", ["train", "--resume", "{tmp}"], 2, r"no config\.json there \(not an rfkit run"),
    Row("resume-epochs-zero", RESUME + ["--epochs", "0"], 2, r"--epochs 0: needs a positive integer"),
    Row("resume-epochs-negative", RESUME + ["--epochs", "-1"], 2, r"--epochs -1: needs a positive integer"),
    Row("resume-finished-run", RESUME, 2, r"already has 1 of 1 epoch\(s\) done: pass --epochs N above 1"),
    Row("resume-epochs-not-more", RESUME + ["--epochs", "1"], 2, r"already has 1 of 1 epoch\(s\) done"),
    Row("resume-with-batch-size", RESUME + ["--batch-size", "64", "--epochs", "2"], 2,
        r"--batch-size cannot change it \(only --epochs and --device can\)"),
    Row("resume-with-lr-and-seed", RESUME + ["--lr", "0.1", "--seed", "2"], 2, r"--lr, --seed cannot change it"),
    Row("resume-with-run-dir", RESUME + ["--run-dir", "{tmp}/else"], 2, r"--run-dir cannot change it"),
    Row("resume-with-threads", RESUME + ["--threads", "1", "--epochs", "2"], 2, r"--threads cannot change it"),
    Row("resume-other-model", ["train", "zoo.MnistNet_1", "--resume", "{run}", "--epochs", "2"], 2,
        r"trains zoo\.MnistNet_3, not zoo\.MnistNet_1: drop MODEL"),
    Row("resume-device-nope", RESUME[:3] + ["--device", "nope"], 2, r"--device 'nope'"),
    Row("config-not-json", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(not JSON: ",
        setup=write_run_file("config.json", lambda b: b[: len(b) // 2])),
    Row("config-binary", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(not JSON: 'utf-8' codec",
        setup=write_run_file("config.json", b"\xff\xfe\x00\x01")),
    Row("config-empty", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(not JSON",
        setup=write_run_file("config.json", b"")),
    Row("config-a-list", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(a JSON list, not an object\)",
        setup=write_run_file("config.json", b"[1, 2]")),
    Row("config-missing-key", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(missing batch_size, epochs\)",
        setup=set_config(epochs=_DROP, batch_size=_DROP)),
    Row("config-unknown-key", RESUME + ["--epochs", "2"], 2, r"config\.json is damaged \(unknown colour\)",
        setup=set_config(colour="red")),
    Row("config-epochs-string", RESUME, 2, r"config\.json: epochs 'ten' needs a positive integer; the run "
        r"directory is damaged", setup=set_config(epochs="ten")),
    Row("config-batch-size-zero", RESUME + ["--epochs", "2"], 2, r"config\.json: batch_size 0 needs a positive",
        setup=set_config(batch_size=0)),
    Row("config-threads-string", RESUME + ["--epochs", "2"], 2, r"config\.json: threads 'two' needs a positive",
        setup=set_config(threads="two")),
    Row("config-unknown-optimizer", RESUME + ["--epochs", "2"], 2, r"config\.json: optimizer 'Nope' is not a torch",
        setup=set_config(optimizer="Nope")),
    Row("config-negative-lr", RESUME + ["--epochs", "2"], 2, r"config\.json: lr -1 needs a finite number",
        setup=set_config(optimizer_kwargs={"lr": -1})),
    Row("config-bad-schedule", RESUME + ["--epochs", "2"], 2, r"config\.json: schedule .* needs \{name",
        setup=set_config(schedule={"name": "Nope", "kwargs": {}, "per": "epoch"})),
    Row("config-transforms-not-list", RESUME + ["--epochs", "2"], 2, r"config\.json: train_transforms 'ToTensor\(\)'",
        setup=set_config(train_transforms="ToTensor()")),
    Row("config-unknown-loader", RESUME + ["--epochs", "2"], 2, r"config\.json: loader 'turbo' is not one of",
        setup=set_config(loader="turbo")),
    Row("config-cuda-here", RESUME[:3] + ["--epochs", "2"], 2, r"trained on cuda, which this machine cannot use; "
        r"resume with --device cpu", setup=set_config(device="cuda"), marks=(NO_CUDA,)),
    Row("config-model-gone", RESUME + ["--epochs", "2"], 2, r"cannot load MODEL .*gone\.py:Net.*does not exist",
        setup=lambda ctx: set_config(model=str(ctx.tmp / "gone.py") + ":Net")(ctx)),
    Row("config-missing", RESUME + ["--epochs", "2"], 2, r"no config\.json there",
        setup=lambda ctx: (ctx.run / "config.json").unlink()),
    Row("metrics-damaged-finished-run", RESUME, 2, r"already has 1 of 1 epoch\(s\) done",
        setup=write_run_file("metrics.json", b"[{\"epoch\": 1, ")),
    Row("run-without-metrics", RESUME + ["--epochs", "0"], 2, r"--epochs 0: needs a positive integer",
        setup=lambda ctx: [(ctx.run / name).unlink() for name in ("metrics.json", "metrics.csv")]),
    Row("checkpoint-truncated", RESUME + ["--epochs", "2"], 2, r"last\.pt is damaged \(.*\): it cannot be resumed",
        setup=write_run_file("last.pt", lambda b: b[: len(b) // 2])),
    Row("checkpoint-garbage", RESUME + ["--epochs", "2"], 2, r"last\.pt is damaged",
        setup=write_run_file("last.pt", b"not a checkpoint at all")),
    Row("checkpoint-empty", RESUME + ["--epochs", "2"], 2, r"last\.pt is damaged",
        setup=write_run_file("last.pt", b"")),
    Row("checkpoint-missing", RESUME + ["--epochs", "2"], 2, r"no last\.pt there \(nothing to resume",
        setup=lambda ctx: (ctx.run / "last.pt").unlink()),
    Row("checkpoint-a-directory", RESUME + ["--epochs", "2"], 2, r"no last\.pt there",
        setup=lambda ctx: ((ctx.run / "last.pt").unlink(), (ctx.run / "last.pt").mkdir())),
    Row("checkpoint-not-a-dict", RESUME + ["--epochs", "2"], 2, r"last\.pt is not an rfkit checkpoint",
        setup=save_checkpoint(lambda state: [1, 2, 3])),
    Row("checkpoint-missing-keys", RESUME + ["--epochs", "2"], 2, r"not an rfkit checkpoint \(missing optimizer, rng\)",
        setup=save_checkpoint(lambda state: {k: v for k, v in state.items() if k not in ("optimizer", "rng")})),
    Row("checkpoint-bad-epoch", RESUME + ["--epochs", "2"], 2, r"not an rfkit checkpoint \(unexpected contents\)",
        setup=save_checkpoint(lambda state: {**state, "epoch": "one"})),
    Row("checkpoint-other-model", RESUME + ["--epochs", "2"], 2, r"last\.pt does not fit zoo\.MnistNet_3 as "
        r"configured in config\.json \(RuntimeError: Error\(s\) in loading state_dict",
        setup=save_checkpoint(lambda state: {**state, "model": zoo.MnistNet_1().state_dict()})),
    Row("checkpoint-bad-rng", RESUME + ["--epochs", "2"], 2, r"last\.pt does not fit",
        setup=save_checkpoint(lambda state: {**state, "rng": {"cpu": torch.zeros(3)}})),
]

API_ROWS = [
    Row("api-trace-not-a-module", lambda ctx: rfkit.trace("zoo.MnistNet_1", (1, 28, 28)), RfkitError,
        r"expected an nn\.Module, got str", code=2),
    Row("api-trace-no-size", lambda ctx: rfkit.trace(small(ctx)), RfkitError, r"input_size", code=2),
    Row("api-trace-zero-size", lambda ctx: rfkit.trace(small(ctx), (0, 8, 8)), RfkitError, r"non-positive",
        code=2),
    Row("api-trace-fraction-size", lambda ctx: rfkit.trace(small(ctx), (1.5, 8, 8)), RfkitError, r"1\.5",
        code=2),
    Row("api-trace-string-size", lambda ctx: rfkit.trace(small(ctx), "1,8,8"), RfkitError, r"1,8,8", code=2),
    Row("api-trace-bad-device", lambda ctx: rfkit.trace(small(ctx), (1, 8, 8), device="nope"), RfkitError,
        r"nope", code=2),
    Row("api-trace-overflowing-size", lambda ctx: rfkit.trace(small(ctx), (1, 10 ** 11, 10 ** 11)), RfkitError,
        r"100000000000", code=2, huge=True),
    Row("api-trace-huge-wrong-channels", lambda ctx: rfkit.trace(ctx.model, (3, 100000, 100000)), TraceError,
        r"(?i)channel", code=1, huge=True, setup=with_model(zoo.MnistNet_1)),
    Row("api-trace-buffer-increment", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), None,
        setup=with_model(Counting)),
    Row("api-trace-buffer-increment-meta", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8), device="meta"), None,
        setup=with_model(Counting)),
    Row("api-trace-weight-written", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), None,
        setup=with_model(Scaling)),
    Row("api-trace-buffer-rebound", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), None,
        setup=with_model(Rebinding)),
    Row("api-trace-forward-calls-train", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), None,
        setup=with_model(Training)),
    Row("api-trace-forward-raises-at-top", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), TraceError,
        r"^forward failed (?!at : ).*ValueError: boom$", code=1, setup=with_model(Failing)),
    Row("api-trace-forward-raises-inside", lambda ctx: rfkit.trace(ctx.model, (1, 8, 8)), TraceError,
        r"^forward failed at FailingInside\.block: ValueError: boom$", code=1, setup=with_model(FailingInside)),
    Row("api-load-markup", lambda ctx: load("zoo.Net[/b]"), ModelLoadError, r"'zoo\.Net\[/b\]'", code=2),
    Row("api-load-bad-size", lambda ctx: load("zoo.MnistNet_1", "1,x,2"), ModelLoadError, r"not C,H,W", code=2),
    Row("api-config-epochs-zero", configure(epochs=0), RfkitError, r"--epochs 0: needs a positive integer", code=2),
    Row("api-config-epochs-bool", configure(epochs=True), RfkitError, r"--epochs True: needs a positive", code=2),
    Row("api-config-batch-zero", configure(batch_size=0), RfkitError, r"--batch-size 0: needs", code=2),
    Row("api-config-lr-nan", configure(lr=float("nan")), RfkitError, r"--lr nan: needs a finite", code=2),
    Row("api-config-seed-negative", configure(seed=-1), RfkitError, r"--seed -1: needs", code=2),
    Row("api-config-workers-negative", configure(workers=-1), RfkitError, r"workers -1: needs", code=2),
    Row("api-config-loader", configure(loader="turbo"), RfkitError, r"--loader 'turbo': is not one of", code=2),
    Row("api-config-dataset", configure(dataset="imagenet"), RfkitError, r"--dataset 'imagenet'", code=2),
    Row("api-config-device", configure(device="tpu"), RfkitError, r"--device 'tpu'", code=2),
    Row("api-config-amp", configure(amp="fp16"), RfkitError, r"--amp 'fp16'", code=2),
    Row("api-config-threads-bool", configure(threads=True), RfkitError, r"--threads True: needs a positive",
        code=2),
    Row("api-load-config-damaged", lambda ctx: train_config.load_config(ctx.run), RfkitError,
        r"config\.json is damaged \(not JSON", code=2, setup=write_run_file("config.json", b"{")),
    Row("api-resume-truncated-checkpoint", resume_api, RfkitError, r"last\.pt is damaged", code=2,
        setup=write_run_file("last.pt", lambda b: b[:100])),
    Row("api-resume-other-model", resume_api, RfkitError, r"last\.pt does not fit", code=2,
        setup=save_checkpoint(lambda state: {**state, "model": {"w": torch.zeros(1)}})),
    Row("api-load-split-corrupted", lambda ctx: data.load_split("mnist", ctx.data, train=True), RfkitError,
        r"train-images-idx3-ubyte is damaged \(magic number 0x0", code=2,
        setup=rewrite("train-images-idx3-ubyte", lambda b: bytes(4) + b[4:])),
    Row("api-torchvision-dataset-corrupted", lambda ctx: data.dataset("mnist", ctx.data, train=False), RfkitError,
        r"t10k-labels-idx1-ubyte is damaged", code=2, setup=rewrite("t10k-labels-idx1-ubyte", lambda b: b[:9])),
    Row("api-assert-params-no-limit", lambda ctx: assert_params(small(ctx)), RfkitError, r"needs equals= or max=",
        code=2),
    Row("api-assert-params-negative", lambda ctx: assert_params(small(ctx), max=-1), RfkitError,
        r"max=-1 needs a whole number >= 0", code=2),
    Row("api-assert-params-float", lambda ctx: assert_params(small(ctx), equals=2.5), RfkitError,
        r"equals=2\.5 needs a whole number", code=2),
    Row("api-assert-params-not-module", lambda ctx: assert_params("MnistNet_1", max=9), RfkitError,
        r"expected an nn\.Module, got str", code=2),
    Row("api-assert-rf-zero", lambda ctx: assert_rf(small(ctx), min=0, input_size=(1, 8, 8)), RfkitError,
        r"min=0 needs a positive integer", code=2),
    Row("api-assert-rf-no-limit", lambda ctx: assert_rf(small(ctx), input_size=(1, 8, 8)), RfkitError,
        r"needs equals= or min=", code=2),
    Row("api-assert-rf-unknown-layer", lambda ctx: assert_rf(small(ctx), min=3, layer="x", input_size=(1, 8, 8)),
        RfkitError, r"layer 'x': no layer 'x'; layers: 0", code=2),
    Row("api-assert-rf-three-axes", lambda ctx: assert_rf(small(ctx), equals=(3, 3, 3), input_size=(1, 8, 8)),
        RfkitError, r"\(3, 3, 3\) gives 3 axes; Sequential has 2", code=2),
    Row("api-assert-rf-no-size", lambda ctx: assert_rf(small(ctx), equals=3), RfkitError,
        r"Sequential is not a zoo network: pass input_size", code=2),
    Row("api-assert-budget-typo", lambda ctx: assert_budget(small(ctx), max_parms=5), RfkitError,
        r"unknown budget key\(s\) max_parms", code=2),
    Row("api-assert-budget-nothing", lambda ctx: assert_budget(small(ctx)), RfkitError, r"needs limits", code=2),
    Row("api-assert-budget-coverage", lambda ctx: assert_budget(small(ctx), (1, 8, 8), min_coverage=2), RfkitError,
        r"min_coverage 2 needs a share", code=2),
    Row("api-budget-merged-empty-rf", lambda ctx: budgets.Budget().merged(min_rf=[]), RfkitError,
        r"min_rf \[\] needs", code=2),
    Row("api-budget-mapping-string", lambda ctx: budgets.from_mapping({"max_params": "x"}, "f.toml"), RfkitError,
        r"^f\.toml: max_params 'x' needs a whole number >= 0$", code=2),
]

ROWS = (MODEL_ROWS + SIZE_ROWS + DEVICE_ROWS + USAGE_ROWS + CHECK_ROWS + AUDIT_ROWS + FORWARD_ROWS + TRAIN_ROWS
        + RESUME_ROWS + API_ROWS)


# ---------------------------------------------------------------- the runner

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(mnist_dir, tmp_path_factory):
    """A one-epoch MnistNet_3 run on the fake MNIST: config.json, last.pt, best.pt, metrics, figures."""
    root = tmp_path_factory.mktemp("trained")
    config = train_config.make_config("zoo.MnistNet_3", "MnistNet_3", zoo.card("MnistNet_3"), data_dir=mnist_dir,
                                      run_dir=root / "run", device="cpu", epochs=1, batch_size=64, seed=3)
    torch.manual_seed(config.seed)
    training.start(config, load(config.model, need_size=False).model).run()
    pristine = snapshot(root / "run")
    yield root / "run"
    assert snapshot(root / "run") == pristine, "a row wrote to the shared run instead of its own copy"


@pytest.fixture
def ctx(tmp_path, mnist_dir, trained_run, monkeypatch) -> Ctx:
    def offline(self, *args, **kwargs):
        raise OSError("no network in tests")

    for cls in (torchvision.datasets.MNIST, torchvision.datasets.FashionMNIST, torchvision.datasets.CIFAR10):
        monkeypatch.setattr(cls, "download", offline)
    monkeypatch.setenv("RFKIT_DATA", str(tmp_path / "default-data"))
    monkeypatch.delenv("RFKIT_DEBUG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    shutil.copytree(mnist_dir, work / "data")
    shutil.copytree(trained_run, work / "run")
    return Ctx(work, work / "data", work / "run", monkeypatch=monkeypatch)


def snapshot(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.is_dir(), None if p.is_dir() else p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def model_state(model: nn.Module | None):
    if model is None:
        return None
    return ({k: (id(v), v.detach().clone()) for k, v in model.state_dict(keep_vars=True).items()},
            [m.training for m in model.modules()])


def assert_same_model(before, model: nn.Module | None):
    if before is None:
        return
    tensors, flags = before
    now = model.state_dict(keep_vars=True)
    assert set(now) == set(tensors), "the model's parameters or buffers changed names"
    for k, (ident, value) in tensors.items():
        assert id(now[k]) == ident, f"{k} was replaced"
        assert torch.equal(now[k].detach(), value), f"{k} was written"
    assert [m.training for m in model.modules()] == flags, "train/eval flags changed"


@contextlib.contextmanager
def memory_cap(extra: int = 6 * 2 ** 30):
    """Address space capped at what the process has now plus `extra`: an allocation of a huge real input
    fails at once (as a RuntimeError) instead of swapping the machine."""
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("needs /proc to cap memory")
    used = int(re.search(r"VmSize:\s+(\d+) kB", status.read_text())[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_cli(row: Row, ctx: Ctx):
    args = [a.format(tmp=ctx.tmp, data=ctx.data, run=ctx.run) for a in row.run]
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"uncaught {type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in result.output
    assert result.exit_code == row.expect, result.output
    if row.expect == 0 or row.prints:
        assert result.stderr == ""
        assert re.search(row.match, result.stdout), result.stdout
        return
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(row.match, lines[0]), lines[0]
    if not row.stdout:
        assert result.stdout == ""


def run_api(row: Row, ctx: Ctx):
    if row.expect is None:
        row.run(ctx)
        return
    with pytest.raises(row.expect) as info:
        row.run(ctx)
    message = str(info.value)
    assert "\n" not in message.strip(), message
    assert re.search(row.match, message), message
    if row.code is not None:
        assert info.value.exit_code == row.code


def test_the_battery_is_large_and_ids_unique():
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(ROWS) >= 100
    assert sum(isinstance(row.run, list) for row in ROWS) >= 60 and sum(callable(row.run) for row in ROWS) >= 30


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id, marks=row.marks) for row in ROWS])
def test_bad_input(row: Row, ctx: Ctx):
    if row.setup is not None:
        row.setup(ctx)
    before, state = snapshot(ctx.tmp), model_state(ctx.model)
    with memory_cap() if row.huge else contextlib.nullcontext():
        (run_cli if isinstance(row.run, list) else run_api)(row, ctx)
    after = snapshot(ctx.tmp)
    changed = [p for p in before if after.get(p) != before[p]]
    assert not changed, f"altered: {changed}"
    if not row.writes:
        assert set(after) == set(before), f"created: {sorted(set(after) - set(before))}"
    assert_same_model(state, ctx.model)


def test_help_shows_brackets_as_written():
    text = runner.invoke(app, ["check", "--help"], terminal_width=200).output
    assert "[tool.rfkit] in pyproject.toml" in text
    assert "\\[" not in text
