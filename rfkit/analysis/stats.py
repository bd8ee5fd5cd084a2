"""Statistics taken from the model during a trace: parameters (each tensor
counted once: shared and tied weights are shown as shared, not counted twice),
per-module rows with the numbers each summary convention (rfkit's, torchinfo's,
torchsummary's) needs, and activation memory from the traced ops. MACs come
from rfkit.analysis.macs, counted per op as the tracer records it.
"""
from __future__ import annotations

import math

import torch.nn as nn

from rfkit.analysis.report import Layer, ModuleCall, ModuleStats


def _module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name.split("#")[0]) if name else model


def torchinfo_macs(module: nn.Module, out_shape: tuple[int, ...]) -> int:
    """torchinfo's mult-adds for a leaf: params x output positions for convs, x batch otherwise."""
    macs = 0
    for name, p in module.named_parameters():
        name = name.rsplit(".", 1)[-1]
        if name in ("weight", "bias"):
            if "Conv" in type(module).__name__:
                macs += p.numel() * math.prod(out_shape[:1] + out_shape[2:])
            else:
                macs += out_shape[0] * p.numel()
        elif "weight" in name or "bias" in name:
            macs += math.prod(out_shape[:2]) * p.numel()
    return macs


def module_rows(model: nn.Module, calls: list[ModuleCall], layers: list[Layer]) -> list[ModuleStats]:
    """One row per module call, in call order; a parameter tensor is counted at its first module."""
    own_by_name = {name: list(m.parameters(recurse=False)) for name, m in model.named_modules()}
    subtree: dict[str, dict[int, int]] = {}
    for name, own in own_by_name.items():
        parts = name.split(".") if name else []
        for depth in range(len(parts) + 1):
            bucket = subtree.setdefault(".".join(parts[:depth]), {})
            bucket.update((id(p), p.numel()) for p in own)
    seen: set[int] = set()
    rows = []
    for call in sorted(calls, key=lambda c: c.start):
        path = call.name.split("#")[0]
        module = _module(model, call.name)
        own = own_by_name.get(path, [])
        new = [p for p in own if id(p) not in seen]
        seen.update(id(p) for p in new)
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        first = next(module.parameters(), None)
        rows.append(ModuleStats(
            call=call,
            params=sum(p.numel() for p in new),
            shared=sum(p.numel() for p in own) - sum(p.numel() for p in new),
            trainable=sum(p.numel() for p in new if p.requires_grad),
            total_params=sum(subtree.get(path, {}).values()),
            macs=sum(layers[i].macs for i in call.layers),
            is_container=isinstance(module, (nn.Sequential, nn.ModuleList)),
            weight_bias_params=sum(t.numel() for t in (weight, bias) if hasattr(t, "size")),
            weight_trainable=hasattr(weight, "size") and weight.requires_grad,
            torchinfo_macs=torchinfo_macs(module, call.out_shapes[0] if call.out_shapes else ()) if call.is_leaf else 0,
            has_params=first is not None,
            param_element_size=first.element_size() if first is not None else 4,
        ))
    return rows


def unique_params(model: nn.Module) -> list:
    return list({id(p): p for p in model.parameters()}.values())
