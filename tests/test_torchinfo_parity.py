"""`--style torchinfo` against torchinfo 1.8 itself, byte for byte, on the fixture models of
tests/torchinfo_models.py: containers that never run, reuse, shared and tied weights, frozen
and pruned weights, RNNs, attention, lazy modules, dict/tuple/scalar outputs. torchinfo is
only the oracle here; rfkit never imports it. A case whose input form rfkit.trace refuses
would be a strict xfail (today it takes every form here: sizes, tuples, keyword dicts, and
containers nested in the arguments, such as one dict as the forward's single argument).

The torchinfo style copies torchinfo's numbers where rfkit's own differ (docs/summaries.md,
"torchinfo style: parity and deliberate differences"); the last tests pin those differences.
"""
import difflib
import functools

import pytest
import torch
import torch.nn as nn
import torchinfo

import rfkit
from rfkit.output import summaries
from torchinfo_models import MODELS, Case, torchinfo_kwargs, torchinfo_label_fixed

class _Pair(nn.Module):
    def forward(self, a, b=None):
        return a["a"] + a["b"] if isinstance(a, dict) else a + b


def _input_form(case: Case) -> str | None:
    """How a multi-input case feeds the model; None for one tensor."""
    data = case.input_data
    if isinstance(case.input_size, list):
        return "sizes"
    if isinstance(data, (list, tuple)):
        return "dict in a tuple" if any(isinstance(t, dict) for t in data) else "tuple"
    return "dict" if isinstance(data, dict) else None


@functools.cache
def _trace_rejects(form: str) -> bool:
    """Whether rfkit.trace refuses this input form (checked on a trivial model, so that the
    parity cases of a form it accepts run for real)."""
    a, b = torch.zeros(1, 2), torch.zeros(1, 2)
    how = {"sizes": dict(input_size=[(2,), (2,)]), "tuple": dict(input=(a, b)),
           "dict": dict(input={"a": a, "b": b}), "dict in a tuple": dict(input=({"a": a, "b": b},))}[form]
    try:
        rfkit.trace(_Pair(), **how)
    except Exception:
        return True
    return False


def _params():
    for key in MODELS:
        form = _input_form(MODELS[key]())
        reason = f"rfkit.trace refuses inputs given as {form}"
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if form and _trace_rejects(form) else []
        yield pytest.param(key, marks=marks, id=key)


def _trace(case: Case):
    """rfkit's trace of the case's inputs. torchinfo's input sizes include the batch (one batch
    size for all inputs in these fixtures); rfkit takes it apart."""
    if case.input_size is not None:
        sizes = case.input_size if isinstance(case.input_size, list) else [case.input_size]
        shapes = [s[1:] for s in sizes] if isinstance(case.input_size, list) else sizes[0][1:]
        return rfkit.trace(case.model, shapes, batch_size=sizes[0][0], dtypes=case.dtypes)
    data = case.input_data
    return rfkit.trace(case.model, input=tuple(data) if isinstance(data, list) else data)


def _diff(theirs: str, ours: str) -> str:
    return "torchinfo (-) vs rfkit (+):\n" + "".join(difflib.unified_diff(
        theirs.splitlines(True), ours.splitlines(True), "torchinfo", "rfkit --style torchinfo"))


@pytest.mark.parametrize("key", list(_params()))
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_torchinfo_style_equals_torchinfo(key):
    case = MODELS[key]()
    report = _trace(case)  # first: torchinfo initialises lazy modules in place, rfkit traces a copy
    ours = summaries.torchinfo_text(report, depth=case.depth)
    theirs = torchinfo_label_fixed(str(torchinfo.summary(case.model, **torchinfo_kwargs(case), verbose=0,
                                                         device="cpu"))) + "\n"
    assert ours == theirs, _diff(theirs, ours)  # str(ModelStatistics) has no final newline


def _numbers(key: str):
    case = MODELS[key]()
    report = _trace(case)
    text = summaries.torchinfo_text(report, depth=case.depth)
    field = {k.split(" (")[0]: v for k, v in (line.split(": ", 1) for line in text.splitlines()
                                                if ": " in line and "─" not in line)}
    unique = {id(p): p for p in case.model.parameters()}.values()
    return case, report, field, sum(p.numel() for p in unique)


@pytest.mark.parametrize("key, torchinfo_total, true_total", [
    ("shared_weight_linear", 544, 288),  # the shared 16x16 weight counted once per Linear
    ("tied_embedding_lm", 3282, 2482),  # the tied embedding/decoder weight counted twice
    ("shared_weight_plus_root_param", 714, 468),  # 10 root params lost in a negative leftover
])
def test_deliberate_difference_shared_weights(key, torchinfo_total, true_total):
    _, report, field, numel = _numbers(key)
    assert field["Total params"] == f"{torchinfo_total:,}"
    assert report.params == numel == true_total
    assert summaries.summary_dict(report)["params"] == true_total


def test_deliberate_difference_attention_mult_adds():
    _, report, field, _ = _numbers("mha_self_attention")
    assert field["Total mult-adds"] == "0.00"  # LayerNorm's 2 x 32 alone: attention counts 0
    assert report.torchinfo.mult_adds == 2 * 32
    assert report.torchinfo.param_bytes == 32 * 4 and report.param_bytes == 1120 * 4  # MHA is no leaf
    e, length, batch = 16, 5, 2  # rfkit: q, k, v, out projections and the two attention products
    assert report.macs == batch * e * e * 4 * length + 2 * batch * length * length * e


def test_deliberate_difference_pruned_and_root_params():
    _, report, field, numel = _numbers("pruned_conv")
    assert field["Total params"] == "350" and report.params == numel == 554  # mask ones vs tensors
    _, report, field, numel = _numbers("root_parameters")
    assert field["Total params"] == "292" and report.params == numel == 292
    assert field["Params size"] == "0.00" and report.torchinfo.param_bytes == 219 * 4  # root's 73 left out
    assert report.param_bytes == 292 * 4


def test_lazy_modules_traced_on_a_copy():
    case = MODELS["lazy_linear"]()
    report = _trace(case)
    assert isinstance(case.model[1], nn.LazyLinear)  # the user's model is left lazy
    assert report.params == 48 * 16 + 16 + 16 * 4 + 4
