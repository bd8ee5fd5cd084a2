import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from rfkit.train import config as train_config

DEFAULT_COMPILE = train_config.default_compile
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session", autouse=True)
def eager_by_default():
    """Training tests run eager unless they pass --compile: the zoo's networks compile by default on a
    CPU, which costs a cold run half a minute per batch shape. The tests of that default ask for the
    `compile_default` fixture."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_config, "default_compile", lambda card, device: False)
        yield


@pytest.fixture
def compile_default(monkeypatch):
    """rfkit's own default_compile, for the tests of it."""
    monkeypatch.setattr(train_config, "default_compile", DEFAULT_COMPILE)


def shared_data_dir() -> Path | None:
    """Real data: $RFKIT_TEST_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("RFKIT_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    return next((p for p in candidates if (p / "MNIST" / "raw").is_dir()), None)


def seeds_dir() -> Path:
    """The documented seeds: $RFKIT_SEEDS, else ../shared/seeds beside the checkout."""
    env = os.environ.get("RFKIT_SEEDS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "seeds"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set RFKIT_TEST_DATA or provide ../shared/data")
    return path


def write_idx(path, array: np.ndarray, magic: int):
    """An IDX file as torchvision reads MNIST: big-endian magic, one uint32 per dim, then the bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k: stripes of frequency k+1 at a random phase and orientation, plus noise (learnable by a GAP net)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:28, 0:28]
    images = []
    for k in labels:
        coord = xx if rng.random() < 0.5 else yy
        wave = np.sin(2 * np.pi * (k + 1) * coord / 28 + rng.uniform(0, 2 * np.pi)) > 0
        images.append(np.clip(wave * 200 + rng.normal(0, 20, (28, 28)), 0, 255))
    return np.stack(images), labels


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """A small MNIST in torchvision's on-disk IDX format: 320 training and 100 test images of stripes."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", 320, 0), ("t10k", 100, 1)):
        images, labels = stripes(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 0x803)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, 0x801)
    return root


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output (review the diff before committing)")


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/<name> byte for byte (or rewrite it under --update-golden)."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str):
        path = Path(__file__).parent / "golden" / name
        if update:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            return
        assert path.is_file(), f"no golden file {path.name}: run pytest --update-golden and review the diff"
        expected = path.read_text()
        if text != expected:
            import difflib
            diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "now"))
            raise AssertionError(f"{name} differs from its golden file (pytest --update-golden rewrites it):\n"
                                 f"{diff}")

    return check


pytest_plugins = ["pytester"]
