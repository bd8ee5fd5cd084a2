"""Outputs on the `meta` device made from shape formulas. torch's meta kernels for many ops are
Python reference implementations (a meta `empty_like` costs 100x a real one, a meta batch norm
over a millisecond, multi-head attention two thirds of a ViT's trace), so the recorder makes
the outputs of convolutions, global pools, attention, shape-preserving and broadcasting ops
itself, and calls the kernel for anything unusual (which also brings its error message to the
user). Each formula is the `meta` field of its op's
registry record (ops.py). tests/test_tracing.py compares every shortcut with the kernel it
stands in for.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from rfkit.analysis import ops

# Shape-preserving ops whose meta kernels are slow Python decompositions (batch_norm is
# 60% of a ResNet-50 trace): on meta their output is just an uninitialised tensor like the input.
_SHAPE_PRESERVING = ("batch_norm", "instance_norm", "group_norm", "layer_norm", "dropout", "dropout2d", "dropout3d",
                  "alpha_dropout", "feature_alpha_dropout", "relu", "relu6", "gelu", "silu", "sigmoid", "tanh",
                  "hardswish", "hardsigmoid", "leaky_relu", "elu", "selu", "celu", "mish", "softplus", "hardtanh")
_broadcast_shapes = functools.lru_cache(maxsize=4096)(torch.broadcast_shapes)  # a Python function, per op
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def _per_axis(value, nd: int, least: int) -> tuple[int, ...] | None:
    values = (value,) * nd if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    ok = len(values) == nd and all(isinstance(v, int) and not isinstance(v, bool) and v >= least for v in values)
    return values if ok else None


def conv_output(nd: int, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """F.convNd's output on meta from the shape formula, as the meta kernel makes it (contiguous).
    None, and so the kernel itself with its errors, for anything but well-formed arguments."""
    given = dict(zip(_CONV_ARGS, args))
    if not set(kwargs) <= set(_CONV_ARGS[len(args):]):
        return None
    given.update(kwargs)
    x, w, b = given["input"], given.get("weight"), given.get("bias")
    groups = given.get("groups", 1)
    if (not isinstance(w, torch.Tensor) or w.device.type != "meta" or x.dim() != nd + 2 or w.dim() != nd + 2
            or x.dtype != w.dtype or not isinstance(groups, int) or groups < 1
            or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups):
        return None
    if b is not None and (not isinstance(b, torch.Tensor) or b.device.type != "meta" or b.shape != w.shape[:1]):
        return None
    stride, dilation = _per_axis(given.get("stride", 1), nd, 1), _per_axis(given.get("dilation", 1), nd, 1)
    padding = given.get("padding", 0)
    if stride is None or dilation is None:
        return None
    if isinstance(padding, str):
        if padding == "same" and set(stride) == {1}:
            return torch.empty((x.shape[0], w.shape[0], *x.shape[2:]), dtype=x.dtype, device="meta")
        padding = 0 if padding == "valid" else None
    padding = _per_axis(padding, nd, 0) if padding is not None else None
    if padding is None:
        return None
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1
           for n, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation)]
    if any(n <= 0 for n in out):
        return None
    return torch.empty((x.shape[0], w.shape[0], *out), dtype=x.dtype, device="meta")


@functools.lru_cache(maxsize=4096)
def _dense(shape: torch.Size, strides: tuple[int, ...]) -> bool:
    """Non-overlapping and without gaps (contiguous in some order of the dims)."""
    expected = 1
    for size, stride in sorted(zip(shape, strides), key=lambda pair: pair[1]):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def adaptive_output(nd: int, x: torch.Tensor, rest: tuple, kwargs: dict) -> torch.Tensor | None:
    """F.adaptive_avg_poolNd's output on meta (its meta kernel is a slow Python `mean` for a global
    pool); None, and so the kernel itself with its errors, for anything but well-formed arguments."""
    if len(rest) + len(kwargs) != 1 or kwargs.keys() - {"output_size"} or x.dim() not in (nd + 1, nd + 2):
        return None
    size = rest[0] if rest else kwargs["output_size"]
    sizes = (size,) * nd if isinstance(size, int) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(sizes) != nd or not all(v is None and nd > 1 or isinstance(v, int) and not isinstance(v, bool) and v > 0
                                   for v in sizes) or 0 in x.shape[-nd:]:
        return None
    out = tuple(n if v is None else v for n, v in zip(x.shape[-nd:], sizes))
    return torch.empty((*x.shape[:-nd], *out), dtype=x.dtype, device="meta")


def empty_like(x: torch.Tensor) -> torch.Tensor:
    """torch.empty_like(x, device="meta") without the Python reference implementation that a meta
    `x` goes through (100x slower): the strides of a non-overlapping, dense `x` (permuted too)
    carried over, as preserve_format does."""
    if not x.is_meta:
        return torch.empty_like(x, device="meta")  # fast from a real device
    strides = x.stride()
    if not _dense(x.shape, strides):
        return torch.empty_like(x, device="meta")  # overlapping or gapped: empty_like's own rule
    return torch.empty_strided(x.shape, strides, dtype=x.dtype, device="meta")


def shortcut(op, display: str, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The output of op (its registry record) on meta from its shape formula, without its (slow) meta
    kernel; None where the kernel itself must run (no formula, anything unusual, and so its errors)."""
    x = args[0] if args else kwargs.get("input")
    if op is None or op.meta is None or not isinstance(x, torch.Tensor) or x.device.type != "meta":
        return None
    return op.meta(x, args, kwargs, display.endswith("_") or kwargs.get("inplace") is True)


def _like_input(x: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor:
    return x if in_place else empty_like(x)


def _linear(x: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor | None:
    if len(args) >= 2 and isinstance(args[1], torch.Tensor) and not kwargs:
        return torch.empty((*x.shape[:-1], args[1].shape[0]), dtype=x.dtype, device="meta")
    return None


def _broadcast(x: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor | None:
    if len(args) != 2 or kwargs:
        return None
    other = args[1]
    if isinstance(other, torch.Tensor) and other.device.type != "meta":
        return None
    shape = (_broadcast_shapes(x.shape, other.shape)
             if isinstance(other, torch.Tensor) and other.shape != x.shape else x.shape)
    if in_place:
        return x if shape == x.shape else None
    return torch.empty(shape, dtype=torch.result_type(x, other), device="meta")


def _meta_tensors(*values) -> bool:
    return all(isinstance(v, torch.Tensor) and v.device.type == "meta" for v in values)


def _sdpa(q: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor | None:
    """F.scaled_dot_product_attention's output, (..., L, Ev) as its meta kernel makes it, for q, k, v of
    one dtype and the same leading dims; with a mask or grouped-query attention, the kernel."""
    bound = ops.bind(F.scaled_dot_product_attention, args, kwargs)
    k, v = bound.get("key"), bound.get("value")
    if (not bound or bound["attn_mask"] is not None or bound.get("enable_gqa") or not _meta_tensors(k, v)
            or not q.dim() == k.dim() == v.dim() >= 2 or not q.dtype == k.dtype == v.dtype
            or not q.dtype.is_floating_point or q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]
            or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or 0 in q.shape or 0 in k.shape):
        return None
    return torch.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device="meta")


def _mha(query: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> tuple | None:
    """F.multi_head_attention_forward's (output, weights or None) on meta (its kernel runs the whole
    block as meta Python references: two thirds of a ViT-B/16 trace), for the packed projection
    nn.MultiheadAttention makes without kdim/vdim, masks, bias_k/v or static keys; else the kernel."""
    b = ops.bind(F.multi_head_attention_forward, args, kwargs)
    if not b:
        return None
    key, value, w_in, b_in = b["key"], b["value"], b["in_proj_weight"], b["in_proj_bias"]
    w_out, b_out, heads, embed = b["out_proj_weight"], b["out_proj_bias"], b["num_heads"], b["embed_dim_to_check"]
    if (b["use_separate_proj_weight"] or b["bias_k"] is not None or b["bias_v"] is not None or b["add_zero_attn"]
            or b["key_padding_mask"] is not None or b["attn_mask"] is not None or b["is_causal"]
            or b["static_k"] is not None or b["static_v"] is not None
            or not _meta_tensors(key, value, w_in, w_out) or b_in is not None and not _meta_tensors(b_in)
            or b_out is not None and not _meta_tensors(b_out)
            or not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or not isinstance(embed, int)
            or query.dim() not in (2, 3) or not query.dim() == key.dim() == value.dim()
            or not query.dtype == key.dtype == value.dtype == w_in.dtype == w_out.dtype
            or not query.dtype.is_floating_point or query.shape[-1] != embed or embed % heads
            or key.shape != value.shape or key.shape[-1] != embed or query.shape[1:-1] != key.shape[1:-1]
            or w_in.shape != (3 * embed, embed) or b_in is not None and b_in.shape != (3 * embed,)
            or w_out.shape != (embed, embed) or b_out is not None and b_out.shape != (embed,)
            or 0 in query.shape or 0 in key.shape):
        return None
    out = torch.empty(query.shape, dtype=query.dtype, device="meta")
    if not b["need_weights"]:
        return out, None
    batch = query.shape[1:2] if query.dim() == 3 else ()
    per_head = () if b["average_attn_weights"] else (heads,)
    return out, torch.empty((*batch, *per_head, query.shape[0], key.shape[0]), dtype=query.dtype, device="meta")


def _conv(nd: int):
    def output(x: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor | None:
        return conv_output(nd, args, kwargs)

    return output


def _adaptive(nd: int):
    def output(x: torch.Tensor, args: tuple, kwargs: dict, in_place: bool) -> torch.Tensor | None:
        return adaptive_output(nd, x, args[1:], kwargs)

    return output


ops.register_op(*_SHAPE_PRESERVING, meta=_like_input)
ops.register_op("add", "sub", "mul", "div", "maximum", "minimum", meta=_broadcast)
ops.register_op("linear", meta=_linear)
ops.register_op("scaled_dot_product_attention", meta=_sdpa)
ops.register_op("multi_head_attention_forward", meta=_mha)
for _nd in (1, 2, 3):
    ops.register_op(f"conv{_nd}d", meta=_conv(_nd))
    ops.register_op(f"adaptive_avg_pool{_nd}d", meta=_adaptive(_nd))
