"""The op registry: one record per op (RF rule, MAC formula, pass-through), duplicates refused,
formulas given the bound call; einsum's MACs against torch's FlopCounterMode."""
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import rfkit
from rfkit.analysis import ops, rules


def test_one_record_holds_rule_formula_and_pass_through():
    conv = ops.OPS["conv2d"]
    assert conv.rf is rules.conv and conv.macs is not None and conv.meta is not None
    x, w = torch.zeros(1, 3, 9, 9, device="meta"), torch.zeros(4, 3, 3, 3, device="meta")
    assert conv.meta(x, (x, w), {"stride": 2}, False).shape == torch.nn.functional.conv2d(x, w, stride=2).shape
    assert ops.OPS["contiguous"].passes_rf and ops.OPS["contiguous"].rf is None
    assert rules.rule_for("no_such_op") is rules.fallback


def test_a_second_rule_or_formula_is_refused():
    with pytest.raises(ValueError, match="'conv2d' already has rf"):
        rfkit.register_op("conv2d", rf=rules.conv)
    with pytest.raises(ValueError, match="already has macs"):
        rfkit.register_op("matmul", macs=lambda call: 0)
    with pytest.raises(ValueError, match="already has rf"):
        @rfkit.register_rule("max_pool2d")
        def again(call):
            return rules.Outcome([call.state], rules.POINTWISE)
    with pytest.raises(ValueError, match="needs op names"):
        rfkit.register_op("conv2d")
    with pytest.raises(ValueError, match="'contiguous' already has passes_rf"):  # a rule it would never reach
        rfkit.register_op("contiguous", rf=rules.conv)
    with pytest.raises(ValueError, match="not both"):
        rfkit.register_op("brand_new_op", rf=rules.conv, passes_rf=True)


def test_replacing_a_pass_through_with_a_rule_takes_effect():
    class Copy(nn.Module):
        def forward(self, x):
            return x.contiguous()

    def widen(call):
        state = call.state
        return rules.Outcome([state.with_axis(0, rfkit.analysis.rf.replace(state.axes[0], r=5))], rules.KERNEL)

    rfkit.register_op("contiguous", rf=widen, replace=True)
    try:
        assert rfkit.trace(Copy(), (1, 8, 8)).rf == (5, 1)
    finally:
        rfkit.register_op("contiguous", passes_rf=True, replace=True)
    assert ops.OPS["contiguous"].passes_rf and ops.OPS["contiguous"].rf is None
    assert rfkit.trace(Copy(), (1, 8, 8)).rf == (1, 1)


def test_refused_registration_changes_nothing():
    before = ops.OPS["conv2d"].rf
    with pytest.raises(ValueError):
        rfkit.register_op("brand_new_op", "conv2d", rf=lambda call: None)
    assert "brand_new_op" not in ops.OPS and ops.OPS["conv2d"].rf is before


def test_a_users_op_gets_its_rule_and_formula_in_one_place():
    """A formula sees the bound call: here the op's own `repeats` argument."""
    class Roll(nn.Module):
        def forward(self, x):
            return torch.roll(x, 2, dims=1)

    def macs(call: rfkit.OpCall) -> int:
        return call.args["shifts"] * 1000

    rfkit.register_op("roll", rf=lambda call: rules.Outcome([call.state], rules.POINTWISE), macs=macs)
    try:
        report = rfkit.trace(Roll(), (3, 8, 8))
        assert report.macs == 2000 and report.rf == (1, 1)
    finally:
        ops.OPS.pop("roll")


def test_a_formula_that_fails_is_a_warning_not_a_broken_trace():
    rfkit.register_op("roll", macs=lambda call: call.args["no_such_argument"])
    try:
        report = rfkit.trace(nn.Sequential(nn.Conv2d(1, 2, 3)), input=torch.roll(torch.rand(1, 1, 8, 8), 1))
        assert report.macs == 2 * 9 * 36
        report = rfkit.trace(type("Roll", (nn.Module,), {"forward": lambda self, x: torch.roll(x, 1)})(), (1, 8, 8))
        assert report.macs == 0 and any("MAC formula for 'roll' failed (KeyError" in w for w in report.warnings)
    finally:
        ops.OPS.pop("roll")


EINSUMS = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("byhwc,hkc->byhwk", [(1, 2, 4, 5, 8), (4, 6, 8)]),  # mvitv2's relative positions
    ("ij,jk", [(3, 4), (4, 5)]),  # implicit output
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,jk->...ik", [(7, 2, 3, 4), (4, 5)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("i,j->ij", [(3,), (4,)]),  # an outer product: a broadcasting multiply
    ("ijk,jl->il", [(3, 4, 5), (4, 6)]),  # k summed away before the product
    ("bij,bjk,bkl->bil", [(2, 3, 4), (2, 4, 5), (2, 5, 6)]),
    ("ii->i", [(4, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 4, 16, 8), (2, 4, 16, 8)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUMS)
def test_einsum_macs_equal_the_flop_counter(equation, shapes):
    class Einsum(nn.Module):
        def forward(self, x, *rest):
            return torch.einsum(equation, x, *rest)

    tensors = [torch.rand(s) for s in shapes]
    with FlopCounterMode(display=False) as counter:
        torch.einsum(equation, *tensors)
    report = rfkit.trace(Einsum(), input=tuple(tensors), spatial=0)
    assert report.macs * 2 == counter.get_total_flops()


def test_macs_the_flop_counter_has_no_formula_for_are_hand_derived():
    """torch's counter counts 0 for bilinear and addbmm (no formula): the work is in1 x in2 per output
    of y = x1^T A x2, and batch x n x m x p for a batch of products summed into one matrix."""
    bilinear = rfkit.trace(nn.Bilinear(5, 7, 3), input=(torch.rand(2, 5), torch.rand(2, 7)), spatial=0)
    assert bilinear.macs == 2 * 3 * 5 * 7

    class AddBmm(nn.Module):
        def forward(self, m, a, b):
            return torch.addbmm(m, a, b)

    report = rfkit.trace(AddBmm(), input=(torch.rand(4, 6), torch.rand(3, 4, 5), torch.rand(3, 5, 6)), spatial=0)
    assert report.macs == 3 * 4 * 5 * 6
