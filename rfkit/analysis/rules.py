"""How each traced op moves receptive fields: one rule per op family.

A rule gets an `OpCall` (the op's bound arguments, its inputs' RF states, its
output shapes) and returns an `Outcome` (the outputs' RF states, the rule's
category and, for kernel-like ops, k/s/p/d per axis). Ops with no rule keep RF
when every spatial size is unchanged (elementwise) and become `unknown`
otherwise, never a silent number. Rules live in the op registry (ops.py) beside
the MAC formulas; users add theirs with `rfkit.register_op` or `register_rule`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable

import torch

from rfkit.analysis import ops, rf
from rfkit.analysis.ops import OpCall
from rfkit.analysis.report import Category
from rfkit.analysis.rf import AxisRF

KERNEL, GLOBAL, POINTWISE, MERGE, RESHAPE, SELECT, RESAMPLE, ATTENTION, UNKNOWN = (
    Category.KERNEL, Category.GLOBAL, Category.POINTWISE, Category.MERGE, Category.RESHAPE, Category.SELECT,
    Category.RESAMPLE, Category.ATTENTION, Category.UNKNOWN)


@dataclass(frozen=True)
class TensorRF:
    """RF state of one tensor: per spatial axis of the model input, its RF, the
    tensor dim holding that axis (None once pooled away) and whether that dim
    also holds other axes or channels (`folded`, e.g. after flatten)."""

    axes: tuple[AxisRF, ...]
    dims: tuple[int | None, ...]
    folded: tuple[bool, ...]

    def with_axis(self, i: int, a: AxisRF, dim: int | None = ..., folded: bool | None = None) -> "TensorRF":
        axes, dims, fold = list(self.axes), list(self.dims), list(self.folded)
        axes[i] = a
        if dim is not ...:
            dims[i] = dim
        if folded is not None:
            fold[i] = folded
        return TensorRF(tuple(axes), tuple(dims), tuple(fold))

    def axes_at(self, dim: int) -> list[int]:
        return [i for i, d in enumerate(self.dims) if d == dim]


Number = Fraction | int


@dataclass(frozen=True)
class Kernel:
    k: int
    s: Number
    p: Number
    d: int


@dataclass
class Outcome:
    states: list  # TensorRF or None per output
    rule: Category
    kernels: dict = field(default_factory=dict)  # axis index -> Kernel
    note: str = ""


Rule = Callable[[OpCall], Outcome]


def register_rule(*names: str, replace: bool = False):
    """Decorator: `@register_rule("my_op")` makes `fn(call) -> Outcome` the RF rule of the ops named so
    (`ops.register_op(*names, rf=fn)`: an op that has a rule already is refused unless `replace=True`)."""

    def wrap(fn: Rule) -> Rule:
        ops.register_op(*names, rf=fn, replace=replace)
        return fn

    return wrap


def _tuple(v, n: int) -> tuple:
    if isinstance(v, (list, tuple)):
        return tuple(v) if len(v) == n else tuple(v) * n if len(v) == 1 else tuple(v)[-n:]
    return (v,) * n


def _one(call: OpCall, state: TensorRF | None, rule: str, **kw) -> Outcome:
    return Outcome([state] * len(call.out_shapes), rule, **kw)


def _spatial_dims(call: OpCall, nd: int) -> list[int]:
    ndim = len(call.in_shape)
    return list(range(ndim - nd, ndim))


def _mix_dim(state: TensorRF, dim: int) -> TensorRF:
    """Every position along `dim` now sees every other: axes there become global."""
    for i in state.axes_at(dim):
        state = state.with_axis(i, rf.global_op(state.axes[i]))
    return state


def _apply_kernels(call: OpCall, nd: int, kernels: list[Kernel]) -> Outcome:
    """Kernel ops over the last `nd` dims; a conv also mixes channels, so axes
    folded into the channel dim (after space-to-depth) become global."""
    state = call.state
    used = {}
    for dim, kern in zip(_spatial_dims(call, nd), kernels):
        n_out = call.out_shape[dim]
        for i in state.axes_at(dim):
            if state.folded[i]:
                state = state.with_axis(i, rf.global_op(state.axes[i]))
            else:
                state = state.with_axis(i, rf.kernel(state.axes[i], kern.k, kern.s, kern.p, kern.d, n_out))
            used[i] = kern
    if call.name.startswith("conv"):
        state = _mix_dim(state, len(call.in_shape) - nd - 1)
    dims = _spatial_dims(call, nd)
    collapses = all(call.out_shape[d] == 1 for d in dims) and any(call.in_shape[d] > 1 for d in dims)
    return _one(call, state, GLOBAL if collapses else KERNEL, kernels=used)


def _padding(padding, k: int, d: int) -> int:
    if padding == "valid":
        return 0
    if padding == "same":
        return (d * (k - 1)) // 2
    return padding


@register_rule("conv1d", "conv2d", "conv3d")
def conv(call: OpCall) -> Outcome:
    w = call.in_shapes[1]
    nd = len(w) - 2
    ks = w[2:]
    s = _tuple(call.arg("stride", 1), nd)
    d = _tuple(call.arg("dilation", 1), nd)
    padding = call.arg("padding", 0)
    p = [_padding(padding if isinstance(padding, str) else _tuple(padding, nd)[i], ks[i], d[i]) for i in range(nd)]
    return _apply_kernels(call, nd, [Kernel(ks[i], s[i], p[i], d[i]) for i in range(nd)])


@register_rule("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def conv_transpose(call: OpCall) -> Outcome:
    w = call.in_shapes[1]
    nd = len(w) - 2
    s = _tuple(call.arg("stride", 1), nd)
    p = _tuple(call.arg("padding", 0), nd)
    d = _tuple(call.arg("dilation", 1), nd)
    state = _mix_dim(call.state, 1)
    used = {}
    for spatial, dim in enumerate(_spatial_dims(call, nd)):
        for i in state.axes_at(dim):
            state = state.with_axis(i, rf.transposed_kernel(state.axes[i], w[2 + spatial], s[spatial], p[spatial],
                                                           d[spatial], call.out_shape[dim]))
            used[i] = Kernel(w[2 + spatial], Fraction(1, s[spatial]), p[spatial], d[spatial])
    return _one(call, state, RESAMPLE, kernels=used, note="transposed conv: RF bound over output phases")


def _pool(call: OpCall, nd: int) -> Outcome:
    ks = _tuple(call.arg("kernel_size"), nd)
    stride = call.arg("stride") or ks
    s = _tuple(stride, nd)
    p = _tuple(call.arg("padding", 0), nd)
    d = _tuple(call.arg("dilation", 1), nd)
    return _apply_kernels(call, nd, [Kernel(ks[i], s[i], p[i], d[i]) for i in range(nd)])


for _nd in (1, 2, 3):
    for _kind in ("max_pool", "avg_pool", "lp_pool", "max_pool{}d_with_indices"):
        _name = _kind.format(_nd) if "{}" in _kind else f"{_kind}{_nd}d"
        ops.register_op(_name, rf=functools.partial(_pool, nd=_nd))


def _adaptive(call: OpCall) -> Outcome:
    nd = int(call.name[-2])
    state = call.state
    used = {}
    for dim in _spatial_dims(call, nd):
        n_out = call.out_shape[dim]
        for i in state.axes_at(dim):
            a = state.axes[i]
            state = state.with_axis(i, rf.global_op(a) if state.folded[i] else rf.adaptive(a, n_out))
            k = -(-a.n // n_out)
            used[i] = Kernel(k, Fraction(a.n, n_out), 0, 1)
    rule = GLOBAL if all(call.out_shape[d] == 1 for d in _spatial_dims(call, nd)) else KERNEL
    return _one(call, state, rule, kernels=used)


for _nd in (1, 2, 3):
    ops.register_op(f"adaptive_avg_pool{_nd}d", f"adaptive_max_pool{_nd}d", rf=_adaptive)


@register_rule("interpolate", "upsample", "upsample_nearest", "upsample_bilinear")
def interpolate(call: OpCall) -> Outcome:
    mode = call.arg("mode", "nearest")
    taps = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}.get(mode)
    align = bool(call.arg("align_corners", False))
    nd = len(call.in_shape) - 2
    state = call.state
    for dim in _spatial_dims(call, nd):
        n_in, n_out = call.in_shape[dim], call.out_shape[dim]
        for i in state.axes_at(dim):
            a = state.axes[i]
            if taps is None or n_out < n_in:  # "area" or downsampling: an adaptive pool
                state = state.with_axis(i, rf.adaptive(a, n_out))
            else:
                state = state.with_axis(i, rf.upsample(a, Fraction(n_out, n_in), taps, align, n_out))
    return _one(call, state, RESAMPLE)


@register_rule("pixel_shuffle")
def pixel_shuffle(call: OpCall) -> Outcome:
    factor = call.arg("upscale_factor")
    state = call.state
    for dim in _spatial_dims(call, 2):
        for i in state.axes_at(dim):
            state = state.with_axis(i, rf.upsample(state.axes[i], Fraction(factor), 1, True, call.out_shape[dim]))
    return _one(call, state, RESAMPLE)


@register_rule("pixel_unshuffle")
def pixel_unshuffle(call: OpCall) -> Outcome:
    f = call.arg("downscale_factor")
    return _apply_kernels(call, 2, [Kernel(f, f, 0, 1)] * 2)


@register_rule("pad")
def pad(call: OpCall) -> Outcome:
    widths = list(call.arg("pad", ()))
    state = call.state
    ndim = len(call.in_shape)
    for i, dim in enumerate(state.dims):
        if dim is None or state.folded[i]:
            continue
        slot = 2 * (ndim - 1 - dim)
        if slot < len(widths):
            state = state.with_axis(i, rf.pad(state.axes[i], widths[slot], call.out_shape[dim]))
    return _one(call, state, SELECT)


def _reduced_dims(call: OpCall) -> list[int]:
    ndim = len(call.in_shape)
    dim = call.args.get("dim")
    if dim is None:
        return list(range(ndim))
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return sorted(d % ndim for d in dims)


_REDUCTIONS = ("mean", "sum", "amax", "amin", "max", "min", "prod", "std", "var", "norm", "logsumexp",
               "median", "nanmean", "nansum", "argmax", "argmin", "all", "any", "count_nonzero", "std_mean",
               "var_mean", "aminmax")


@register_rule(*_REDUCTIONS)
def reduction(call: OpCall) -> Outcome:
    if len(call.inputs) > 1 or (call.name in ("max", "min") and "other" in call.args):
        return elementwise(call)
    reduced = _reduced_dims(call)
    keep = bool(call.args.get("keepdim", False))
    state = call.state
    for dim in reduced:
        state = _mix_dim(state, dim)
    dims = tuple(d if d is None or keep else None if d in reduced else d - sum(r < d for r in reduced)
                 for d in state.dims)
    state = TensorRF(state.axes, dims, state.folded)
    return _one(call, state, GLOBAL if any(call.state.axes_at(d) for d in reduced) else POINTWISE)


@register_rule("softmax", "log_softmax", "softmin", "cumsum", "cumprod", "logcumsumexp", "cummax", "cummin",
               "sort", "argsort", "topk", "kthvalue", "glu")
def along_dim(call: OpCall) -> Outcome:
    dim = call.args.get("dim")
    ndim = len(call.in_shape)
    dim = ndim - 1 if dim is None else dim % ndim
    state = _mix_dim(call.state, dim)
    return _one(call, state, GLOBAL if call.state.axes_at(dim) else POINTWISE)


@register_rule("linear", "bilinear")
def linear(call: OpCall) -> Outcome:
    last = len(call.in_shape) - 1
    state = _mix_dim(call.state, last)
    return _one(call, state, GLOBAL if call.state.axes_at(last) else POINTWISE)


@register_rule("layer_norm", "rms_norm")
def layer_norm(call: OpCall) -> Outcome:
    shape = call.arg("normalized_shape", ())
    count = 1 if isinstance(shape, int) else len(shape)
    ndim = len(call.in_shape)
    state = call.state
    for dim in range(ndim - count, ndim):
        state = _mix_dim(state, dim)
    return _one(call, state, GLOBAL if state != call.state else POINTWISE)


def _align(state: TensorRF, ndim_in: int, ndim_out: int) -> TensorRF:
    shift = ndim_out - ndim_in
    return TensorRF(state.axes, tuple(None if d is None else d + shift for d in state.dims), state.folded)


def _merge(states: list[TensorRF], out_shape: tuple[int, ...], combine) -> tuple[TensorRF, bool]:
    n_axes = len(states[0].axes)
    axes, dims, folded, misaligned = [], [], [], False
    for i in range(n_axes):
        dim = next((s.dims[i] for s in states if s.dims[i] is not None), None)
        n_out = out_shape[dim] if dim is not None and not any(s.folded[i] for s in states) else \
            max(s.axes[i].n for s in states)
        merged = combine([s.axes[i] for s in states], n_out)
        axes.append(merged.rf)
        misaligned |= merged.misaligned
        dims.append(dim)
        folded.append(any(s.folded[i] for s in states))
    return TensorRF(tuple(axes), tuple(dims), tuple(folded)), misaligned


def elementwise(call: OpCall) -> Outcome:
    out = call.out_shape
    states = [_align(s, len(t.shape), len(out)) for t, s, _ in call.inputs]
    if len(states) == 1:
        return _one(call, _resize(states[0], out), POINTWISE)
    state, misaligned = _merge(states, out, rf.union)
    note = "inputs' RFs are misaligned (different jump or centre): union reported" if misaligned else ""
    return _one(call, state, MERGE, note=note)


def _resize(state: TensorRF, shape: tuple[int, ...]) -> TensorRF:
    axes = tuple(a if d is None or f else replace(a, n=shape[d]) for a, d, f in
                 zip(state.axes, state.dims, state.folded))
    return TensorRF(axes, state.dims, state.folded)


@register_rule("cat", "concat", "concatenate")
def cat(call: OpCall) -> Outcome:
    ndim = len(call.out_shape)
    dim = call.args.get("dim", 0) % ndim
    states = [s for _, s, _ in call.inputs]
    spatial = [i for s in states for i in s.axes_at(dim) if not s.folded[i]]
    if spatial:
        state = _unknown_axes(states[0], spatial, call.out_shape)
        return _one(call, state, UNKNOWN, note="concatenation along a spatial axis")
    combine = rf.concat_channels if not any(s.axes_at(dim) for s in states) else rf.union
    state, misaligned = _merge(states, call.out_shape, combine)
    note = "branches' RFs are misaligned (different jump or centre): union reported" if misaligned else ""
    return _one(call, state, MERGE, note=note)


@register_rule("stack")
def stack(call: OpCall) -> Outcome:
    ndim = len(call.out_shape)
    dim = call.args.get("dim", 0) % ndim
    states = [TensorRF(s.axes, tuple(None if d is None else d + (d >= dim) for d in s.dims), s.folded)
              for _, s, _ in call.inputs]
    state, misaligned = _merge(states, call.out_shape, rf.union)
    return _one(call, state, MERGE, note="misaligned inputs: union reported" if misaligned else "")


def _unknown_axes(state: TensorRF, axes: list[int], shape: tuple[int, ...]) -> TensorRF:
    for i in axes:
        d = state.dims[i]
        state = state.with_axis(i, replace(state.axes[i], r=None, r_min=None,
                                           n=shape[d] if d is not None and d < len(shape) else state.axes[i].n))
    return state


def _groups(in_shape, out_shape):
    """Pair up runs of non-unit dims whose products agree (how a reshape regroups dims)."""
    ins = [(d, n) for d, n in enumerate(in_shape) if n != 1]
    outs = [(d, n) for d, n in enumerate(out_shape) if n != 1]
    groups, i, o = [], 0, 0
    while i < len(ins) and o < len(outs):
        gi, go = [ins[i]], [outs[o]]
        pi, po = ins[i][1], outs[o][1]
        i, o = i + 1, o + 1
        while pi != po:
            if pi < po and i < len(ins):
                gi.append(ins[i]); pi *= ins[i][1]; i += 1
            elif po < pi and o < len(outs):
                go.append(outs[o]); po *= outs[o][1]; o += 1
            else:
                return None
        groups.append(([d for d, _ in gi], [(d, n) for d, n in go]))
    return groups


@register_rule("view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as",
               "ravel")
def reshape(call: OpCall) -> Outcome:
    state = call.state
    groups = _groups(call.in_shape, call.out_shape)
    if groups is None:
        return unknown(call)
    where = {d: (gi, go) for gi, go in groups for d in gi}
    axes, dims, folded = list(state.axes), list(state.dims), list(state.folded)
    for dim_in in sorted({d for d in state.dims if d is not None}):
        members = state.axes_at(dim_in)
        if dim_in not in where:
            for i in members:
                dims[i] = None
            continue
        gi, go = where[dim_in]
        if len(go) == 1:
            for i in members:
                dims[i], folded[i] = go[0][0], folded[i] or len(gi) > 1
        elif len(gi) == 1 and [n for _, n in go] == [axes[i].n for i in members]:
            for i, (d, _) in zip(members, go):
                dims[i], folded[i] = d, False
        else:
            for i in members:
                dims[i], folded[i] = go[0][0], True
                axes[i] = replace(axes[i], exact=False)
    return _one(call, TensorRF(tuple(axes), tuple(dims), tuple(folded)), RESHAPE)


def _permuted(state: TensorRF, order: list[int]) -> TensorRF:
    inverse = {old: new for new, old in enumerate(order)}
    return TensorRF(state.axes, tuple(None if d is None else inverse[d] for d in state.dims), state.folded)


@register_rule("permute")
def permute(call: OpCall) -> Outcome:
    ndim = len(call.in_shape)
    order = call.args.get("dims")
    if order is None:
        rest = call.positional[1:]
        order = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    if len(order) != ndim:
        return unknown(call)
    return _one(call, _permuted(call.state, [d % ndim for d in order]), RESHAPE)


@register_rule("transpose", "swapaxes", "swapdims", "t", "mT", "T")
def transpose(call: OpCall) -> Outcome:
    ndim = len(call.in_shape)
    a = call.args.get("dim0", call.args.get("axis0", ndim - 2))
    b = call.args.get("dim1", call.args.get("axis1", ndim - 1))
    if call.name == "T":
        order = list(reversed(range(ndim)))
    else:
        order = list(range(ndim))
        order[a % ndim], order[b % ndim] = order[b % ndim], order[a % ndim]
    return _one(call, _permuted(call.state, order), RESHAPE)


@register_rule("movedim", "moveaxis")
def movedim(call: OpCall) -> Outcome:
    ndim = len(call.in_shape)
    src = call.args.get("source")
    dst = call.args.get("destination")
    src = [s % ndim for s in (src if isinstance(src, (list, tuple)) else [src])]
    dst = [d % ndim for d in (dst if isinstance(dst, (list, tuple)) else [dst])]
    rest = iter(d for d in range(ndim) if d not in src)
    placed = dict(zip(dst, src))
    return _one(call, _permuted(call.state, [placed[i] if i in placed else next(rest) for i in range(ndim)]), RESHAPE)


@register_rule("expand", "expand_as", "broadcast_to")
def expand(call: OpCall) -> Outcome:
    return _one(call, _align(call.state, len(call.in_shape), len(call.out_shape)), RESHAPE)


@register_rule("__getitem__")
def getitem(call: OpCall) -> Outcome:
    index = call.args.get("idx", call.args.get("indices"))
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, torch.Tensor) or isinstance(i, list) for i in index):
        return unknown(call)
    ndim = len(call.in_shape)
    n_ellipsis = ndim - sum(1 for i in index if i is not None and i is not Ellipsis)
    expanded = []
    for i in index:
        expanded.extend([slice(None)] * n_ellipsis if i is Ellipsis else [i])
    expanded += [slice(None)] * (ndim - sum(1 for i in expanded if i is not None))
    state = call.state
    axes, dims, folded = list(state.axes), list(state.dims), list(state.folded)
    mapping, out_dim, in_dim = {}, 0, 0
    for item in expanded:
        if item is None:
            out_dim += 1
            continue
        members = state.axes_at(in_dim)
        if isinstance(item, int):
            mapping[in_dim] = None
            for i in members:
                if not folded[i]:
                    axes[i] = rf.select(axes[i], item % call.in_shape[in_dim], 1, 1)
        else:
            mapping[in_dim] = out_dim
            first, _, step = item.indices(call.in_shape[in_dim])
            for i in members:
                if not folded[i]:
                    axes[i] = rf.select(axes[i], first, step, call.out_shape[out_dim])
            out_dim += 1
        in_dim += 1
    dims = [None if d is None else mapping.get(d) for d in dims]
    return _one(call, TensorRF(tuple(axes), tuple(dims), tuple(folded)), SELECT)


def _split_rule(call: OpCall) -> Outcome:
    ndim = len(call.in_shape)
    dim = call.args.get("dim", 0) % ndim
    state = call.state
    if not [i for i in state.axes_at(dim) if not state.folded[i]]:
        return Outcome([_resize(state, s) for s in call.out_shapes], POINTWISE)
    states, offset = [], 0
    for shape in call.out_shapes:
        s = state
        for i in state.axes_at(dim):
            s = s.with_axis(i, rf.select(state.axes[i], offset, 1, shape[dim] if len(shape) == ndim else 1))
        offset += shape[dim] if len(shape) == ndim else 1
        states.append(s if len(shape) == ndim else TensorRF(s.axes, tuple(
            None if d == dim else d if d is None or d < dim else d - 1 for d in s.dims), s.folded))
    return Outcome(states, SELECT)


ops.register_op("split", "chunk", "tensor_split", "unbind", "split_with_sizes", "narrow", rf=_split_rule)


@register_rule("matmul", "__matmul__", "bmm", "mm", "baddbmm")
def matmul(call: OpCall) -> Outcome:
    """a @ b contracts a's last dim with b's second-to-last: axes there become
    global; an axis kept in both a's rows and b's columns (q @ k^T over tokens)
    is global too."""
    first = 1 if call.name == "baddbmm" else 0
    out = call.out_shape
    states = []
    for t, s, pos in call.inputs:
        nd = t.dim()
        role = pos - first
        if role not in (0, 1):  # baddbmm's added term
            states.append(_align(s, nd, len(out)))
            continue
        contracted = nd - 1 if role == 0 else max(nd - 2, 0)
        s = _mix_dim(s, contracted)
        dims = [None if d == contracted else d for d in s.dims]
        if role == 0 and len(call.in_shapes[first + 1]) == 1:
            states.append(TensorRF(s.axes, tuple(dims), s.folded))
        elif role == 1 and len(call.in_shapes[first]) == 1:
            states.append(TensorRF(s.axes, tuple(d if d is None or d < nd - 2 else d - 1 for d in dims), s.folded))
        else:
            states.append(_align(TensorRF(s.axes, tuple(dims), s.folded), nd, len(out)))
    twice = {i for i in range(len(states[0].axes))
             if len({s.dims[i] for s in states if s.dims[i] is not None}) > 1}
    merged, _ = _merge(states, out, rf.union)
    for i in twice:
        merged = merged.with_axis(i, rf.global_op(merged.axes[i]))
    return _one(call, merged, ATTENTION if merged.axes != call.state.axes else POINTWISE)


@register_rule("einsum")
def einsum(call: OpCall) -> Outcome:
    state = call.state
    for i in range(len(state.axes)):
        state = state.with_axis(i, rf.global_op(state.axes[i]), dim=None, folded=True)
    return _one(call, state, GLOBAL, note="einsum: every axis treated as mixed (approximate)")


@register_rule("scaled_dot_product_attention")
def sdpa(call: OpCall) -> Outcome:
    out = call.out_shape
    states = []
    for t, s, _ in call.inputs:
        nd = len(t.shape)
        states.append(_align(_mix_dim(s, nd - 2), nd, len(out)))
    merged, _ = _merge(states, out, rf.union)
    return _one(call, merged, ATTENTION)


@register_rule("multi_head_attention_forward", "_native_multi_head_attention")
def mha(call: OpCall) -> Outcome:
    """(L, N, E) query attends over key/value's sequence dim 0 (batch_first is undone before this call)."""
    states = [_mix_dim(s, 0) for _, s, _ in call.inputs]
    merged, _ = _merge(states, call.out_shape, rf.union)
    return Outcome([merged] + [None] * (len(call.out_shapes) - 1), ATTENTION)


@register_rule("lstm", "gru", "rnn_tanh", "rnn_relu")
def recurrent(call: OpCall) -> Outcome:
    """A recurrent layer: each step's output depends on the sequence (all earlier steps, or all steps
    when bidirectional: treated as global over time) and on every input feature."""
    nd = len(call.in_shape)
    packed = len(call.in_shapes) > 1 and len(call.in_shapes[1]) == 1
    batch_first = not packed and nd == 3 and call.positional[-1] is True
    state = _mix_dim(_mix_dim(call.state, 1 if batch_first else 0), nd - 1)
    return Outcome([state] + [None] * (len(call.out_shapes) - 1), GLOBAL)


ops.register_op("contiguous", "clone", "detach", "to", "type", "float", "double", "half", "bfloat16", "cpu", "cuda",
                "requires_grad_", "type_as", "data", "__get__", passes_rf=True)


def unknown(call: OpCall) -> Outcome:
    state = call.state
    spatial = [i for i, d in enumerate(state.dims) if d is not None]
    return _one(call, _unknown_axes(state, spatial, call.out_shape), UNKNOWN,
                note=f"no RF rule for '{call.name}', which changes spatial sizes")


def fallback(call: OpCall) -> Outcome:
    """Ops without a rule: elementwise when no spatial size changes (broadcasting
    allowed, as in squeeze-excitation's `x * scale`), else unknown."""
    out = call.out_shape
    if len(call.inputs) == 1 and call.in_shape == out:
        return _one(call, call.state, POINTWISE)
    for t, s, _ in call.inputs:
        aligned = _align(s, len(t.shape), len(out))
        for i, d in enumerate(aligned.dims):
            if d is None or aligned.folded[i]:
                continue
            size = t.shape[s.dims[i]]
            if d < 0 or d >= len(out) or size not in (1, out[d]):  # size 1 broadcasts
                return unknown(call)
    return elementwise(call)


def rule_for(name: str) -> Rule:
    op = ops.OPS.get(name)
    return op.rf if op is not None and op.rf is not None else fallback
