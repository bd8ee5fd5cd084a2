"""Two loaders feed the same training loop. `fast` keeps the dataset on the
device as uint8, shuffles with a seeded randperm per epoch and augments whole
batches on the device (rfkit.train.augment), with no host sync. `torchvision`
is the seeds' own pipeline (DataLoader + PIL transforms), the reference for
fidelity and speed."""
from __future__ import annotations

from pathlib import Path

import torch

from rfkit.train import augment, data
from rfkit.train.config import TrainConfig


class FastLoader:
    """The dataset resident on the device as uint8; batches augmented on the device."""

    def __init__(self, config: TrainConfig, device: torch.device):
        root = Path(config.data_dir)
        train = data.load_split(config.dataset, root, train=True)
        self.test = data.load_split(config.dataset, root, train=False).to(device)
        self.train_aug = augment.DeviceAugment(tuple(config.train_transforms))
        self.test_aug = augment.DeviceAugment(tuple(config.test_transforms))
        # The per-image steps run on the CPU copy, and only their output goes to the device.
        self.train_variants = self.train_aug.variants(train.images).to(device)
        self.train = data.Split(self.train_variants[0], train.labels.to(device), train.classes)
        self.test_variants = self.test_aug.variants(self.test.images)
        self.batch_size, self.seed, self.device = config.batch_size, config.seed, device

    def train_batches(self, epoch: int):
        gen = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train.labels), device=self.device, generator=gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.train_aug(self.train_variants[:, idx], gen), self.train.labels[idx]

    def test_batches(self, batch_size: int):
        for i in range(0, len(self.test.labels), batch_size):
            yield self.test_aug(self.test_variants[:, i:i + batch_size], None), self.test.labels[i:i + batch_size]

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

    def __init__(self, config: TrainConfig, device: torch.device):
        root = Path(config.data_dir)
        self.train = data.dataset(config.dataset, root, True, augment.torchvision_pipeline(tuple(config.train_transforms)))
        self.test = data.dataset(config.dataset, root, False, augment.torchvision_pipeline(tuple(config.test_transforms)))
        self.raw_test = data.dataset(config.dataset, root, False)
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


