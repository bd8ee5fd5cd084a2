"""Datasets through torchvision: MNIST, FashionMNIST, CIFAR10 and ImageFolder
(`train/` + `test/` class folders). Two views of the same files: torchvision
dataset objects (PIL images, for the reference loader) and whole splits as
uint8 tensors (N, C, H, W) with int64 labels (for the device-resident loader).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision

from rfkit.errors import RfkitError, one_line
from rfkit.train import augment

DATASETS = ("mnist", "fashion-mnist", "cifar10", "imagefolder")
NORMALIZE = {  # each dataset's standard per-channel mean and std, as a recipe writes it
    "mnist": "Normalize((0.1307,), (0.3081,))",
    "fashion-mnist": "Normalize((0.2860,), (0.3530,))",
    "cifar10": "Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616))",
}
IMAGE_SIZE = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # (C, H, W)
_EXPECTED = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "fashion-mnist": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "cifar10": "cifar-10-batches-py/{data_batch_1..5,test_batch}",
    "imagefolder": "train/<class>/*.jpg and test/<class>/*.jpg",
}


def default_data_dir() -> Path:
    """$RFKIT_DATA, else the user cache (~/.cache/rfkit/data)."""
    env = os.environ.get("RFKIT_DATA")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "rfkit" / "data"


@dataclass
class Split:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device) -> "Split":
        return Split(self.images.to(device), self.labels.to(device), self.classes)

    def __getitem__(self, part: slice) -> "Split":
        return Split(self.images[part], self.labels[part], self.classes)


def class_names(ds) -> list[str]:
    """Short class names: digits for MNIST-like sets, folder names otherwise."""
    names = list(getattr(ds, "classes", []))
    return [n.split(" - ")[0] for n in names]


def as_uint8_chw(image) -> torch.Tensor:
    """A PIL image as a uint8 (C, H, W) tensor."""
    array = torch.from_numpy(np.array(image, dtype=np.uint8))
    return array.unsqueeze(0) if array.dim() == 2 else array.permute(2, 0, 1).contiguous()


_IDX_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_IDX_MAGIC = {"images": (0x803, 3), "labels": (0x801, 1)}  # unsigned bytes; 3 dims (N, H, W) or 1 (N)
_CLASSES = 10


def _damaged(path: Path, why: str) -> RfkitError:
    return RfkitError(f"{path} is damaged ({why}): replace it with a good copy, or delete it so that rfkit "
                      f"downloads it again")


def _idx_shape(path: Path, kind: str) -> tuple[int, ...]:
    """The shape an IDX file's header promises, checked against the file's length."""
    magic, dims = _IDX_MAGIC[kind]
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4 + 4 * dims)
    if len(head) < 4 + 4 * dims:
        raise _damaged(path, f"{size} bytes, shorter than an IDX header")
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise _damaged(path, f"magic number {found:#x}, expected {magic:#x} for IDX {kind}")
    shape = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    expected = 4 + 4 * dims + math.prod(shape)
    if size != expected:
        raise _damaged(path, f"{size:,} bytes where its header promises {expected:,}: truncated or padded")
    if shape[0] == 0 or 0 in shape:
        raise _damaged(path, f"it holds no {kind} (shape {shape})")
    return shape


def check_idx(name: str, root: Path, train: bool):
    """MNIST-format files that are there, checked before torchvision reads them (whose own checks are bare
    asserts): header, length, images and labels agreeing, labels in range. Missing files are left to
    torchvision (which downloads them)."""
    raw = root / _IDX_FOLDER[name] / "raw"
    prefix = "train" if train else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    shapes = {kind: _idx_shape(path, kind) for kind, path in (("images", images), ("labels", labels))
              if path.is_file()}
    if len(shapes) < 2:
        return
    if shapes["images"][0] != shapes["labels"][0]:
        raise _damaged(labels, f"{shapes['labels'][0]:,} labels for the {shapes['images'][0]:,} images of {images}")
    top = int(np.fromfile(labels, dtype=np.uint8, offset=8).max())
    if top >= _CLASSES:
        raise _damaged(labels, f"label {top}, but {name} has classes 0 to {_CLASSES - 1}")


def _torchvision_dataset(name: str, root: Path, train: bool, transform=None):
    if name == "imagefolder":
        folder = root / ("train" if train else "test")
        if not folder.is_dir():
            raise RfkitError(f"no {folder}: --dataset imagefolder expects {root}/{_EXPECTED['imagefolder']}")
        try:
            return torchvision.datasets.ImageFolder(str(folder), transform=transform)
        except FileNotFoundError as exc:  # no class folders, or no images in them
            raise RfkitError(f"no images in {folder} ({one_line(exc)}): --dataset imagefolder expects "
                             f"{root}/{_EXPECTED['imagefolder']}") from None
    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    if name in _IDX_FOLDER:
        check_idx(name, root, train)
    try:
        return cls(str(root), train=train, transform=transform, download=False)
    except RuntimeError:
        pass
    present = [p for p in (root / _EXPECTED[name].split("/")[0]).glob("**/*") if p.is_file()]
    try:
        return cls(str(root), train=train, transform=transform, download=True)
    except Exception as exc:  # offline, or a broken mirror
        found = (f"not found or incomplete in {root} ({len(present)} file(s) there)" if present else
                 f"not found in {root}")
        raise RfkitError(f"{name} {found} (expected {root}/{_EXPECTED[name]}) and the download "
                         f"failed ({type(exc).__name__}); pass --data-dir DIR holding those files") from None


def dataset(name: str, root: Path, train: bool, transform=None):
    """The torchvision dataset object (PIL images through `transform`)."""
    if name not in DATASETS:
        raise RfkitError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return _torchvision_dataset(name, Path(root), train, transform)


def _read_image(ds, path: str) -> torch.Tensor:
    try:
        return as_uint8_chw(ds.loader(path))
    except (OSError, ValueError) as exc:  # PIL: truncated or not an image
        raise RfkitError(f"cannot read image {path} ({one_line(exc)}): remove or replace it") from None


def load_split(name: str, root: Path, train: bool) -> Split:
    """A whole split as uint8 tensors, read once from torchvision's files."""
    ds = dataset(name, root, train)
    classes = class_names(ds)
    if name in ("mnist", "fashion-mnist"):
        return Split(ds.data.unsqueeze(1).contiguous(), ds.targets.long(), classes)
    if name == "cifar10":
        return Split(torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets), classes)
    images = [_read_image(ds, path) for path, _ in ds.samples]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) != 1:
        raise RfkitError(f"images in {root} differ in size ({sorted(shapes)[:3]}...): the fast loader needs one "
                         f"size; use --loader torchvision")
    return Split(torch.stack(images), torch.tensor([label for _, label in ds.samples]), classes)


def test_images(name: str, root: Path, n: int, transforms) -> torch.Tensor:
    """The first `n` test images through the recipe's test `transforms` (torchvision's own
    pipeline: the reference), as one float batch (n, C, H, W)."""
    if n <= 0:
        raise RfkitError(f"--samples must be positive, got {n}")
    ds = dataset(name, root, train=False, transform=augment.torchvision_pipeline(tuple(transforms)))
    images = [ds[i][0] for i in range(min(n, len(ds)))]
    if not images:
        raise RfkitError(f"the {name} test split in {root} is empty")
    return torch.stack(images)
