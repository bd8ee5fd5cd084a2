"""Statistics taken from the model during a trace: parameters (each tensor
counted once: shared and tied weights are shown as shared, not counted twice),
per-module rows with the numbers each summary convention (rfkit's, torchinfo's,
torchsummary's) needs, and activation memory from the traced ops. MACs come
from rfkit.analysis.macs, counted per op as the tracer records it.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from rfkit.analysis.report import Layer, ModuleCall, ModuleStats, TorchinfoRow, TorchinfoSummary


class ModuleTree:
    """The model's modules read once per trace: each by its path, whether it is a leaf, and its
    parameters, its own and its descendants', each tensor once, from one bottom-up pass (not one
    `named_parameters()` walk per module). A parameter is filed under the module that holds it
    and its name there, where `named_parameters()` would first find it."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.by_path = dict(model.named_modules())
        self.own: dict[int, list[tuple[nn.Module, str, torch.Tensor]]] = {}
        self.is_leaf: dict[int, bool] = {}
        self._children: dict[int, list[nn.Module]] = {}
        self._below: dict[int, dict[int, tuple[nn.Module, str, torch.Tensor]]] = {}
        self._sums: dict[tuple[int, object], tuple] = {}
        stack = [(model, False)]
        while stack:
            module, children_done = stack.pop()
            if id(module) in self._below:
                continue
            children = [c for c in module._modules.values() if c is not None]
            if not children_done:
                stack.append((module, True))
                stack += [(c, False) for c in children if id(c) not in self._below]
                continue
            own: dict[int, tuple[nn.Module, str, torch.Tensor]] = {}
            for name, p in module._parameters.items():
                if p is not None and id(p) not in own:
                    own[id(p)] = (module, name, p)
            merged: dict[int, tuple[nn.Module, str, torch.Tensor]] = {}
            for part in reversed([own] + [self._below[id(c)] for c in children]):
                merged.update(part)  # the first place wins, as in named_parameters()
            self.own[id(module)] = list(own.values())
            self.is_leaf[id(module)] = not children
            self._children[id(module)] = children
            self._below[id(module)] = merged

    @property
    def shares_tensors(self) -> bool:
        """Whether a parameter is held by two modules (tied or shared weights)."""
        return sum(map(len, self.own.values())) != len(self._below[id(self.model)])

    @property
    def modules(self):
        """Every module once, in `named_modules()` order."""
        return self.by_path.values()

    def module(self, call_name: str) -> nn.Module:
        path = call_name.split("#")[0]
        found = self.by_path.get(path)
        return found if found is not None else self.model.get_submodule(path)

    def below(self, module: nn.Module):
        """(holding module, name there, parameter) for each parameter of the module's subtree."""
        return self._below[id(module)].values()

    def numel(self, module: nn.Module) -> int:
        """Elements of the module's parameters, its descendants' included, each tensor once."""
        return self.summed(module, _numel, (0,))[0]

    def summed(self, module: nn.Module, value, zero: tuple) -> tuple:
        """`value(owner, name, p)` (a tuple of numbers like `zero`) summed over the module's subtree,
        each tensor once: from its children's sums when no tensor repeats in the subtree, else
        tensor by tensor."""
        key = (id(module), value)
        if key in self._sums:
            return self._sums[key]
        children, below = self._children[id(module)], self._below[id(module)]
        parts = [value(*held) for held in self.own[id(module)]]
        if len(below) == len(parts) + sum(len(self._below[id(c)]) for c in children):
            parts += [self.summed(c, value, zero) for c in children]
        else:
            parts = [value(*held) for held in below.values()]
        total = self._sums[key] = tuple(map(sum, zip(zero, *parts)))
        return total


def numel(p: torch.Tensor) -> int:
    """Elements of a parameter or buffer; 0 for one a lazy module has not initialised yet
    (torchinfo counts those 0 too; reading their size raises)."""
    return 0 if nn.parameter.is_lazy(p) else p.numel()


def _numel(owner: nn.Module, name: str, p: torch.Tensor) -> tuple[int]:
    return (numel(p),)


def kind_of(module: nn.Module) -> str:
    """A module's class name as summaries print it: a TorchScript module's original class
    (`Net`, not `RecursiveScriptModule`), as torchinfo prints it."""
    if isinstance(module, torch.jit.ScriptModule):
        return str(getattr(module, "original_name", None) or type(module).__name__)
    return type(module).__name__


def _unevaluated(module: nn.Module, name: str):
    """`module.<name>`, except that a parametrized tensor is its stored original: reading the
    property would run the parametrization, and spectral norm's, in training mode, updates its
    power-iteration buffers in place."""
    children = module._modules
    plist = children.get("parametrizations") if isinstance(children, dict) else None  # a ScriptModule's is a view
    if plist is not None and name in plist._modules:
        return getattr(plist._modules[name], "original", None)
    return getattr(module, name, None)


def module_rows(tree: ModuleTree, calls: list[ModuleCall], layers: list[Layer]) -> list[ModuleStats]:
    """One row per module call, in call order; a parameter tensor is counted at its first module."""
    seen: set[int] = set()
    facts: dict[int, tuple] = {}
    rows = []
    for call in sorted(calls, key=lambda c: c.start):
        module = tree.module(call.name)
        known = facts.get(id(module))
        if known is None:
            weight, bias = _unevaluated(module, "weight"), _unevaluated(module, "bias")
            known = facts[id(module)] = (
                [(id(p), numel(p), p.requires_grad) for _, _, p in tree.own[id(module)]], tree.numel(module),
                isinstance(module, (nn.Sequential, nn.ModuleList)),
                sum(numel(t) for t in (weight, bias) if hasattr(t, "size")),
                hasattr(weight, "size") and weight.requires_grad)
        own, subtree, is_container, weight_bias, weight_trainable = known
        params = trainable = shared = 0
        for key, n, grad in own:
            if key in seen:
                shared += n
            else:
                seen.add(key)
                params, trainable = params + n, trainable + n * grad
        rows.append(ModuleStats(
            call=call, params=params, shared=shared, trainable=trainable, total_params=subtree,
            macs=sum(layers[i].macs for i in call.layers), is_container=is_container,
            weight_bias_params=weight_bias, weight_trainable=weight_trainable))
    return rows


# torchinfo 1.8's conventions, so that `--style torchinfo` prints what torchinfo prints (users
# diff the two). Where they differ from rfkit's own numbers, rfkit's style and JSON keep the
# true ones; docs/summaries.md lists the differences and tests/test_torchinfo_parity.py pins them.

def shown_output(output) -> tuple[tuple[int, ...], int]:
    """(shape, bytes per element) torchinfo shows for an output: the first element of a tuple
    or list, the last value of a dict, () (printed "--") for None or a 0-dim tensor. Where
    torchinfo 1.8 raises (TypeError: "unsupported input or output type"), rfkit shows what the
    output holds: a torch.distributions object the shape of one sample (batch_shape +
    event_shape), any other object the first tensor among its attributes."""
    first = output[0] if isinstance(output, (list, tuple)) and output else None
    if not isinstance(first, torch.Tensor) and hasattr(getattr(first, "data", None), "size"):
        first = first.data  # a PackedSequence
    if isinstance(first, torch.Tensor):
        return tuple(first.size()), first.element_size()
    if isinstance(output, dict):
        return _nested_output(list(output.values())[-1])
    if isinstance(output, torch.Tensor):
        return tuple(output.size()), output.element_size()
    if isinstance(output, (list, tuple)) or output is None:
        return _nested_output(output) if output is not None else ((), 0)
    return held_shape(output)


def _nested_output(obj) -> tuple[tuple[int, ...], int]:
    if hasattr(obj, "tensors"):
        return _nested_output(obj.tensors)
    if isinstance(obj, torch.Tensor):
        return tuple(obj.size()), obj.element_size()
    if not hasattr(obj, "__getitem__") or not obj:
        return (), 0
    if isinstance(obj, dict):
        return _nested_output(list(obj.values()))
    if callable(getattr(obj, "size", None)) and callable(getattr(obj, "element_size", None)):
        return tuple(obj.size()), obj.element_size()
    return _nested_output(obj[0]) if isinstance(obj, (list, tuple)) else ((), 0)


def held_tensors(obj) -> list[torch.Tensor]:
    """The tensors a plain object holds in its attributes (a dataclass, a distribution, a
    holder): directly, or in lists, tuples and dicts there; [] for anything without `__dict__`."""
    attributes = getattr(obj, "__dict__", None)
    if not isinstance(attributes, dict):
        return []
    found = []
    for value in attributes.values():
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple, dict)):
            found += [t for t in (value.values() if isinstance(value, dict) else value) if isinstance(t, torch.Tensor)]
    return found


def held_shape(obj) -> tuple[tuple[int, ...], int]:
    """(shape, bytes per element) of a non-container output: a distribution's sample, else its
    `tensors` (torchvision's ImageList), else the first tensor it holds; ((), 0) for none."""
    held = held_tensors(obj)
    elem = held[0].element_size() if held else 0
    if isinstance(obj, torch.distributions.Distribution):
        return tuple(obj.batch_shape + obj.event_shape), elem or 4
    if hasattr(obj, "tensors"):
        return _nested_output(obj.tensors)
    return (tuple(held[0].size()), elem) if held else ((), 0)


def _pruned_count(module: nn.Module, name: str, p: torch.Tensor) -> tuple[int, str]:
    """torchinfo counts a pruned `x_orig` as the ones in its `x_mask` buffer, under the name `x`."""
    if name.endswith("_orig"):
        mask = module
        for part in f"{name[:-5]}_mask".split("."):
            mask = getattr(mask, part, None)
        if isinstance(mask, torch.Tensor):
            return (mask.numel() if mask.is_meta else int(mask.sum())), name[:-5]
    return p.numel(), name


def _torchinfo_counts(owner: nn.Module, name: str, p: torch.Tensor) -> tuple[int, int, int]:
    """(params, trainable, bytes) of one tensor as torchinfo counts it."""
    n = 0 if nn.parameter.is_lazy(p) else _pruned_count(owner, name, p)[0]
    return n, n if p.requires_grad else 0, n * p.element_size() if n else 0


def _mult_adds(tree: ModuleTree, module: nn.Module, shape: tuple[int, ...]) -> int:
    """torchinfo's mult-adds of one call of a leaf module, from parameter counts alone: x batch x
    output positions for a class named *Conv*, x batch for other `weight`/`bias`, x the output's
    first two dims for RNN-style names (`weight_ih_l0`). Functional work (attention, matmul)
    counts nothing."""
    macs, conv = 0, "Conv" in type(module).__name__
    for owner, name, p in tree.below(module):
        n, name = _pruned_count(owner, name, p)
        if name in ("weight", "bias"):
            macs += int(n * math.prod(shape[:1] + shape[2:])) if conv else (shape[0] if shape else 0) * n
        elif "weight" in name or "bias" in name:
            macs += math.prod(shape[:2]) * n
    return macs


@dataclass(eq=False)
class _Entry:
    """torchinfo's LayerInfo while its list is built. An inserted ancestor is one object that
    can sit in the list twice; it then prints its last depth-idx and flags in both places."""

    module: nn.Module
    depth: int
    parent: _Entry | None
    recursive: bool = False
    shape: tuple[int, ...] = ()
    out_bytes: int = 0
    index: int = 0
    children: list = field(default_factory=list)


def _tree_places(model: nn.Module) -> dict[int, _Entry]:
    """torchinfo's hook walk: depth first over `_modules`, duplicates included; a module's last
    place wins (torchinfo re-registers its hooks there), and that place is its depth and parent."""
    places: dict[int, _Entry] = {}
    stack: list[tuple[nn.Module, int, _Entry | None]] = [(model, 0, None)]
    while stack:
        module, depth, parent = stack.pop()
        entry = places[id(module)] = _Entry(module, depth, parent)
        stack += [(child, depth + 1, entry) for child in reversed(module._modules.values()) if child is not None]
    return places


def _script_tree(module: nn.Module, places: dict[int, _Entry]):
    """A TorchScript module's place, then every module inside it, depth first (torchinfo's walk)."""
    stack = [module]
    while stack:
        current = stack.pop()
        yield places[id(current)]
        stack += [c for c in reversed(list(current._modules.values())) if c is not None]


def _insert_uncalled_ancestors(rows: list[_Entry], listed: set[int]) -> None:
    """torchinfo's add_missing_container_layers: an ancestor not on the current chain of rows
    (a ModuleList, a ModuleDict, a parent that never ran) is inserted just before the row; it is
    recursive when its module already has a row."""
    chain: dict[int, _Entry] = {}
    i = 0
    while i < len(rows):
        row = rows[i]
        ancestors, p = {}, row.parent
        while p is not None and p.depth > 0:
            ancestors[p.depth], p = p, p.parent
        for d in range(1, row.depth):
            a = ancestors[d]
            if (d not in chain or chain[d].module is not a.module) and a is not rows[i - 1]:
                a.recursive = a.recursive or id(a.module) in listed
                listed.add(id(a.module))
                rows.insert(i, a)
                chain[d] = a
                i += 1
        chain[row.depth] = row
        d = row.depth + 1
        while d in chain:
            del chain[d]
            d += 1
        i += 1


def torchinfo_summary(tree: ModuleTree, calls: list[ModuleCall], inputs: list[torch.Tensor]) -> TorchinfoSummary:
    """torchinfo 1.8's summary list and totals, from the traced calls (rules and examples:
    docs/summaries.md). One row per call in call order, never-called ancestors inserted;
    rows deeper than the shown depth still count in every total."""
    places = _tree_places(tree.model)

    rows, called, mult_adds = [], set(), 0
    for call in sorted(calls, key=lambda c: c.start):
        module = tree.module(call.name)
        place = places[id(module)]
        if isinstance(module, torch.jit.ScriptModule):
            # Compiled code: no hook sees inside it. As torchinfo, its row and each module inside
            # it print "--" and count no mult-adds; they list its tree and count its parameters.
            for inner in _script_tree(module, places):
                rows.append(_Entry(inner.module, inner.depth, inner.parent, id(inner.module) in called))
                called.add(id(inner.module))
            continue
        shape, elem = call.shown_out
        rows.append(_Entry(module, place.depth, place.parent, id(module) in called, shape, elem * math.prod(shape)))
        called.add(id(module))
        if tree.is_leaf[id(module)]:
            mult_adds += _mult_adds(tree, module, shape)
    _insert_uncalled_ancestors(rows, called)

    per_depth: dict[int, int] = {}
    for i, row in enumerate(rows):
        per_depth[row.depth] = row.index = per_depth.get(row.depth, 0) + 1
        end = i + 1
        while end < len(rows) and rows[end].depth > row.depth:
            end += 1
        row.children = rows[i + 1:end]  # all descendants, as torchinfo's `children`

    counts = {id(r): tree.summed(r.module, _torchinfo_counts, (0, 0, 0)) for r in rows}
    leaves = {id(r) for r in rows if tree.is_leaf[id(r.module)]}
    leftovers: dict[int, tuple[int, int]] = {}

    def leftover(row: _Entry) -> tuple[int, int]:
        """(params, trainable) of the row not in any non-recursive descendant's count."""
        if id(row) not in leftovers:
            num, trainable, _ = counts[id(row)]
            for child in row.children:
                if not child.recursive:
                    n, t = counts[id(child)][:2] if id(child) in leaves else leftover(child)
                    num, trainable = num - n, trainable - t
            leftovers[id(row)] = num, trainable
        return leftovers[id(row)]

    # The totals count each tensor once, as torchinfo's main branch does (its PR #397; 1.8 adds a
    # tied or shared tensor once per module holding it, and a root's leftover can then go
    # negative and drop the root's own parameters): the model's tensors, by torchinfo's rules
    # (pruned weights as their masks' ones, uninitialised lazy ones as 0). "Params size" keeps
    # torchinfo's rule, the leaf rows' parameters, each tensor once too.
    total, trainable, _ = tree.summed(tree.model, _torchinfo_counts, (0, 0, 0))
    fwd_bwd, leaf_bytes, shared = 0, {}, tree.shares_tensors
    for row in rows:
        if id(row) in leaves:
            fwd_bwd += 2 * row.out_bytes if counts[id(row)][0] > 0 else 0
            if not row.recursive:
                if not shared:
                    leaf_bytes[id(row)] = counts[id(row)][2]
                    continue
                for held in tree.below(row.module):
                    if id(held[2]) not in leaf_bytes:
                        leaf_bytes[id(held[2])] = _torchinfo_counts(*held)[2]
    return TorchinfoSummary(
        rows=tuple(TorchinfoRow(kind_of(r.module), r.depth, r.index, r.shape, *counts[id(r)][:2],
                                leftover(r)[0], id(r) in leaves, r.recursive) for r in rows),
        total_params=total, trainable_params=trainable, mult_adds=mult_adds,
        input_bytes=sum(sys.getsizeof(t.untyped_storage()) for t in inputs),
        forward_backward_bytes=fwd_bwd, param_bytes=sum(leaf_bytes.values()))
