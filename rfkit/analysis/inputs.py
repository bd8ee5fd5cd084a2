"""The forward's inputs for one pass, checked: from sizes (tensors on meta) or from the user's
tensors, one name per tensor, and which one the RF is measured in.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils import _pytree as pytree

from rfkit.errors import RfkitError


@dataclass
class Inputs:
    """The model's inputs for one pass: positional and keyword arguments (tensors, or lists, tuples
    and dicts holding them, nested as the forward wants them), a name per tensor, and which tensor
    the RF is measured in (None when none has spatial dims)."""

    args: tuple
    kwargs: dict
    names: list[str]
    rf_index: int | None

    @property
    def tensors(self) -> list[torch.Tensor]:
        return [t for t in pytree.tree_leaves((self.args, self.kwargs)) if isinstance(t, torch.Tensor)]

    @property
    def rf_tensor(self) -> torch.Tensor | None:
        return self.tensors[self.rf_index] if self.rf_index is not None else None

    def map(self, fn) -> "Inputs":
        args, kwargs = pytree.tree_map_only(torch.Tensor, fn, (self.args, self.kwargs))
        return Inputs(args, kwargs, self.names, self.rf_index)


def _sizes(input_size) -> list[tuple[int, ...]]:
    """input_size as a list of sizes: (C, H, W) is one input, [(C, H, W), (D,)] several."""
    if isinstance(input_size, (list, tuple)) and input_size and all(isinstance(v, (list, tuple, torch.Size))
                                                                     for v in input_size):
        sizes = [tuple(v) for v in input_size]
    elif isinstance(input_size, (list, tuple, torch.Size)):
        sizes = [tuple(input_size)]
    else:
        raise RfkitError(f"input_size {input_size!r}: pass (C, H, W) or a list of sizes, one per input")
    for size in sizes:
        if not all(isinstance(v, int) and not isinstance(v, bool) or isinstance(v, torch.SymInt) for v in size):
            raise RfkitError(f"input size {size}: sizes must be whole numbers, e.g. (1, 28, 28)")
        if any(v <= 0 for v in size):
            raise RfkitError(f"input size {size} has a non-positive entry; sizes must be positive")
        if math.prod(size) >= 2 ** 62:
            raise RfkitError(f"input size {size} has more elements than a tensor can hold; check the sizes")
    return sizes


def _dtypes(dtypes, n: int, default: torch.dtype) -> list[torch.dtype]:
    if dtypes is None:
        return [default] * n
    listed = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes]
    if not all(isinstance(d, torch.dtype) for d in listed):
        raise RfkitError(f"dtypes {dtypes!r}: pass torch dtypes, e.g. [torch.float32, torch.long]")
    if len(listed) == 1:
        listed *= n
    if len(listed) != n:
        raise RfkitError(f"{len(listed)} dtypes for {n} inputs: give one dtype per input")
    return listed


def _forward_names(model: nn.Module, n: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input{i}" for i in range(n)]


def _tensor_names(arg_names: list[str], args: tuple, kwargs: dict) -> list[str]:
    """A name per tensor, in `Inputs.tensors` order: the forward's parameter or the keyword, then the
    path inside a container (`batch['image']`)."""
    tops = list(arg_names) + list(kwargs)
    return [tops[path[1].idx] + pytree.keystr(path[2:]) if path[0].idx == 0 else path[1].key + pytree.keystr(path[2:])
            for path, leaf in pytree.tree_leaves_with_path((args, kwargs)) if isinstance(leaf, torch.Tensor)]


def model_inputs(model: nn.Module, input_size, input, dtypes, batch_size: int, rf_input, default_dtype: torch.dtype) -> Inputs:
    if input is not None:
        if isinstance(input, torch.Tensor):
            args, kwargs = (input,), {}
        elif isinstance(input, dict):
            args, kwargs = (), dict(input)
        elif isinstance(input, (list, tuple)):
            args, kwargs = tuple(input), {}
        else:
            raise RfkitError(f"input of type {type(input).__name__}: pass a tensor, a tuple of arguments or a dict "
                             f"of keyword arguments (tensors, or lists, tuples and dicts of tensors)")
        names = _tensor_names(_forward_names(model, len(args)), args, kwargs)  # none: a forward of no tensor
    else:
        if input_size is None:
            raise RfkitError("no input size: pass input_size=(C, H, W) or input=tensor")
        sizes = _sizes(input_size)
        kinds = _dtypes(dtypes, len(sizes), default_dtype)
        args = tuple(torch.zeros((batch_size, *size), dtype=d, device="meta") for size, d in zip(sizes, kinds))
        kwargs, names = {}, _forward_names(model, len(args))
    tensors = Inputs(args, kwargs, names, None).tensors
    if isinstance(rf_input, str):
        if rf_input not in names:
            raise RfkitError(f"rf_input={rf_input!r} names no input; inputs: {', '.join(names)}")
        rf_index = names.index(rf_input)
    elif rf_input is not None:
        if not isinstance(rf_input, int) or not -len(tensors) <= rf_input < len(tensors):
            raise RfkitError(f"rf_input={rf_input!r}: pass an input index below {len(tensors)} or one of "
                             f"{', '.join(names)}")
        rf_index = rf_input % len(tensors)
    else:
        rf_index = next((i for i, t in enumerate(tensors) if t.dim() >= 3 and t.is_floating_point()), None)
    return Inputs(args, kwargs, names, rf_index)
