"""Statistics on a traced report: parameters, multiply-accumulates, memory.

Parameters are counted once per tensor (shared and tied weights are shown as
shared, not counted twice). MACs are counted per traced op for the ops that do
multiply-accumulate work: convolutions, linear layers over all leading dims,
matmul/bmm, scaled_dot_product_attention and multi-head attention. Elementwise
ops, norms and pooling count zero MACs (as in torch's FlopCounterMode).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn as nn

if TYPE_CHECKING:
    from rfkit.tracing import Layer, ModuleCall, Report


def _base(layer: Layer) -> str:
    return layer.op.rsplit(".", 1)[-1]


def op_macs(op: str, in_shapes: tuple, out_shapes: tuple) -> int:
    """Multiply-accumulates of one op from its argument and output shapes."""
    out = out_shapes[0] if out_shapes else ()
    if op in ("conv1d", "conv2d", "conv3d"):
        return math.prod(out) * math.prod(in_shapes[1][1:])
    if op in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        return math.prod(in_shapes[0]) * math.prod(in_shapes[1][1:])
    if op in ("linear", "bilinear"):
        return math.prod(out) * in_shapes[1][-1]
    if op in ("matmul", "bmm", "mm", "__matmul__"):
        return math.prod(out) * in_shapes[0][-1]
    if op in ("baddbmm", "addmm", "addbmm"):
        return math.prod(out) * in_shapes[1][-1]
    if op == "scaled_dot_product_attention":
        q, k, v = in_shapes[:3]
        return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])
    if op == "multi_head_attention_forward":
        q, k = in_shapes[0], in_shapes[1]
        e = q[-1]
        batch = q[1] if len(q) == 3 else 1
        length, source = q[0], k[0]
        projections = batch * e * e * (2 * length + 2 * source)  # q and out projections on L, k and v on S
        return projections + 2 * batch * length * source * e
    return 0


def _module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name.split("#")[0]) if name else model


@dataclass(frozen=True)
class ModuleStats:
    """One module call as summaries print it."""

    call: ModuleCall
    params: int  # own parameters first seen here (recurse=False)
    shared: int  # own parameters already counted at an earlier module
    trainable: int
    total_params: int  # this module's subtree, each tensor once
    macs: int  # every op run inside this call


def annotate(report: Report) -> Report:
    """Fill in per-layer MACs (cheap, done at every trace)."""
    for layer in report.layers:
        layer.macs = op_macs(_base(layer), layer.in_shapes, (layer.out_shape,))
    return report


def module_rows(report: Report) -> list[ModuleStats]:
    """One row per module call, in call order; a parameter tensor is counted at its first module."""
    model = report.model
    own_by_name = {name: list(m.parameters(recurse=False)) for name, m in model.named_modules()}
    subtree: dict[str, dict[int, int]] = {}
    for name, own in own_by_name.items():
        parts = name.split(".") if name else []
        for depth in range(len(parts) + 1):
            bucket = subtree.setdefault(".".join(parts[:depth]), {})
            bucket.update((id(p), p.numel()) for p in own)
    seen: set[int] = set()
    rows = []
    for call in sorted(report.modules, key=lambda c: c.start):
        path = call.name.split("#")[0]
        own = own_by_name.get(path, [])
        new = [p for p in own if id(p) not in seen]
        seen.update(id(p) for p in new)
        rows.append(ModuleStats(
            call=call,
            params=sum(p.numel() for p in new),
            shared=sum(p.numel() for p in own) - sum(p.numel() for p in new),
            trainable=sum(p.numel() for p in new if p.requires_grad),
            total_params=sum(subtree.get(path, {}).values()),
            macs=sum(report.layers[i].macs for i in call.layers),
        ))
    return rows


def unique_params(model: nn.Module) -> list:
    return list({id(p): p for p in model.parameters()}.values())


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in unique_params(model))


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in unique_params(model) if p.requires_grad)


def param_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in unique_params(model))


def training_activation_bytes(report: Report) -> int:
    """Every op output kept for the backward pass: an upper bound of training activation memory."""
    return sum(layer.out_bytes for layer in report.layers)


def inference_activation_bytes(report: Report) -> int:
    """The largest single op's inputs plus outputs: the least an inference pass must hold at once."""
    return max((layer.in_bytes + layer.out_bytes for layer in report.layers), default=0)
