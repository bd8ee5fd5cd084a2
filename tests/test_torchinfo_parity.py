"""`--style torchinfo` against torchinfo 1.8 itself, byte for byte, on the fixture models of
tests/torchinfo_models.py: containers that never run, reuse, frozen and pruned weights, RNNs,
attention, lazy modules, TorchScript, dict/tuple/scalar/object outputs, inputs given as sizes,
tuples, keyword dicts and containers (one dict, an empty one) as the forward's arguments.
torchinfo is only the oracle here; rfkit never imports it.

Where torchinfo 1.8 is itself wrong, the case is in TORCHINFO_1_8_WRONG and its right numbers
are pinned (with what torchinfo prints beside them, so that a torchinfo that changes is
noticed). torchinfo's "(Units.MEGABYTES)" label on Python >= 3.11 (its issue #350) is
normalised in torchinfo's text, never in rfkit's. The style otherwise copies torchinfo's
conventions where rfkit's own numbers differ (docs/summaries.md, "torchinfo style: parity and
deliberate differences"); the last tests pin those differences.
"""
import difflib

import pytest
import torch
import torch.nn as nn
import torchinfo

import rfkit
from rfkit.output import summaries
from torchinfo_models import MODELS, Case, torchinfo_kwargs, torchinfo_label_fixed

# Totals torchinfo 1.8 gets wrong by counting a tensor once per module that holds it (its main
# branch counts it once, PR #397): key -> (torchinfo 1.8's Total params, the right one).
TIED = {
    "shared_weight_linear": (544, 288),  # two Linear(16, 16) sharing one 16x16 weight
    "tied_embedding_lm": (3282, 2482),  # the tied embedding/decoder weight
    "shared_weight_plus_root_param": (714, 468),  # + 10 root params lost in a negative leftover
}
# Cases torchinfo 1.8 cannot print right: key -> why (pinned in test_where_torchinfo_1_8_is_wrong).
TORCHINFO_1_8_WRONG = {
    **{key: "counts a tied tensor once per module" for key in TIED},
    "scripted_submodule": "lists a scripted submodule's rows above the model and counts them twice",
    "lazy_never_initialised": "raises ValueError on a lazy parameter the forward never initialised",
    "object_output": "raises TypeError on an output that is a plain object",
    "distribution_output": "raises TypeError on a torch.distributions output",
    "categorical_output": "raises TypeError on a torch.distributions output",
}


def _torchinfo(case: Case) -> str:
    """str(torchinfo.summary(...)) with a final newline and its mult-adds label fixed."""
    stats = torchinfo.summary(case.model, **torchinfo_kwargs(case), verbose=0, device="cpu")
    return torchinfo_label_fixed(str(stats)) + "\n"  # str(ModelStatistics) has no final newline


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


TIMM = {  # one per family; benchmarks/macs_timm.py --torchinfo runs the whole sample
    "efficientnet_b0": (3, 64, 64), "mixnet_s": (3, 64, 64), "ghostnet_100": (3, 64, 64), "dla34": (3, 64, 64),
    "hrnet_w18_small": (3, 64, 64), "vit_tiny_patch16_224": (3, 224, 224),
}


@pytest.mark.parametrize("name", TIMM)
def test_torchinfo_style_equals_torchinfo_on_timm(name):
    timm = pytest.importorskip("timm")  # in the [dev] extra
    model, size = timm.create_model(name).eval(), TIMM[name]
    ours = str(rfkit.summary(model, input_size=size, style="torchinfo"))
    theirs = torchinfo_label_fixed(str(torchinfo.summary(model, input_size=(1, *size), verbose=0, device="cpu"))) + "\n"
    assert ours == theirs, _diff(theirs, ours)


@pytest.mark.parametrize("key", [k for k in MODELS if k not in TORCHINFO_1_8_WRONG])
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchinfo_style_equals_torchinfo(key):
    case = MODELS[key]()
    report = _trace(case)  # first: torchinfo initialises lazy modules in place, rfkit traces a copy
    ours = summaries.torchinfo_text(report, depth=case.depth)
    theirs = _torchinfo(case)
    assert ours == theirs, _diff(theirs, ours)


_TOTALS = ("Total params", "Trainable params", "Non-trainable params", "Params size (MB)", "Estimated Total Size (MB)")


@pytest.mark.parametrize("key", TIED)
def test_tied_tensors_count_once_in_the_totals(key):
    """Every line as torchinfo 1.8 prints it but the totals, which count a tied tensor once
    (torchinfo 1.8 adds it once per module holding it; its main branch counts it once)."""
    case = MODELS[key]()
    report = _trace(case)
    ours, theirs = summaries.torchinfo_text(report, depth=case.depth), _torchinfo(case)
    wrong, right = TIED[key]
    assert f"Total params: {wrong:,}\n" in theirs  # torchinfo 1.8's double count
    assert f"Total params: {right:,}\n" in ours and right == report.params
    assert report.torchinfo.trainable_params == right  # everything trains in these fixtures
    kept = [(a, b) for a, b in zip(ours.splitlines(), theirs.splitlines()) if not a.startswith(_TOTALS)]
    assert len(ours.splitlines()) == len(theirs.splitlines()) and all(a == b for a, b in kept), _diff(theirs, ours)


def _lines(key: str) -> tuple[list[tuple[str, str, str]], str]:
    case = MODELS[key]()
    report = _trace(case)
    rows = [(r.title, str(list(r.shape)) if r.shape else "--", r.cell)
            for r in summaries.torchinfo_rows(report, case.depth)]
    return rows, summaries.torchinfo_text(report, case.depth)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_where_torchinfo_1_8_is_wrong():
    """The right rows and totals, pinned, for the cases torchinfo 1.8 gets wrong; beside each,
    what torchinfo 1.8 does (so that a torchinfo that changes is noticed)."""
    rows, text = _lines("scripted_submodule")  # the scripted module's tree where it runs, counted once
    assert rows == [("ScriptedInside", "[1, 2]", "--"), ("Conv2d: 1-1", "[1, 3, 8, 8]", "12"),
                    ("SmallNet: 1-2", "--", "--"), ("Conv2d: 2-1", "--", "112"), ("Linear: 2-2", "--", "10"),
                    ("Linear: 1-3", "[1, 2]", "6")]
    assert "Total params: 140\n" in text and "Total mult-adds (M): 0.00\n" in text
    theirs = _torchinfo(MODELS["scripted_submodule"]())
    assert "Total params: 262\n" in theirs and theirs.index("SmallNet: 1-1") < theirs.index("ScriptedInside")

    rows, text = _lines("lazy_never_initialised")  # b never runs: its parameters count 0
    assert rows == [("LazyUnused", "[2, 4]", "--"), ("Linear: 1-1", "[2, 4]", "20")]
    assert "Total params: 20\n" in text

    rows, text = _lines("object_output")  # the tensor the object holds
    assert rows == [("HolderOut", "[2, 10]", "--"), ("Linear: 1-1", "[2, 10]", "50"), ("Wrap: 1-2", "[2, 10]", "--")]
    rows, text = _lines("distribution_output")  # Normal(loc [2, 3], scale [2, 3]): a sample is [2, 3]
    assert rows == [("Gaussian", "[2, 3]", "--"), ("Linear: 1-1", "[2, 6]", "30"), ("NormalHead: 1-2", "[2, 3]", "--")]
    rows, text = _lines("categorical_output")  # Categorical(logits [2, 5]): a sample is one index per row
    assert rows == [("Classifier", "[2]", "--"), ("Linear: 1-1", "[2, 5]", "25")]
    assert "Total params: 25\n" in text

    for key, error in (("lazy_never_initialised", ValueError), ("object_output", TypeError),
                       ("distribution_output", TypeError), ("categorical_output", TypeError)):
        with pytest.raises(RuntimeError) as raised:
            _torchinfo(MODELS[key]())
        assert isinstance(raised.value.__cause__, error), key


def _numbers(key: str):
    case = MODELS[key]()
    report = _trace(case)
    text = summaries.torchinfo_text(report, depth=case.depth)
    field = {k.split(" (")[0]: v for k, v in (line.split(": ", 1) for line in text.splitlines()
                                                if ": " in line and "─" not in line)}
    unique = {id(p): p for p in case.model.parameters()}.values()
    return case, report, field, sum(p.numel() for p in unique)


@pytest.mark.parametrize("key", TIED)
def test_shared_weights_once_in_every_style(key):
    _, report, field, numel = _numbers(key)
    right = TIED[key][1]
    assert field["Total params"] == f"{right:,}"
    assert report.params == numel == right
    assert summaries.summary_dict(report)["params"] == right


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


def test_lazy_parameters_never_materialised():
    """Tracing never initialises the user's lazy parameters: not those the forward runs (a
    private copy is initialised), not those it never runs (they count 0)."""
    case = MODELS["lazy_never_initialised"]()
    weight = case.model.a.weight.detach().clone()
    for device in ("meta", "cpu"):
        report = rfkit.trace(case.model, (4,), batch_size=2, device=device)
        assert report.params == report.torchinfo.total_params == 20
    assert case.model.b.has_uninitialized_params() and isinstance(case.model.b, nn.LazyLinear)
    assert torch.equal(case.model.a.weight, weight)
    case = MODELS["lazy_root"]()
    assert rfkit.trace(case.model, (4,), batch_size=2).params == 15
    assert isinstance(case.model, nn.LazyLinear) and case.model.has_uninitialized_params()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_torchscript_traced_with_its_rf_unknown(device):
    """A scripted model and a scripted submodule: rows and parameters, shapes "--" inside the
    compiled part, and the RF reported as not traceable there, with a warning; nothing of the
    scripted module is written."""
    for key, params in (("scripted_model", 122), ("scripted_submodule", 140)):
        case = MODELS[key]()
        before = {name: t.detach().clone() for name, t in case.model.state_dict().items()}
        report = rfkit.trace(case.model, (3, 8, 8), device=device)
        assert report.params == params and report.rf == (None, None)
        assert any("compiled TorchScript" in w for w in report.warnings)
        assert all(torch.equal(case.model.state_dict()[name], t) for name, t in before.items())
        assert case.model(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


def test_single_layer_model_row_carries_its_numbers():
    """nn.Conv2d(3, 8, 3) as the model: its own row has its parameters and MACs, in every style."""
    case = MODELS["single_conv2d_valid"]()
    report = _trace(case)
    rows = summaries.summary_dict(report)["modules"]
    assert [(r["kind"], r["params"], r["macs"], r["out_shapes"]) for r in rows] == \
        [("Conv2d", 224, 8 * 3 * 9 * 36, [[1, 8, 6, 6]])]
    assert summaries.torchinfo_rows(report)[0].cell == "224" and report.torchinfo.mult_adds == 224 * 36
    from rfkit.output import render
    rich = render.text(summaries.rich_summary(report))
    assert "Conv2d" in rich.split("━")[-1] and "7,776" in rich
