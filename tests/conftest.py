import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


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
