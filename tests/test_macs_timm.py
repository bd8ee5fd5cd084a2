"""MACs follow the work, wherever its operands come from: timm architectures whose forward
builds tensors of its own (a coordinate grid, relative-position tables, one-hot position
matrices, einsum over relative positions) against torch's FlopCounterMode / 2, built on meta.
benchmarks/macs_timm.py runs the same comparison on one architecture of every timm family."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import rfkit

timm = pytest.importorskip("timm")  # in the [dev] extra; an install without it has nothing to compare

CASES = {
    "edgenext_xx_small": (3, 64, 64),  # conv on a generated Fourier grid
    "swinv2_cr_tiny_224": None,  # MLP on a relative-coordinate table
    "swinv2_cr_base_224": None,
    "test_vit_relpos": None,
    "gemma4_vit_167m_enc": (3, 384, 384),  # one-hot positions @ table, pooling weights
    "mvitv2_tiny": None,  # einsum over decomposed relative positions
    "samvit_base_patch16_224": None,
    "cait_xxs24_224": None,
    "resnet18": None,
    "convnext_atto": None,
}


@pytest.mark.parametrize("name", CASES)
def test_macs_equal_the_flop_counter(name):
    with torch.device("meta"):
        model = timm.create_model(name).eval()
    size = CASES[name] or tuple(model.pretrained_cfg["input_size"])
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *size, device="meta"))
    assert rfkit.trace(model, size, device="meta").macs * 2 == counter.get_total_flops()
