"""The per-axis formulas of docs/rf.md, checked on hand-derived cases."""
from fractions import Fraction

from hypothesis import given, strategies as st

from rfkit.analysis import rf
from rfkit.analysis.rf import AxisRF


def test_conv_formulas():
    a = AxisRF(r=5, j=2, start=Fraction(5, 2), n=12)
    out = rf.kernel(a, k=3, s=2, p=1, d=1, n_out=6)
    assert (out.r, out.j, out.start, out.n) == (9, 4, Fraction(5, 2), 6)


def test_dilation_uses_effective_kernel():
    out = rf.kernel(AxisRF.input(32), k=3, s=1, p=0, d=4, n_out=24)
    assert (out.r, out.start) == (9, 4)


def test_global_op_is_kernel_of_n():
    a = AxisRF(r=18, j=2, start=Fraction(17, 2), n=6)
    out = rf.global_op(a)
    assert (out.r, out.n) == (28, 1)
    assert out.start == Fraction(27, 2)


def test_union_of_aligned_paths_takes_the_larger():
    small = AxisRF(r=3, j=1, start=1, n=10)
    big = AxisRF(r=7, j=1, start=1, n=10)
    merged = rf.union([small, big], 10)
    assert (merged.rf.r, merged.rf.start, merged.misaligned) == (7, 1, False)


exact_numbers = st.one_of(st.integers(0, 40), st.fractions(0, 40, max_denominator=4))


@given(r=st.lists(st.integers(1, 60), min_size=2, max_size=4), r_min=st.lists(st.one_of(st.none(), st.integers(1, 60)),
       min_size=4, max_size=4), j=exact_numbers, start=exact_numbers, n=st.integers(1, 30),
       exact=st.lists(st.booleans(), min_size=4, max_size=4))
def test_union_of_centred_inputs_equals_the_spanning_union(r, r_min, j, start, n, exact):
    """union's shortcut for inputs with the same positions, jump and centre (residual adds) gives
    what the general span computation gives."""
    axes = [AxisRF(r=size, j=j, start=start, n=n, r_min=None if low is None else min(low, size), exact=e)
            for size, low, e in zip(r, r_min, exact)]
    assert rf.union(axes, n) == rf.spanning_union(axes, n)


def test_union_flags_misaligned_centres():
    merged = rf.union([AxisRF(r=3, j=1, start=1, n=10), AxisRF(r=3, j=1, start=2, n=10)], 10)
    assert merged.misaligned
    assert (merged.rf.r, merged.rf.start) == (4, Fraction(3, 2))


def test_concat_keeps_min_and_max_over_channels():
    merged = rf.concat_channels([AxisRF(r=3, j=1, start=1, n=10, r_min=3),
                                 AxisRF(r=5, j=1, start=1, n=10, r_min=5)], 10)
    assert (merged.rf.r, merged.rf.r_min) == (5, 3)


def test_broadcast_global_input_gives_same_rf_everywhere():
    local = AxisRF(r=3, j=1, start=1, n=8)
    squeezed = AxisRF(r=12, j=8, start=Fraction(9, 2), n=1)  # [-1, 10] covers every local RF, [0, 2]..[7, 9]
    merged = rf.union([local, squeezed], 8).rf
    assert (merged.r, merged.j, merged.start) == (12, 0, Fraction(9, 2))
    partial = rf.union([local, AxisRF(r=10, j=8, start=Fraction(7, 2), n=1)], 8).rf  # [-1, 8] misses [7, 9]
    assert partial.j == 1


def test_adaptive_even_is_a_kernel_uneven_is_approximate():
    even = rf.adaptive(AxisRF.input(12), 4)
    assert (even.r, even.j, even.exact) == (3, 3, True)
    uneven = rf.adaptive(AxisRF.input(10), 4)  # windows [0,3) [2,5) [5,8) [7,10)
    assert (uneven.r, uneven.j, uneven.exact) == (3, Fraction(5, 2), False)


def test_nearest_upsampling_is_exact_and_halves_the_jump():
    a = AxisRF(r=5, j=2, start=2, n=8)
    up = rf.upsample(a, Fraction(2), taps=1, align_corners=False, n_out=16)
    assert (up.r, up.j, up.exact) == (5, 1, True)
    assert up.start == Fraction(3, 2)


def test_transposed_stride_one_is_a_padded_conv():
    a = AxisRF.input(8)
    out = rf.transposed_kernel(a, k=3, s=1, p=0, d=1, n_out=10)
    assert (out.r, out.j, out.start) == (3, 1, -1)


def test_pad_moves_position_zero():
    assert rf.pad(AxisRF.input(8), left=2, n_out=12).start == -2
