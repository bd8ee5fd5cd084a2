"""Receptive-field algebra, one spatial axis at a time. Pure functions, exact
arithmetic (`Fraction`), no torch: docs/rf.md derives every formula here.

Conventions: pixel centres sit at integer coordinates, 0-based. `r` is the RF
size in input pixels, `j` the jump (input pixels between neighbouring output
positions), `start` the input coordinate of the centre of output position 0's
RF, `n` the number of positions along the axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

Number = Fraction | int


@dataclass(frozen=True)
class AxisRF:
    """RF of one tensor along one spatial axis of the model input.

    `r_min` is the smallest RF over channels (it differs from `r` after a
    channel concatenation of branches with different RFs). `r is None` means
    unknown: an op changed the axis with no known rule. `exact` is False once
    an approximate rule (bilinear upsampling, uneven adaptive pooling) applied.
    """

    r: Number | None
    j: Number
    start: Number
    n: int
    r_min: Number | None = None
    exact: bool = True

    @staticmethod
    def input(n: int) -> "AxisRF":
        return AxisRF(r=1, j=1, start=0, n=n, r_min=1)

    @property
    def known(self) -> bool:
        return self.r is not None

    @property
    def lo(self) -> Number:
        return self.start - _half(self.r - 1)

    @property
    def hi(self) -> Number:
        return self.start + _half(self.r - 1)


def _half(x: Number) -> Number:
    return x // 2 if isinstance(x, int) and x % 2 == 0 else Fraction(x, 2)


def _clean(x: Number) -> Number:
    if isinstance(x, int):
        return x
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def kernel(a: AxisRF, k: int, s: Number, p: Number, d: int, n_out: int) -> AxisRF:
    """Conv or pool with kernel k, stride s, left padding p, dilation d."""
    if not a.known:
        return replace(a, n=n_out)
    k_eff = d * (k - 1) + 1
    grow = (k_eff - 1) * a.j
    half = _half(k_eff - 1)
    return AxisRF(
        r=_clean(a.r + grow),
        j=_clean(a.j * s),
        start=_clean(a.start + (half - p) * a.j),
        n=n_out,
        r_min=_clean(a.r_min + grow) if a.r_min is not None else None,
        exact=a.exact,
    )


def global_op(a: AxisRF) -> AxisRF:
    """An op that sees all n positions at once acts as a kernel of n: r + (n-1) j."""
    return kernel(a, k=a.n, s=a.n, p=0, d=1, n_out=1)


def pad(a: AxisRF, left: int, n_out: int) -> AxisRF:
    """Padding (or cropping, left < 0) moves position 0 by `left` positions."""
    if not a.known:
        return replace(a, n=n_out)
    return replace(a, start=_clean(a.start - left * a.j), n=n_out)


def select(a: AxisRF, first: int, step: int, n_out: int) -> AxisRF:
    """Indexing positions first, first+step, ... along the axis (a slice)."""
    return kernel(a, k=1, s=step, p=-first, d=1, n_out=n_out)


def upsample(a: AxisRF, scale: Fraction, taps: int, align_corners: bool, n_out: int) -> AxisRF:
    """Upsampling by `scale` reading `taps` neighbouring inputs (1 nearest, 2 linear, 4 cubic).

    Exact for nearest with integer scale; approximate otherwise (the RF of an
    output position then depends on its phase).
    """
    if not a.known:
        return replace(a, n=n_out)
    j = a.j / scale
    if align_corners:
        start = a.start
    else:
        start = a.start + (Fraction(1, 2) / scale - Fraction(1, 2)) * a.j
    exact = taps == 1 and scale.denominator == 1 and a.exact
    return AxisRF(
        r=_clean(a.r + (taps - 1) * a.j),
        j=_clean(j),
        start=_clean(start),
        n=n_out,
        r_min=_clean(a.r_min + (taps - 1) * a.j) if a.r_min is not None else None,
        exact=exact,
    )


def transposed_kernel(a: AxisRF, k: int, s: int, p: int, d: int, n_out: int) -> AxisRF:
    """Transposed conv: output position o reads inputs i with i*s - p + t*d = o.

    The jump becomes j/s and an output reads at most ceil(k_eff/s) inputs: the
    RF is the bound for the widest phase, so the result is marked approximate
    unless s == 1 (then it is exactly a conv with padding k_eff-1-p).
    """
    if s == 1:
        k_eff = d * (k - 1) + 1
        return kernel(a, k, 1, k_eff - 1 - p, d, n_out)
    if not a.known:
        return replace(a, n=n_out)
    k_eff = d * (k - 1) + 1
    span = math.ceil(k_eff / s)
    j = Fraction(a.j) / s
    lo0 = Fraction(p - (k_eff - 1), s)  # smallest input coordinate feeding output 0
    hi0 = Fraction(p, s)
    grow = (span - 1) * a.j
    return AxisRF(
        r=_clean(a.r + grow),
        j=_clean(j),
        start=_clean(a.start + (lo0 + hi0) / 2 * a.j),
        n=n_out,
        r_min=_clean(a.r_min + grow) if a.r_min is not None else None,
        exact=False,
    )


def adaptive(a: AxisRF, n_out: int) -> AxisRF:
    """Adaptive pooling n -> n_out. Window i covers [floor(i n/n_out), ceil((i+1) n/n_out)).

    Even division is an ordinary kernel (k = s = n/n_out); n_out == 1 is a
    global op. Otherwise windows differ in size: report the widest window and
    the mean stride, marked approximate.
    """
    n = a.n
    if n_out == 1:
        return global_op(a)
    if n % n_out == 0:
        k = n // n_out
        return kernel(a, k=k, s=k, p=0, d=1, n_out=n_out)
    widest = max(math.ceil((i + 1) * n / n_out) - (i * n) // n_out for i in range(n_out))
    out = kernel(a, k=widest, s=Fraction(n, n_out), p=0, d=1, n_out=n_out)
    first = math.ceil(n / n_out)  # window 0 is [0, first)
    out = replace(out, start=_clean(a.start + Fraction(first - 1, 2) * a.j)) if a.known else out
    return replace(out, exact=False)


@dataclass(frozen=True)
class Merge:
    rf: AxisRF
    misaligned: bool


def union(axes: list[AxisRF], n_out: int) -> Merge:
    """Add, mul or cat of tensors: each output sees the union of its inputs' RFs.

    Every output channel sees both inputs' channels, so its smallest RF is at
    least the larger of the inputs' smallest (`r_min`). Inputs broadcast along this axis (n == 1 while the output has more) keep
    their full RF but do not set the jump. Paths that disagree in jump or centre
    are flagged `misaligned`; the result is then the union of position 0's RFs.
    """
    if len(axes) == 1:
        return Merge(replace(axes[0], n=n_out), False)
    if any(not a.known for a in axes):
        return Merge(replace(next(a for a in axes if not a.known), n=n_out), False)
    first = axes[0]
    if (first.j != 0 or n_out == 1) and all(a.n == n_out and a.j == first.j and a.start == first.start
                                            for a in axes):
        return Merge(_centred_union(axes, n_out), False)
    return spanning_union(axes, n_out)


def _centred_union(axes: list[AxisRF], n_out: int) -> AxisRF:
    """The common case (a residual add): same positions, jump and centre, so the RFs are nested and
    the union is the largest; no Fraction arithmetic on the spans. Equal to `spanning_union`
    (tests/test_rf_algebra.py checks it on generated axes)."""
    r = max(a.r for a in axes)
    mins = [a.r_min for a in axes]
    return AxisRF(r=r, j=axes[0].j, start=axes[0].start, n=n_out,
                  r_min=min(max(mins), r) if None not in mins else None, exact=all(a.exact for a in axes))


def spanning_union(axes: list[AxisRF], n_out: int) -> Merge:
    """`union` of known axes in general: a shared input that contains every RF, or the span of
    position 0's RFs."""
    dominant = _dominant(axes, n_out)
    if dominant is not None:
        return Merge(dominant, False)
    positional = [a for a in axes if a.n == n_out] or axes
    jumps = {a.j for a in positional}
    misaligned = len(jumps) > 1 or len({a.start for a in positional}) > 1
    lo = min(a.lo for a in axes)
    hi = max(a.hi for a in axes)
    mins = [a.r_min for a in axes if a.r_min is not None]
    return Merge(
        AxisRF(
            r=_clean(hi - lo + 1),
            j=_clean(max(jumps)),
            start=_clean(_half(lo + hi)),
            n=n_out,
            r_min=_clean(min(max(mins), hi - lo + 1)) if len(mins) == len(axes) else None,
            exact=all(a.exact for a in axes),
        ),
        misaligned,
    )


def _envelope(a: AxisRF, n_out: int) -> tuple[Number, Number]:
    """The span of the RFs of all n_out positions (one RF when broadcast or j == 0)."""
    if a.n == 1 or a.j == 0:
        return a.lo, a.hi
    last = (n_out - 1) * a.j
    return a.lo + min(0, last), a.hi + max(0, last)


def _dominant(axes: list[AxisRF], n_out: int) -> AxisRF | None:
    """An input shared by every position (broadcast, or jump 0 after a global op)
    whose RF contains every position's RF of the others makes the union equal
    to it at every position: same RF everywhere, so jump 0 (squeeze-excitation)."""
    spans = [_envelope(a, n_out) for a in axes]
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
    for a in axes:
        if (a.n == 1 or a.j == 0) and n_out > 1 and a.lo <= lo and a.hi >= hi:
            return AxisRF(r=a.r, j=0, start=a.start, n=n_out, r_min=a.r_min if a.r_min is not None else a.r,
                          exact=all(b.exact for b in axes))
    return None


def concat_channels(axes: list[AxisRF], n_out: int) -> Merge:
    """Channel concatenation: channels keep their own RFs, so the layer's RF is
    the widest (`r`) and `r_min` the narrowest."""
    merged = union(axes, n_out)
    rmins = [a.r_min if a.r_min is not None else a.r for a in axes]
    return Merge(replace(merged.rf, r_min=_clean(min(rmins))), merged.misaligned)
