"""Which devices a trace or a training run can use, checked before any tensor meets the name (torch's
own errors for 'nope' or a missing CUDA are long and say nothing about the flag)."""
from __future__ import annotations

import re

import torch

from rfkit.errors import RfkitError

_DEVICE = re.compile(r"(auto|meta|cpu|mps|cuda)(:\d+)?")


def parse_device(device: str, flag: str = "--device", meta: bool = True) -> str:
    """A device string checked before any tensor meets it: auto, cpu, mps, cuda or cuda:N (and meta
    where `meta`), with CUDA present and the index in range; else a one-line error naming `flag`."""
    choices = "auto, " + ("meta, " if meta else "") + "cpu, cuda or cuda:N"
    match = _DEVICE.fullmatch(device.strip())
    if match is None or (match[1] == "meta" and not meta) or (match[2] and match[1] != "cuda"):
        raise RfkitError(f"{flag} {device!r}: use {choices}")
    if match[1] == "mps" and not torch.backends.mps.is_available():
        raise RfkitError(f"{flag} mps: Apple's MPS is not available on this machine; use {flag} cpu")
    if match[1] == "cuda":
        if not torch.cuda.is_available():
            raise RfkitError(f"{flag} {device}: CUDA is not available on this machine; use {flag} cpu")
        index = int(match[2][1:]) if match[2] else 0
        if index >= torch.cuda.device_count():
            raise RfkitError(f"{flag} {device}: only {torch.cuda.device_count()} CUDA device(s) here "
                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return device.strip()
