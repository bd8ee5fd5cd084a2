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

pytest_plugins = ["pytester"]
