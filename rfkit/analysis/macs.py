"""Multiply-accumulates per op: a formula of the bound call in each op's registry record
(ops.py, beside its RF rule), counted by the tracer as it records each op, as torch's
FlopCounterMode counts inside the mode that sees the op. An op with no formula does no MAC
work (elementwise ops, norms, pooling), as in FlopCounterMode.
"""
from __future__ import annotations

import math

from rfkit.analysis import ops
from rfkit.analysis.ops import OpCall


def count(call: OpCall) -> int:
    """MACs of one op call (0 for an op with no formula)."""
    op = ops.OPS.get(call.name)
    return op.macs(call) if op is not None and op.macs is not None else 0


def _conv(call: OpCall) -> int:
    return math.prod(call.out_shape) * math.prod(call.in_shapes[1][1:])


def _conv_transpose(call: OpCall) -> int:
    return math.prod(call.in_shapes[0]) * math.prod(call.in_shapes[1][1:])


def _linear(call: OpCall) -> int:
    """linear(x, W), addmm(bias, a, b), baddbmm(bias, a, b): each output element sums one row of k."""
    return math.prod(call.out_shape) * call.in_shapes[1][-1]


def _addbmm(call: OpCall) -> int:
    """addbmm(M, b1, b2) sums the batch of products into one matrix: batch x n x m x p."""
    return call.in_shapes[1][0] * math.prod(call.out_shape) * call.in_shapes[1][-1]


def _bilinear(call: OpCall) -> int:
    """y_o = x1^T A_o x2 + b_o: in1 x in2 per output element."""
    return math.prod(call.out_shape) * call.in_shapes[0][-1] * call.in_shapes[1][-1]


def _matmul(call: OpCall) -> int:
    return math.prod(call.out_shape) * call.in_shapes[0][-1]


def _sdpa(call: OpCall) -> int:
    q, k, v = call.in_shapes[:3]
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def _mha(call: OpCall) -> int:
    q, k = call.in_shapes[0], call.in_shapes[1]
    e = q[-1]
    batch = q[1] if len(q) == 3 else 1
    length, source = q[0], k[0]
    projections = batch * e * e * (2 * length + 2 * source)  # q and out projections on L, k and v on S
    return projections + 2 * batch * length * source * e


def _recurrent(hidden_states: int):
    """Every weight matrix of every layer and direction (input-hidden, hidden-hidden, projection) is
    applied once per token: tokens x sum of their sizes. Arguments: input (or packed data and batch
    sizes), then the initial hidden state(s), then the flat weights."""

    def formula(call: OpCall) -> int:
        tokens = math.prod(call.in_shapes[0][:-1])
        weights = call.in_shapes[1 + call.packed + hidden_states:]
        return tokens * sum(math.prod(w) for w in weights if len(w) == 2)

    return formula


def _einsum_terms(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]] | None:
    """(operand subscripts, output subscripts, size per letter), the dims of '...' spelled as letters
    of their own (right-aligned, as they broadcast); None for an equation the shapes do not fit."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        return None
    broadcast = max((len(shape) - len(term) + 3 for term, shape in zip(terms, shapes) if "..." in term), default=0)
    dots = "".join(chr(0x100 + i) for i in range(broadcast))
    sizes: dict[str, int] = {}
    spelled = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            term = term.replace("...", dots[broadcast - (len(shape) - len(term) + 3):])
        if len(term) != len(shape):
            return None
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
        spelled.append(term)
    if arrow:
        out = rhs.replace("...", dots)
    else:
        joined = "".join(spelled)
        out = dots + "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in dots))
    return spelled, out, sizes


def _einsum(call: OpCall) -> int:
    """As torch contracts it (left to right, pairwise; FlopCounterMode sees the bmm of each pair): a
    letter only one side holds and nothing later needs is summed away first; a pair that contracts
    no letter is a broadcasting multiply, which does no MAC work, as any elementwise op."""
    equation = call.positional[0] if call.positional else call.keywords.get("equation")
    if not isinstance(equation, str):
        return 0  # the sublist form: no subscripts to read
    parsed = _einsum_terms(equation, list(call.in_shapes))
    if parsed is None:
        return 0
    terms, out, sizes = parsed
    total, left = 0, terms[0]
    for i, right in enumerate(terms[1:], 1):
        needed = set(out).union(*terms[i + 1:])
        left = "".join(c for c in left if c in needed or c in right)
        right = "".join(c for c in right if c in needed or c in left)
        contracted = set(left) & set(right) - needed
        if contracted:
            total += math.prod(sizes[c] for c in set(left) | set(right))
        left = "".join(dict.fromkeys(c for c in left + right if c in needed))
    return total


ops.register_op("conv1d", "conv2d", "conv3d", macs=_conv)
ops.register_op("conv_transpose1d", "conv_transpose2d", "conv_transpose3d", macs=_conv_transpose)
ops.register_op("linear", "baddbmm", "addmm", macs=_linear)
ops.register_op("addbmm", macs=_addbmm)
ops.register_op("bilinear", macs=_bilinear)
ops.register_op("matmul", "bmm", "mm", macs=_matmul)
ops.register_op("einsum", macs=_einsum)
ops.register_op("scaled_dot_product_attention", macs=_sdpa)
ops.register_op("multi_head_attention_forward", macs=_mha)
ops.register_op("lstm", macs=_recurrent(2))
ops.register_op("gru", "rnn_tanh", "rnn_relu", macs=_recurrent(1))
