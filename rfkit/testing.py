"""Assertions for users' test files. Each failure message shows the measured
value, the limit and the table behind it (RF table or summary), so the cause is
visible in the pytest output without re-running anything.

    from rfkit.testing import assert_params, assert_rf, assert_budget

    def test_my_net():
        assert_params(MyNet(), max=8_000)  # counted from the model: no input size needed
        assert_rf(MyNet(), min=28, input_size=(1, 28, 28))
        assert_budget(MyNet(), input_size=(1, 28, 28), max_params=8_000, min_coverage=0.5)
"""
from __future__ import annotations

import torch.nn as nn

from rfkit.checks import budget as budgets
from rfkit.errors import RfkitError, TraceError
from rfkit.output import render, summaries
from rfkit.analysis.report import Report
from rfkit.analysis.tracing import trace


def _card(model: nn.Module):
    import zoo

    if not isinstance(model, nn.Module):
        raise RfkitError(f"expected an nn.Module, got {type(model).__name__}")
    return zoo.card_of(model)


def _name(model: nn.Module) -> str:
    card = _card(model)
    return card.name if card else type(model).__name__


def _trace(model: nn.Module, input_size) -> Report:
    card = _card(model)
    size = input_size or (card.input_size if card else None)
    if size is None:
        raise RfkitError(f"{type(model).__name__} is not a zoo network: pass input_size=(C, H, W)")
    report = trace(model, size)
    report.model_name = card.name if card else type(model).__name__
    return report


def _fail(headline: str, detail: str):
    raise AssertionError(f"{headline}\n\n{detail}")


def _param_detail(model: nn.Module, input_size) -> str:
    """The torchinfo summary where an input size is known (and the forward runs), else each module's own
    parameters: the count itself never needs a forward pass."""
    card = _card(model)
    if input_size or card is not None:
        try:
            return summaries.torchinfo_text(_trace(model, input_size))
        except TraceError:
            pass
    _, _, own = budgets.count_params(model)
    return "\n".join(f"{name:<40} {n:>12,}" for name, n in own)


def _check_args(limit: str, **values):
    """Each given value valid as the budget limit `limit` (the same rules as `rfkit check`)."""
    for key, value in values.items():
        if value is not None and (problem := budgets.limit_error(limit, value)):
            raise RfkitError(f"{key}={value!r} {problem}")


def assert_params(model: nn.Module, equals: int | None = None, max: int | None = None, input_size=None):
    """Parameters (each tensor once) equal `equals` and/or are at most `max`, counted from the model:
    `input_size` only adds the torchinfo summary to a failure's message."""
    if equals is None and max is None:
        raise RfkitError("assert_params needs equals= or max=")
    _check_args("max_params", equals=equals, max=max)
    name = _name(model)
    n, _, _ = budgets.count_params(model)
    if equals is not None and n != equals:
        _fail(f"{name}: {n:,} params, expected exactly {equals:,}", _param_detail(model, input_size))
    if max is not None and n > max:
        _fail(f"{name}: {n:,} params > max {max:,} (over by {n - max:,})", _param_detail(model, input_size))


def assert_rf(model: nn.Module, equals=None, min=None, layer: str | None = None, input_size=None):
    """RF at the output (or at `layer`): an int means every spatial axis, a tuple one per axis."""
    if equals is None and min is None:
        raise RfkitError("assert_rf needs equals= or min=")
    _check_args("min_rf", equals=equals, min=min)
    report = _trace(model, input_size)
    try:
        measured = report.layer(layer).r_out if layer else report.rf
    except KeyError as exc:
        raise RfkitError(f"layer {layer!r}: {exc.args[0]} (rfkit table --all lists them)") from None
    where = f"layer {layer}" if layer else "the output"
    n = len(measured)
    if equals is not None:
        wanted = budgets.per_axis_limit(equals, n, report.model_name, "equals")
        if tuple(measured) != wanted:
            _fail(f"{report.model_name}: RF at {where} is {render.per_axis(measured)}, expected "
                  f"{render.per_axis(wanted)}", render.rf_markdown(report))
    if min is not None:
        wanted = budgets.per_axis_limit(min, n, report.model_name, "min")
        if any(m is None or m < w for m, w in zip(measured, wanted)):
            _fail(f"{report.model_name}: RF at {where} is {render.per_axis(measured)} < min {render.per_axis(wanted)}",
                  render.rf_markdown(report))


def assert_budget(model: nn.Module, input_size=None, **limits):
    """Every limit of `rfkit.checks.budget.Budget` given as a keyword holds (max_params=..., min_rf=..., ...).
    Parameter limits alone need no input size (no forward pass)."""
    budget = budgets.Budget().merged(**limits)
    if not budget.active:
        raise RfkitError(f"assert_budget needs limits: {', '.join(budgets.LIMITS)}")
    report = _trace(model, input_size) if budgets.needs_trace(budget) else None
    if report is None:
        checks, name = budgets.evaluate_params(model, budget), _name(model)
    else:
        checks, name = budgets.evaluate(report, budget), report.model_name
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n".join(f"- {c.name}: {c.measured} (limit {c.limit}){': ' + c.hint if c.hint else ''}"
                          for c in failed)
        detail = (_param_detail(model, input_size) if report is None
                  else render.rf_markdown(report) + "\n" + summaries.torchinfo_text(report))
        _fail(f"{name}: {len(failed)} of {len(checks)} budget checks failed\n{lines}", detail)
