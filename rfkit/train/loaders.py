"""Two loaders feed the same training loop. `fast` keeps the dataset on the
device as uint8, shuffles with a seeded randperm per epoch and augments whole
batches on the device (rfkit.train.augment), with no host sync. `torchvision`
is the seeds' own pipeline (DataLoader + PIL transforms), the reference for
fidelity and speed."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Subset

from rfkit.errors import RfkitError
from rfkit.train import augment, data
from rfkit.train.config import TrainConfig


def held_out(n_train: int, val: int) -> int:
    """Where the validation split starts: the last `val` of `n_train` training images, checked."""
    if val >= n_train:
        raise RfkitError(f"--val {val}: the training set has {n_train:,} images; hold out fewer")
    return n_train - val


class FastLoader:
    """The dataset resident on the device as uint8; batches augmented on the device. `splits`: the
    (train, test) splits already read (a design worker reads them once for all its trials)."""

    def __init__(self, config: TrainConfig, device: torch.device, splits: tuple[data.Split, data.Split] | None = None):
        root = Path(config.data_dir)
        train, test = splits or (data.load_split(config.dataset, root, train=True),
                                 data.load_split(config.dataset, root, train=False))
        val = None
        if config.val:
            cut = held_out(len(train), config.val)
            train, val = train[:cut], train[cut:]
        self.test = test.to(device)
        self.train_aug = augment.DeviceAugment(tuple(config.train_transforms))
        self.test_aug = augment.DeviceAugment(tuple(config.test_transforms))
        # The per-image steps run on the CPU copy, and only their output goes to the device.
        self.train_variants = self.train_aug.variants(train.images).to(device)
        self.train = data.Split(self.train_variants[0], train.labels.to(device), train.classes)
        self.test_variants = self.test_aug.variants(self.test.images)
        self.val = val.to(device) if val is not None else None
        self.val_variants = self.test_aug.variants(self.val.images) if val is not None else None
        self.batch_size, self.seed, self.device = config.batch_size, config.seed, device

    def train_batches(self, epoch: int):
        gen = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train.labels), device=self.device, generator=gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.train_aug(self.train_variants[:, idx], gen), self.train.labels[idx]

    def test_batches(self, batch_size: int):
        return self._unaugmented(self.test, self.test_variants, batch_size)

    def val_batches(self, batch_size: int):
        return self._unaugmented(self.val, self.val_variants, batch_size)

    def _unaugmented(self, split: data.Split, variants: torch.Tensor, batch_size: int):
        for i in range(0, len(split.labels), batch_size):
            yield self.test_aug(variants[:, i:i + batch_size], None), split.labels[i:i + batch_size]

    @property
    def classes(self) -> list[str]:
        return self.test.classes

    @property
    def input_size(self) -> tuple[int, ...]:
        return tuple(self.test.images.shape[1:])

    def test_examples(self, indices: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        return self.test.images[indices.to(self.device)].cpu(), self.test.labels[indices.to(self.device)].tolist()


class TorchvisionLoader:
    """The seeds' pipeline: torchvision datasets, PIL transforms, DataLoader."""

    def __init__(self, config: TrainConfig, device: torch.device, splits=None):
        root = Path(config.data_dir)
        test_pipeline = augment.torchvision_pipeline(tuple(config.test_transforms))
        self.train = data.dataset(config.dataset, root, True, augment.torchvision_pipeline(tuple(config.train_transforms)))
        self.test = data.dataset(config.dataset, root, False, test_pipeline)
        self.raw_test = data.dataset(config.dataset, root, False)
        self.val = None
        if config.val:
            cut = held_out(len(self.train), config.val)
            self.val = Subset(data.dataset(config.dataset, root, True, test_pipeline), range(cut, len(self.train)))
            self.train = Subset(self.train, range(cut))
        self.config, self.device = config, device

    def _loader(self, dataset, shuffle: bool, batch_size: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                                           num_workers=self.config.workers, pin_memory=self.device.type == "cuda",
                                           persistent_workers=False)

    def train_batches(self, epoch: int):
        for x, y in self._loader(self.train, True, self.config.batch_size, self.config.seed * 1_000_003 + epoch):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def test_batches(self, batch_size: int):
        for x, y in self._loader(self.test, False, batch_size, 0):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def val_batches(self, batch_size: int):
        for x, y in self._loader(self.val, False, batch_size, 0):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    @property
    def classes(self) -> list[str]:
        return data.class_names(self.raw_test)

    @property
    def input_size(self) -> tuple[int, ...]:
        return tuple(self.test[0][0].shape)

    def test_examples(self, indices: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        samples = [self.raw_test[int(i)] for i in indices]
        return torch.stack([data.as_uint8_chw(image) for image, _ in samples]), [label for _, label in samples]


LOADERS = {"fast": FastLoader, "torchvision": TorchvisionLoader}


