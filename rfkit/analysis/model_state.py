"""The model left exactly as found by a pass that runs its forward: every module's attributes and
registries saved and restored (`preserved`), its parameters and buffers replaced for the pass
by stand-ins (`substituted`), also when the forward raises.
"""
from __future__ import annotations

import contextlib
import itertools

import torch
import torch.nn as nn

from rfkit.analysis import meta, stats


# What a forward can register on a module in place (a buffer cached on first call, a submodule
# built lazily, a hook): their contents are restored after the pass, beside the attributes.
_REGISTRIES = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_forward_hooks",
               "_forward_pre_hooks")


@contextlib.contextmanager
def preserved(tree: stats.ModuleTree):
    """Eval mode (every module's `training` flag) and (global, temporary) hooks for the trace. After
    it, also when the forward raises: hooks removed, every module's attributes rebound as they were
    (the train/eval flag, and any plain attribute the forward rebinds, such as a call counter),
    and its parameters, buffers, submodules and forward hooks as they were (a forward that
    registers a buffer on its first call registers nothing)."""
    saved = [(m, attributes, [(r, r.copy() if r else None) for name in _REGISTRIES
                              if isinstance(r := attributes.get(name), (dict, set))])  # a ScriptModule's: C++ views
             for m, attributes in ((m, m.__dict__.copy()) for m in tree.modules)]
    handles = []
    try:
        for m, _, _ in saved:
            m.__dict__["training"] = False  # what eval() sets, without running train() overrides' side effects
        yield handles
    finally:
        for h in handles:
            h.remove()
        for m, attributes, registries in saved:
            for registry, content in registries:
                if content is None:
                    registry.clear()
                elif len(registry) != len(content) or registry is attributes.get("_modules"):
                    registry.clear()  # an entry added or dropped (a replaced parameter or buffer is
                    registry.update(content)  # put back by `substituted`; a replaced submodule here)
            m.__dict__.clear()
            m.__dict__.update(attributes)


@contextlib.contextmanager
def substituted(tree: stats.ModuleTree, stand_in):
    """Every parameter and buffer replaced, for the pass, by `stand_in(tensor)` (one per tensor, so
    tied weights stay tied), and put back after, also when the forward raises. The forward then
    never writes the user's tensors (a buffer it increments, a cache it fills). Swapping the
    modules' own entries costs a fraction of torch.func.functional_call's walk by name."""
    made: dict[int, torch.Tensor] = {}
    held = [(store, name, t) for m in tree.modules for store in (m._parameters, m._buffers)
            for name, t in store.items() if t is not None and not nn.parameter.is_lazy(t)]  # lazy: no data
    try:
        for store, name, t in held:
            copy_ = made.get(id(t))
            if copy_ is None:
                copy_ = made[id(t)] = stand_in(t)
            store[name] = copy_
        yield
    finally:
        for store, name, t in held:
            store[name] = t


def model_dtype(model: nn.Module) -> torch.dtype:
    t = next((t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()), None)
    return t.dtype if t is not None else torch.get_default_dtype()


def _model_device(model: nn.Module) -> torch.device:
    t = next(itertools.chain(model.parameters(), model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def stand_in_for(device: torch.device):
    """Free uninitialised tensors on meta, copies on a real device."""
    if device.type == "meta":
        return meta.empty_like
    return lambda t: t.detach().to(device, copy=True)
