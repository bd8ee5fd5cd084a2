"""The empirical oracle: receptive fields measured from gradients, independent
of the traced algebra.

A float64 copy of the model gets positive, row-normalised weights and zero
biases; activations become identities and max-pooling becomes average
pooling, so every path from an input pixel to an output carries a strictly
positive gradient and none cancels. The RF of an output position is then the
support of its input gradient. The input is enlarged where the model allows,
so that the RF of a central output position is not clipped by the image.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from rfkit.analysis import ops, rules
from rfkit.errors import RfkitError
from rfkit.analysis.report import Report
from rfkit.analysis.tracing import trace

_IDENTITY = {"relu", "relu_", "relu6", "gelu", "silu", "hardswish", "leaky_relu", "leaky_relu_", "elu", "elu_",
             "mish", "selu", "celu", "hardtanh", "hardtanh_", "prelu", "threshold", "rrelu", "sigmoid", "tanh",
             "hardsigmoid", "softmax", "log_softmax", "softmin", "layer_norm", "group_norm", "instance_norm"}


class _Linearised(TorchFunctionMode):
    """Activations (softmax and normalisations included: their signed
    gradients could cancel) -> identity, max pooling -> average pooling."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _IDENTITY and args and isinstance(args[0], torch.Tensor):
            return args[0]
        if name.startswith("max_pool") or name.startswith("adaptive_max_pool"):
            return _avg_pool(name, ops.bind(func, args, kwargs))
        return func(*args, **kwargs)


def _avg_pool(name: str, a: dict) -> torch.Tensor:
    x = a["input"]
    if name.startswith("adaptive"):
        nd = int(name[-2])
        return getattr(F, f"adaptive_avg_pool{nd}d")(x, a["output_size"])
    nd = int(name[len("max_pool")])
    k = a["kernel_size"]
    stride = a.get("stride") or k
    dilation = a.get("dilation", 1)
    if any(d != 1 for d in rules._tuple(dilation, nd)):
        channels = x.shape[-nd - 1]
        ks = rules._tuple(k, nd)
        weight = torch.ones((channels, 1, *ks), dtype=x.dtype) / math.prod(ks)
        conv = getattr(F, f"conv{nd}d")
        return conv(x, weight, stride=stride, padding=a.get("padding", 0), dilation=dilation, groups=channels)
    pool = getattr(F, f"avg_pool{nd}d")
    return pool(x, k, stride, a.get("padding", 0), a.get("ceil_mode", False))


def _positive_copy(model: nn.Module) -> nn.Module:
    probe = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in probe.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5)
                p.div_(p.sum(dim=tuple(range(1, p.dim())), keepdim=True))
            else:
                p.fill_(1.0)
        for name, b in probe.named_buffers():
            if name.endswith("running_mean"):
                b.zero_()
            elif name.endswith("running_var"):
                b.fill_(1.0)
    return probe


@dataclass(frozen=True)
class AxisCheck:
    axis: str
    n: int
    position: int  # the output position measured
    traced: tuple[float, float]  # RF interval of that position, clipped to the input
    measured: tuple[float, float] | None
    traced_rf: float
    traced_jump: float
    measured_jump: float | None
    clipped: bool

    @property
    def measured_rf(self) -> float | None:
        return None if self.measured is None else self.measured[1] - self.measured[0] + 1

    @property
    def ok(self) -> bool:
        jump_ok = self.measured_jump is None or self.measured_jump == self.traced_jump
        return self.measured == self.traced and jump_ok


@dataclass(frozen=True)
class Verification:
    input_size: tuple[int, ...]
    report: Report
    axes: tuple[AxisCheck, ...]

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.axes)

    @property
    def rf(self) -> tuple:
        return tuple(a.measured_rf for a in self.axes)


def _support(grad: torch.Tensor, axis_dim: int) -> tuple[int, int] | None:
    """First and last index along `axis_dim` with a positive gradient anywhere."""
    hit = (grad != 0).movedim(axis_dim, 0).reshape(grad.shape[axis_dim], -1).any(dim=1)
    idx = torch.nonzero(hit).flatten()
    return (int(idx.min()), int(idx.max())) if len(idx) else None


def _gradient(probe: nn.Module, x: torch.Tensor, out_index: tuple) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    with _Linearised():
        out = probe(x)
    out = next(t for t in _flat(out) if t.is_floating_point())
    target = out[out_index] if out_index else out
    (grad,) = torch.autograd.grad(target.sum(), x)
    return grad[0]


def _flat(obj):
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    return [t for item in obj for t in _flat(item)] if isinstance(obj, (list, tuple)) else []


def _measure(model: nn.Module, size: tuple[int, ...], report: Report | None = None) -> Verification:
    """Two backward passes: the central output position, and its diagonal neighbour for the jumps.
    `report` is the trace at `size`, when the caller already has it."""
    report = report or trace(model, size)
    probe = _positive_copy(model)
    x = torch.rand((1, *size), dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
    spatial = len(report.output)
    centre = [a.n // 2 if d is not None else 0 for a, d in zip(report.output, report.output_dims)]
    neighbour = [q + 1 if q + 1 < a.n else q - 1 for q, a in zip(centre, report.output)]
    grad = _gradient(probe, x, _out_index(report, centre))
    movable = any(d is not None and a.n >= 2 for a, d in zip(report.output, report.output_dims))
    grad_next = _gradient(probe, x, _out_index(report, neighbour)) if movable else None
    checks = []
    for axis, (a, dim) in enumerate(zip(report.output, report.output_dims)):
        n = size[len(size) - spatial + axis]
        in_dim = grad.dim() - spatial + axis
        measured = _support(grad, in_dim)
        mid = a.start + centre[axis] * a.j
        lo, hi = mid - Fraction(a.r - 1, 2), mid + Fraction(a.r - 1, 2)
        traced = (float(max(math.ceil(lo), 0)), float(min(math.floor(hi), n - 1)))
        measured_jump = None
        inside = lo - a.j >= 0 and hi + a.j <= n - 1
        if grad_next is not None and dim is not None and a.n >= 2 and inside and measured:
            other = _support(grad_next, in_dim)
            measured_jump = float(abs(other[1] - measured[1])) if other else None
        checks.append(AxisCheck(report.axis_names[axis], n, centre[axis], traced,
                                None if measured is None else (float(measured[0]), float(measured[1])),
                                float(a.r), float(a.j), measured_jump, lo < 0 or hi > n - 1))
    return Verification(tuple(size), report, tuple(checks))


def _out_index(report: Report, positions: list[int]) -> tuple:
    """Index of the output at `positions` (one per axis) along the dims that hold the axes."""
    dims = report.output_dims
    if not dims or all(d is None for d in dims):
        return ()
    index = [slice(None)] * (max(d for d in dims if d is not None) + 1)
    for q, d in zip(positions, dims):
        if d is not None:
            index[d] = q
    return tuple(index)


def verify(model: nn.Module, input_size, enlarge: bool = True) -> Verification:
    """Measured RF (r, jump, interval) beside the traced one, per axis.

    With `enlarge`, the input grows by the traced RF on each side (in steps of
    the output jump, so strided shapes stay aligned); a model that only runs at
    its own size (flatten + Linear, or a `view(-1, n)` that would fold positions
    into the batch) is measured there, clipped to the image.
    """
    size = tuple(int(v) for v in input_size)
    base = trace(model, size)
    if enlarge and base.output and all(a.known for a in base.output):
        grow = []
        before = base.rf_before_global or base.rf
        for r, layer_j in zip(before, _max_jumps(base)):
            step = max(int(layer_j), 1)
            grow.append(math.ceil(float(r) / step) * step)
        spatial = len(base.output)
        bigger = size[:len(size) - spatial] + tuple(n + 2 * g for n, g in zip(size[len(size) - spatial:], grow))
        try:
            enlarged = _measure(model, bigger)
        except (RfkitError, RuntimeError):
            enlarged = None
        if enlarged is not None and enlarged.report.output_shape[:1] == base.output_shape[:1]:
            return enlarged
    return _measure(model, size, base)


def _max_jumps(report: Report) -> tuple:
    kernel_layers = [l for l in report.layers if l.rule == rules.KERNEL]
    if not kernel_layers:
        return tuple(1 for _ in report.output)
    return tuple(max(max(l.j_out[i], 1) for l in kernel_layers) for i in range(len(report.output)))
