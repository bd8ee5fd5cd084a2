"""Any nn.Module, any input: several inputs, keyword inputs, token ids, lazy
modules, wrappers, recurrent MACs, and a model that is never run in place."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import rfkit
from rfkit.errors import RfkitError, TraceError


class Siamese(nn.Module):
    """One backbone applied to two images; the heads compare their features."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 1)

    def forward(self, left, right):
        return self.head(torch.cat([self.backbone(left), self.backbone(right)], dim=1))


class ImageAndVector(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 5)
        self.meta = nn.Linear(10, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, image, vector):
        return self.out(self.conv(image).mean(dim=(2, 3)) + self.meta(vector))


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)

    def forward(self, x, mask):
        return self.conv(x) * mask


class TinyText(nn.Module):
    """Token ids -> embedding -> 1-D conv over the sequence -> mean -> classes."""

    def __init__(self, vocab=100, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, dim, 3)
        self.fc = nn.Linear(dim, 4)

    def forward(self, tokens):
        return self.fc(self.conv(self.embed(tokens).transpose(1, 2)).mean(-1))


def test_two_image_inputs_rf_from_the_first_and_macs_from_both():
    report = rfkit.trace(Siamese(), input_size=[(1, 16, 16), (1, 16, 16)])
    assert report.rf_input == "left" and report.input_names == ("left", "right")
    assert report.input_shapes == ((1, 1, 16, 16), (1, 1, 16, 16))
    assert report.rf_before_global == (5, 5)  # conv 3x3 (RF 3, jump 1), then conv 3x3/2: 3 + 2 * 1
    conv1 = 4 * 9 * 14 * 14
    conv2 = 8 * 4 * 9 * 6 * 6
    assert report.macs == 2 * (conv1 + conv2) + 16
    assert report.params == sum(p.numel() for p in Siamese().parameters())
    names = [l.name for l in report.layers if l.kind == "Conv2d"]
    assert names == ["backbone.0", "backbone.2", "backbone.0#2", "backbone.2#2"]


def test_rf_input_chooses_the_input():
    by_index = rfkit.trace(Siamese(), input_size=[(1, 16, 16), (1, 16, 16)], rf_input=1)
    by_name = rfkit.trace(Siamese(), input_size=[(1, 16, 16), (1, 16, 16)], rf_input="right")
    assert by_index.rf_input == by_name.rf_input == "right"
    assert by_index.rf_before_global == by_name.rf_before_global == (5, 5)
    with pytest.raises(RfkitError, match="names no input; inputs: left, right"):
        rfkit.trace(Siamese(), input_size=[(1, 16, 16), (1, 16, 16)], rf_input="middle")


def test_image_and_vector_tensors():
    x, v = torch.randn(2, 3, 12, 12), torch.randn(2, 10)
    report = rfkit.trace(ImageAndVector(), input=(x, v))
    assert report.rf_input == "image" and report.rf_before_global == (5, 5)
    assert report.output_shape == (2, 2)
    assert report.macs == 2 * 6 * 75 * 8 * 8 + 2 * 6 * 10 + 2 * 2 * 6
    assert report.input_bytes == (x.numel() + v.numel()) * 4


def test_keyword_inputs_from_a_dict():
    report = rfkit.trace(Masked(), input={"x": torch.randn(1, 4, 20), "mask": torch.ones(1, 8, 20)})
    assert report.input_names == ("x", "mask") and report.rf_input == "x"
    assert report.rf == (3,)


def test_token_ids_with_dtypes():
    report = rfkit.trace(TinyText(), input_size=(12,), dtypes=[torch.long])
    assert report.input_shapes == ((1, 12),) and report.rf_input is None and report.rf == ()
    assert report.params == 100 * 16 + 16 * 16 * 3 + 16 + 16 * 4 + 4
    assert report.macs == 16 * 16 * 3 * 10 + 16 * 4
    assert [l.name for l in report.layers][:2] == ["embed", "Tensor.transpose#1"]


@pytest.mark.parametrize("bad, message", [
    ((1.5, 28, 28), "whole numbers"),
    ((1, 0, 28), "non-positive"),
    ("1,28,28", "pass \\(C, H, W\\)"),
])
def test_bad_input_sizes(bad, message):
    with pytest.raises(RfkitError, match=message):
        rfkit.trace(nn.Conv2d(1, 1, 3), bad)


def test_dtypes_must_match_the_inputs():
    with pytest.raises(RfkitError, match="2 dtypes for 1 inputs"):
        rfkit.trace(TinyText(), input_size=(12,), dtypes=[torch.long, torch.long])


def test_lazy_modules_traced_on_a_private_copy():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    rng = torch.get_rng_state()
    report = rfkit.trace(model, (2, 8, 8))
    assert torch.equal(torch.get_rng_state(), rng)
    assert report.params == (2 * 9 * 4 + 4) + (4 * 36 * 5 + 5)
    assert "private copy" in report.device_note
    assert isinstance(model[0], nn.LazyConv2d) and model[0].has_uninitialized_params()


def test_wrappers_are_unwrapped_and_named():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3))
    plain = rfkit.trace(net, (1, 9, 9))
    for wrapped, label in ((torch.compile(net), "torch.compile"), (nn.DataParallel(net), "DataParallel")):
        report = rfkit.trace(wrapped, (1, 9, 9))
        assert report.model_name == "Sequential" and label in report.device_note
        assert [l.name for l in report.layers] == [l.name for l in plain.layers] == ["0", "1"]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_model_is_summarised_with_its_rf_unknown():
    """A scripted model: its tree and parameters (as torchinfo prints them), the output shape,
    and the RF reported as not traceable, with the fix in the warning, instead of an error."""
    scripted = torch.jit.script(nn.Sequential(nn.Conv2d(1, 2, 3)))
    report = rfkit.trace(scripted, (1, 8, 8))
    assert report.model_name == "Sequential" and report.params == 20 and report.output_shape == (1, 2, 6, 6)
    assert report.rf == (None, None)
    assert any("trace the nn.Module it was scripted from" in w for w in report.warnings)
    assert [(r.kind, r.depth, r.shape) for r in report.torchinfo.rows] == [("Sequential", 0, ()), ("Conv2d", 1, ())]


def test_an_empty_dict_is_an_input():
    """One dict as the forward's only argument, also empty (no tensor at all): traced as torchinfo runs it."""

    class Maybe(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.bias = nn.Parameter(torch.zeros(2))

        def forward(self, batch):
            return self.fc(batch["x"]) if batch else self.bias * 2

    empty = rfkit.trace(Maybe(), input=({},))
    assert empty.params == 10 and empty.input_shapes == () and empty.output_shape == (2,)
    full = rfkit.trace(Maybe(), input=({"x": torch.zeros(4, 3)},))
    assert full.input_names == ("batch['x']",) and full.output_shape == (4, 2) and full.macs == 4 * 2 * 3


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_scripted_submodule_makes_the_rf_unknown_not_wrong(device):
    """The ops of a TorchScript submodule are invisible: the RF past it is unknown, with a warning,
    never the RF of the layers around it alone; shapes and parameters still come out, and the
    scripted module is left as found."""
    inner = torch.jit.script(nn.Conv2d(2, 2, 3))
    weight = inner.weight.detach().clone()
    net = nn.Sequential(nn.Conv2d(1, 2, 3), inner, nn.ReLU())
    report = rfkit.trace(net, (1, 9, 9), device=device)
    assert report.rf == (None, None) and report.warnings
    assert report.output_shape == (1, 2, 5, 5) and report.params == 20 + 38
    assert [l.kind for l in report.layers if l.name == "1"] == ["RecursiveScriptModule"]
    assert torch.equal(inner.weight, weight) and net(torch.ones(1, 1, 9, 9)).shape == (1, 2, 5, 5)


class Mutating(nn.Module):
    """A forward that writes a buffer in place, rebinds a plain attribute and appends to a list."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.seen = 0
        self.log = []

    def forward(self, x):
        self.calls += 1
        self.conv.weight.data.mul_(2)
        self.seen = self.seen + 1
        self.log.append(tuple(x.shape))
        return self.conv(x)


@pytest.mark.parametrize("device", ["auto", "cpu", "meta"])
def test_the_model_is_never_written(device):
    model = Mutating()
    before = copy.deepcopy(model.state_dict())
    rfkit.trace(model, (1, 8, 8), device=device)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.seen == 0  # plain attributes the forward rebinds are restored
    assert len(model.log) == 1  # documented: in-place changes to Python containers are not undone


class Failing(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_forward_error_at_the_top_level_names_the_model():
    with pytest.raises(TraceError, match=r"forward failed at Failing\.forward: RuntimeError: boom"):
        rfkit.trace(Failing(), (1, 4, 4))


def test_huge_input_with_wrong_channels_fails_without_a_cpu_pass():
    with pytest.raises(TraceError, match="forward failed"):
        rfkit.trace(nn.Conv2d(3, 8, 3), (4, 100_000, 100_000))


def _rnn_macs(rnn: nn.RNNBase, tokens: int) -> int:
    """Hand formula: per token, per layer and direction, gates x hidden x (layer input + hidden state),
    plus the projection (proj_size x hidden) for LSTMs with proj_size."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[type(rnn).__name__]
    dirs = 2 if rnn.bidirectional else 1
    state = rnn.proj_size if getattr(rnn, "proj_size", 0) else rnn.hidden_size
    total = 0
    for layer in range(rnn.num_layers):
        width = rnn.input_size if layer == 0 else state * dirs
        per = gates * rnn.hidden_size * (width + state) + (state * rnn.hidden_size if state != rnn.hidden_size else 0)
        total += dirs * per
    return tokens * total


@pytest.mark.parametrize("rnn", [
    nn.GRU(8, 16, batch_first=True),
    nn.LSTM(8, 16, num_layers=2, bidirectional=True),
    nn.RNN(5, 7, num_layers=3, nonlinearity="relu", batch_first=True),
    nn.LSTM(6, 12, proj_size=4),
    nn.GRU(4, 6, num_layers=2, bidirectional=True, bias=False),
], ids=lambda m: repr(m))
def test_recurrent_macs_count_every_gate_step_direction_and_layer(rnn):
    x = torch.randn(3, 10, rnn.input_size)  # 30 tokens either way round
    report = rfkit.trace(rnn, input=x)
    assert report.macs == _rnn_macs(rnn, 30)
    assert report.warnings == []


def test_gru_macs_beside_its_output_projection():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(8, 16, batch_first=True)
            self.out = nn.Linear(16, 16)

        def forward(self, x):
            return self.out(self.gru(x)[0])

    report = rfkit.trace(Tagger(), input=torch.randn(1, 16, 8))
    assert report.macs == 16 * 3 * 16 * (8 + 16) + 16 * 16 * 16 == math.prod((16, 3, 16, 24)) + 4096
    assert report.layer("gru").macs == 18432


MODELS_FILE = '''
import torch, torch.nn as nn
from test_inputs import Siamese, TinyText  # noqa: F401
'''


def test_cli_repeatable_input_size_and_dtype(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from rfkit.cli import app

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    path = tmp_path / "models.py"
    path.write_text(MODELS_FILE)
    runner = CliRunner()
    two = runner.invoke(app, ["table", f"{path}:Siamese", "-i", "1,16,16", "-i", "1,16,16", "-f", "json"])
    assert two.exit_code == 0, two.output
    data = json.loads(two.output)
    assert data["rf_input"] == "left" and [i["shape"] for i in data["inputs"]] == [[1, 1, 16, 16]] * 2
    tokens = runner.invoke(app, ["summary", f"{path}:TinyText", "-i", "12", "--dtype", "long", "-f", "json"])
    assert tokens.exit_code == 0, tokens.output
    assert json.loads(tokens.output)["macs"] == 16 * 16 * 3 * 10 + 16 * 4
    bad = runner.invoke(app, ["table", f"{path}:TinyText", "-i", "12", "--dtype", "longg"])
    assert bad.exit_code == 2 and "--dtype 'longg' is not a dtype" in bad.output


class _Detector(nn.Module):
    """A forward taking one dict, a list inside it and a non-tensor flag."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.box = nn.Linear(4, 4)

    def forward(self, batch, scale=1.0):
        return self.conv(batch["image"]).mean((2, 3)) * scale + self.box(batch["extras"][0]).sum(1)


def test_nested_inputs_are_traced_and_named():
    batch = {"image": torch.randn(1, 3, 17, 17), "extras": [torch.zeros(1, 5, 4)]}
    report = rfkit.trace(_Detector(), input=(batch, 2.0))
    assert report.input_names == ("batch['image']", "batch['extras'][0]")
    assert report.input_shapes == ((1, 3, 17, 17), (1, 5, 4))
    assert report.rf_input == "batch['image']" and report.rf_before_global == (3, 3)
    assert report.params == 4 * 3 * 9 + 4 + 4 * 4 + 4
    assert report.macs == 4 * 3 * 9 * 8 * 8 + 5 * 4 * 4  # the conv and the linear on 5 boxes
    on_meta = rfkit.trace(_Detector(), input={"batch": batch, "scale": 3}, device="meta",
                          rf_input="batch['image']")
    assert on_meta.rf_before_global == (3, 3) and on_meta.input_names == report.input_names
    assert batch["image"].device.type == "cpu"  # the caller's tensors are not moved


@pytest.mark.parametrize("given", [(1, 2), {"x": "text"}, [[]], ({},)])
def test_input_without_a_tensor_is_one_line_error(given):
    with pytest.raises(RfkitError, match="holds no tensor"):
        rfkit.trace(_Detector(), input=given)
