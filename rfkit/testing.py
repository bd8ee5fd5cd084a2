"""Assertions for users' test files. Each failure message shows the measured
value, the limit and the table behind it (RF table or summary), so the cause is
visible in the pytest output without re-running anything.

    from rfkit.testing import assert_params, assert_rf, assert_budget

    def test_my_net():
        assert_params(MyNet(), max=8_000)
        assert_rf(MyNet(), min=28, input_size=(1, 28, 28))
        assert_budget(MyNet(), input_size=(1, 28, 28), max_params=8_000, min_coverage=0.5)
"""
from __future__ import annotations

import torch.nn as nn

from rfkit.checks import budget as budgets
from rfkit.output import render, summaries
from rfkit.analysis.report import Report
from rfkit.api import traced


def _trace(model: nn.Module, input_size) -> Report:
    """A zoo network's own input size and name; anything else needs `input_size` (InputSizeError, a ValueError)."""
    return traced(model, input_size)


def _fail(headline: str, detail: str):
    raise AssertionError(f"{headline}\n\n{detail}")


def assert_params(model: nn.Module, equals: int | None = None, max: int | None = None, input_size=None):
    """Parameters (each tensor once) equal `equals` and/or are at most `max`."""
    report = _trace(model, input_size)
    n = report.params
    if equals is not None and n != equals:
        _fail(f"{report.model_name}: {n:,} params, expected exactly {equals:,}", summaries.torchinfo_text(report))
    if max is not None and n > max:
        _fail(f"{report.model_name}: {n:,} params > max {max:,} (over by {n - max:,})",
              summaries.torchinfo_text(report))


def assert_rf(model: nn.Module, equals=None, min=None, layer: str | None = None, input_size=None):
    """RF at the output (or at `layer`): an int means every spatial axis, a tuple one per axis."""
    report = _trace(model, input_size)
    measured = report.layer(layer).r_out if layer else report.rf
    where = f"layer {layer}" if layer else "the output"
    n = len(measured)
    if equals is not None:
        wanted = tuple(equals) if isinstance(equals, (tuple, list)) else (equals,) * n
        if tuple(measured) != wanted:
            _fail(f"{report.model_name}: RF at {where} is {render.per_axis(measured)}, expected "
                  f"{render.per_axis(wanted)}", render.rf_markdown(report))
    if min is not None:
        wanted = tuple(min) if isinstance(min, (tuple, list)) else (min,) * n
        if any(m is None or m < w for m, w in zip(measured, wanted)):
            _fail(f"{report.model_name}: RF at {where} is {render.per_axis(measured)} < min {render.per_axis(wanted)}",
                  render.rf_markdown(report))


def assert_budget(model: nn.Module, input_size=None, **limits):
    """Every limit of `rfkit.checks.budget.Budget` given as a keyword holds (max_params=..., min_rf=..., ...)."""
    report = _trace(model, input_size)
    checks = budgets.evaluate(report, budgets.Budget().merged(**limits))
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n".join(f"- {c.name}: {c.measured} (limit {c.limit}){': ' + c.hint if c.hint else ''}"
                          for c in failed)
        _fail(f"{report.model_name}: {len(failed)} of {len(checks)} budget checks failed\n{lines}",
              render.rf_markdown(report) + "\n" + summaries.torchinfo_text(report))
