"""pytest plugin (registered through the `pytest11` entry point).

- fixture `rf_trace`: `rf_trace(model, input_size=None)` traces a model (zoo
  networks know their input size);
- failed comparisons of a report's measurements (`report.rf`, `.jump`,
  `.start`, `.params`, `.trainable_params`, `.macs`) print the RF table and
  the summary under pytest's usual diff.
"""
from __future__ import annotations

import pytest

from rfkit.output import render, summaries
from rfkit.analysis.report import Measured


@pytest.fixture
def rf_trace():
    from rfkit.testing import _trace

    def run(model, input_size=None):
        return _trace(model, input_size)

    return run


def pytest_assertrepr_compare(config, op, left, right):
    measured = left if isinstance(left, Measured) else right if isinstance(right, Measured) else None
    if measured is None or measured.report is None:
        return None
    report = measured.report
    return [
        f"{left!r} {op} {right!r}   ({measured.what} of {report.model_name})",
        "",
        *render.rf_markdown(report).splitlines(),
        "",
        *summaries.torchinfo_text(report).splitlines(),
    ]
