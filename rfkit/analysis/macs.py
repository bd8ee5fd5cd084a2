"""Multiply-accumulates per op: formulas in a registry keyed by op name (the
same keys as the RF rules), counted by the tracer as it records each op, as
torch's FlopCounterMode does. An op with no formula does no MAC work
(elementwise ops, norms, pooling), as in FlopCounterMode.
"""
from __future__ import annotations

import math
from typing import Callable

Shapes = tuple[tuple[int, ...], ...]
Formula = Callable[[Shapes, tuple[int, ...]], int]
MACS: dict[str, Formula] = {}


def register_macs(*names: str):
    """Decorator: `fn(in_shapes, out_shape) -> int` counts the MACs of ops named so."""

    def wrap(fn: Formula) -> Formula:
        for n in names:
            MACS[n] = fn
        return fn

    return wrap


def count(op: str, in_shapes: Shapes, out_shape: tuple[int, ...]) -> int:
    """MACs of one op from the shapes of its tensor arguments and its first output."""
    formula = MACS.get(op)
    return formula(in_shapes, out_shape) if formula is not None else 0


@register_macs("conv1d", "conv2d", "conv3d")
def _conv(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    return math.prod(out) * math.prod(in_shapes[1][1:])


@register_macs("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv_transpose(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    return math.prod(in_shapes[0]) * math.prod(in_shapes[1][1:])


@register_macs("linear", "bilinear", "baddbmm", "addmm", "addbmm")
def _linear(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    return math.prod(out) * in_shapes[1][-1]


@register_macs("matmul", "bmm", "mm")
def _matmul(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    return math.prod(out) * in_shapes[0][-1]


@register_macs("scaled_dot_product_attention")
def _sdpa(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    q, k, v = in_shapes[:3]
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


@register_macs("multi_head_attention_forward")
def _mha(in_shapes: Shapes, out: tuple[int, ...]) -> int:
    q, k = in_shapes[0], in_shapes[1]
    e = q[-1]
    batch = q[1] if len(q) == 3 else 1
    length, source = q[0], k[0]
    projections = batch * e * e * (2 * length + 2 * source)  # q and out projections on L, k and v on S
    return projections + 2 * batch * length * source * e


def _recurrent(hidden_states: int) -> Formula:
    """Every weight matrix of every layer and direction (input-hidden, hidden-hidden, projection) is
    applied once per token: tokens x sum of their sizes. Arguments: input (or packed data and batch
    sizes), then the initial hidden state(s), then the flat weights."""

    def formula(in_shapes: Shapes, out: tuple[int, ...]) -> int:
        packed = len(in_shapes) > 1 and len(in_shapes[1]) == 1
        tokens = math.prod(in_shapes[0][:-1])
        weights = in_shapes[1 + packed + hidden_states:]
        return tokens * sum(math.prod(w) for w in weights if len(w) == 2)

    return formula


register_macs("lstm")(_recurrent(2))
register_macs("gru", "rnn_tanh", "rnn_relu")(_recurrent(1))
