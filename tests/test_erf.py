"""rfkit.erf (rfkit/analysis/erf.py): the effective receptive field against independent oracles.

Oracles: for all-ones linear conv stacks, numpy (box-kernel convolutions, and the exact
Jacobian built as a product of per-layer 0/1 "which input feeds which output" matrices,
which covers stride, dilation and padding); for area ratio and in-box share, brute-force
numpy on the returned map; for layer capture, plain autograd on a hand-truncated model.
"""
import copy
import json
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import rfkit
import zoo
from rfkit.analysis.erf import ErfResult, erf
from rfkit.errors import RfkitError

TOL = 1e-12


# ---------------------------------------------------------------- numpy oracles

def ones_stack(dim: int, specs):
    """Sequential of 1-channel all-ones convs, no bias; specs: (k, stride, padding, dilation)."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[dim]
    layers = [conv(1, 1, k, stride=s, padding=p, dilation=d, bias=False) for k, s, p, d in specs]
    with torch.no_grad():
        for layer in layers:
            layer.weight.fill_(1.0)
    return nn.Sequential(*layers)


def connection_matrix(n_in: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """A[o, i] = number of kernel taps of output o that read input i (0 where they read padding)."""
    n_out = (n_in + 2 * p - d * (k - 1) - 1) // s + 1
    a = np.zeros((n_out, n_in))
    for o in range(n_out):
        for t in range(k):
            i = o * s - p + t * d
            if 0 <= i < n_in:
                a[o, i] += 1
    return a


def jacobian_row(n: int, specs) -> np.ndarray:
    """Gradient along one axis of the centre output unit of an all-ones stack: the centre row
    of the product of connection matrices (the stack is separable across axes)."""
    jac = np.eye(n)
    for k, s, p, d in specs:
        jac = connection_matrix(jac.shape[0], k, s, p, d) @ jac
    return jac[jac.shape[0] // 2]


def expected_map(shape, specs) -> np.ndarray:
    rows = [jacobian_row(n, specs) for n in shape]
    m = rows[0] if len(rows) == 1 else np.outer(rows[0], rows[1])
    return m / m.sum()


def box_profile(kernels, dilations=None) -> np.ndarray:
    """Stride 1: the repeated full convolution of (dilated) box kernels."""
    dilations = dilations or [1] * len(kernels)
    v = np.ones(1)
    for k, d in zip(kernels, dilations):
        box = np.zeros(d * (k - 1) + 1)
        box[::d] = 1
        v = np.convolve(v, box)
    return v


def brute_area_ratio(m: np.ndarray, t: float) -> float:
    """Grow the centred square one ring at a time until its (clipped) mass reaches t."""
    centre = [n // 2 for n in m.shape]
    i = 0
    while True:
        idx = np.ix_(*[np.arange(max(c - i, 0), min(c + i + 1, n)) for c, n in zip(centre, m.shape)])
        if m[idx].sum() >= t or all(c - i <= 0 and c + i >= n - 1 for c, n in zip(centre, m.shape)):
            return m[idx].size / m.size
        i += 1


def brute_box(layer, n_in_axes):
    """Theoretical RF box of the centre unit from the trace's layer row, by hand."""
    box = []
    for a, n in zip(layer.axes, n_in_axes):
        c = float(a.start) + (a.n_out // 2) * float(a.j_out)
        lo, hi = c - (float(a.r_out) - 1) / 2, c + (float(a.r_out) - 1) / 2
        box.append((max(int(np.floor(lo)), 0), min(int(np.ceil(hi)), n - 1)))
    return box


def autograd_erf(model, x, centre_dims=(2, 3)):
    """The definition, by hand: |d(centre unit summed over channels and batch)/dx|, summed over
    input channels and samples, normalised. `model` ends at the wanted layer."""
    m = model.double().eval()
    x = x.double().clone().requires_grad_(True)
    out = m(x)
    idx = [slice(None)] * out.dim()
    for d in centre_dims:
        idx[d] = out.shape[d] // 2
    (g,) = torch.autograd.grad(out[tuple(idx)].sum(), x)
    g = g.abs().sum(dim=(0, 1))
    return (g / g.sum()).numpy()


# ---------------------------------------------------------------- linear stacks

def test_box_stack_2d_equals_convolved_boxes():
    specs = [(3, 1, 0, 1), (5, 1, 0, 1), (2, 1, 0, 1), (3, 1, 0, 1)]
    result = erf(ones_stack(2, specs), (1, 21, 19), samples=3)
    # output 12 x 10, centre (6, 5); with no padding its window starts at input (6, 5)
    v = box_profile([3, 5, 2, 3])
    want = np.zeros((21, 19))
    want[6:6 + len(v), 5:5 + len(v)] = np.outer(v, v)
    want /= want.sum()
    assert result.map.shape == (21, 19)
    assert np.allclose(result.map.numpy(), want, atol=TOL, rtol=0)
    assert np.allclose(result.map.numpy(), expected_map((21, 19), specs), atol=TOL, rtol=0)
    assert result.rf == (10, 10) and result.rf_box == ((6, 15), (5, 14))
    assert result.layer == "3"  # no global op: the output, i.e. the last conv
    assert abs(result.in_rf_share - 1.0) < 1e-12


def test_dilated_stack_2d():
    specs = [(3, 1, 0, 2), (3, 1, 0, 1), (2, 1, 0, 3)]
    result = erf(ones_stack(2, specs), (1, 17, 17), samples=2)
    v = box_profile([3, 3, 2], [2, 1, 3])  # 5 + 2 + 3 taps -> RF 10
    c = (17 - 4 - 2 - 3) // 2  # output 8, centre 4: window starts at input 4
    want = np.zeros((17, 17))
    want[c:c + len(v), c:c + len(v)] = np.outer(v, v)
    want /= want.sum()
    assert np.allclose(result.map.numpy(), want, atol=TOL, rtol=0)
    assert np.allclose(result.map.numpy(), expected_map((17, 17), specs), atol=TOL, rtol=0)
    assert result.rf == (10, 10)


@pytest.mark.parametrize("specs, shape", [
    ([(3, 2, 0, 1), (3, 1, 0, 1), (3, 2, 0, 1)], (1, 23, 23)),
    ([(4, 2, 1, 1), (3, 2, 1, 1), (3, 1, 1, 2)], (1, 20, 18)),  # padding, even kernel, dilation
    ([(5, 3, 2, 1), (3, 1, 1, 1)], (1, 7, 9)),  # RF larger than the image: clipped
])
def test_strided_and_padded_stack_2d_equals_numpy_jacobian(specs, shape):
    result = erf(ones_stack(2, specs), shape, samples=2)
    want = expected_map(shape[1:], specs)
    assert np.allclose(result.map.numpy(), want, atol=TOL, rtol=0)
    # support of the exact gradient (positive weights: no cancellation) == the traced RF box
    support = [np.nonzero(want.sum(axis=1 - a))[0] for a in range(2)]
    assert result.rf_box == tuple((int(s.min()), int(s.max())) for s in support)
    assert abs(result.in_rf_share - 1.0) < 1e-12


@pytest.mark.parametrize("specs", [
    [(3, 1, 0, 1), (3, 1, 0, 1), (5, 1, 0, 1)],
    [(3, 2, 0, 1), (3, 1, 0, 2), (2, 2, 1, 1)],
])
def test_conv1d_stack(specs):
    result = erf(ones_stack(1, specs), (1, 41), samples=4)
    assert result.map.shape == (41,)
    want = expected_map((41,), specs)
    assert np.allclose(result.map.numpy(), want, atol=TOL, rtol=0)
    if all(s == 1 and p == 0 for _, s, p, _ in specs):
        v = box_profile([k for k, *_ in specs], [d for *_, d in specs])
        start = (41 - (len(v) - 1)) // 2
        boxes = np.zeros(41)
        boxes[start:start + len(v)] = v
        assert np.allclose(result.map.numpy(), boxes / boxes.sum(), atol=TOL, rtol=0)
    support = np.nonzero(want)[0]
    assert result.rf_box == ((int(support.min()), int(support.max())),)
    for t in (0.2, 0.3, 0.5, 0.99):
        assert result.area_ratio[t] == pytest.approx(brute_area_ratio(result.map.numpy(), t), abs=1e-15)


# ---------------------------------------------------------------- area ratio and in-box share

class Toy(nn.Module):
    """Nonlinear, strided, with a functional pool and a residual add, then a global mean."""

    def __init__(self, c=3):
        super().__init__()
        self.stem = nn.Conv2d(c, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.a = nn.Conv2d(6, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 8, 3, stride=2)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        y = F.relu(self.bn(self.stem(x)))
        y = y + self.a(y)
        y = F.max_pool2d(y, 2)
        y = self.drop(F.relu(self.b(y)))
        return self.head(y.mean(dim=(2, 3)))


def test_area_ratio_and_in_box_share_match_a_direct_computation():
    torch.manual_seed(0)
    model = Toy()
    result = erf(model, (3, 19, 26), samples=6)
    m = result.map.numpy()
    assert m.sum() == pytest.approx(1.0, abs=1e-12) and (m >= 0).all()
    assert set(result.area_ratio) == {0.2, 0.3, 0.5, 0.99}
    for t in (0.2, 0.3, 0.5, 0.99):
        assert result.area_ratio[t] == pytest.approx(brute_area_ratio(m, t), abs=1e-15)
    report = rfkit.trace(model, (3, 19, 26))
    layer = report.layer(result.layer)
    box = brute_box(layer, (19, 26))
    assert result.rf_box == tuple(box)
    assert result.rf == layer.r_out
    inside = sum(m[i, j] for i in range(19) for j in range(26)
                 if box[0][0] <= i <= box[0][1] and box[1][0] <= j <= box[1][1])
    assert result.in_rf_share == pytest.approx(inside, abs=1e-12)
    assert result.in_rf_share == pytest.approx(1.0, abs=1e-6)


def test_area_ratio_of_a_single_pixel_map():
    # identity conv (1x1, weight 1): the map is the centre pixel alone
    result = erf(ones_stack(2, [(1, 1, 0, 1)]), (1, 9, 12), samples=1)
    assert result.map[4, 6] == pytest.approx(1.0)
    assert all(v == pytest.approx(1 / 108) for v in result.area_ratio.values())
    assert result.rf_box == ((4, 4), (6, 6))


# ---------------------------------------------------------------- layers: default, modules, functional ops

def test_default_layer_is_the_input_of_the_first_global_op():
    torch.manual_seed(1)
    model = zoo.MnistNet_3()
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    result = erf(model, x)
    report = rfkit.trace(model, (1, 28, 28))
    assert report.first_global.name == "gap"
    assert result.layer == "block2.11"
    assert result.rf == report.rf_before_global == (18, 18)
    want = autograd_erf(copy.deepcopy(nn.Sequential(model.block1, model.block2)), x)
    assert np.allclose(result.map.numpy(), want, atol=1e-12, rtol=0)


def test_default_layer_behind_flatten_is_the_last_tensor_with_positions():
    model = zoo.S5Net()
    result = erf(model, (1, 28, 28), samples=2)
    # fc1 (flatten + Linear) is the first global op; the tensor before the view is relu#4's output
    assert rfkit.trace(model, (1, 28, 28)).first_global.name == "fc1"
    assert result.layer == "F.relu#4" and result.rf == (16, 16)
    assert abs(result.in_rf_share - 1.0) < 1e-6


@pytest.mark.parametrize("layer, upto", [
    ("stem", lambda m, x: m.stem(x)),
    ("F.relu#1", lambda m, x: F.relu(m.bn(m.stem(x)))),
    ("Tensor.add#1", lambda m, x: (lambda y: y + m.a(y))(F.relu(m.bn(m.stem(x))))),
    ("F.max_pool2d#1", lambda m, x: F.max_pool2d((lambda y: y + m.a(y))(F.relu(m.bn(m.stem(x)))), 2)),
])
def test_named_layers_modules_and_functional_ops(layer, upto):
    torch.manual_seed(2)
    model = Toy().eval()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    result = erf(model, x, layer)
    assert result.layer == layer

    class Upto(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return upto(self.inner, x)

    want = autograd_erf(Upto(copy.deepcopy(model)), x)
    assert np.allclose(result.map.numpy(), want, atol=1e-12, rtol=0)
    assert abs(result.in_rf_share - 1.0) < 1e-9


def test_bad_layer_name():
    with pytest.raises(RfkitError) as err:
        erf(zoo.MnistNet_3(), (1, 28, 28), "block9.0", samples=1)
    message = str(err.value)
    assert "\n" not in message and "'block9.0'" in message and "block1.0" in message


def test_bad_inputs():
    with pytest.raises(RfkitError):
        erf(zoo.MnistNet_3(), torch.zeros(1, 28, 28).flatten(), samples=1)
    with pytest.raises(RfkitError):
        erf(zoo.MnistNet_3(), (1, 28, 28), samples=0)


# ---------------------------------------------------------------- the model is left as found

def _snapshot(model):
    return {
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "dtypes": [p.dtype for p in model.parameters()],
    }


def _assert_as_found(model, before):
    assert [m.training for m in model.modules()] == before["modes"]
    assert [p.requires_grad for p in model.parameters()] == before["requires_grad"]
    assert [p.dtype for p in model.parameters()] == before["dtypes"]
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert after.keys() == before["state"].keys()
    assert all(torch.equal(after[k], v) for k, v in before["state"].items())
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    mod = nn.modules.module
    assert not mod._global_forward_hooks and not mod._global_forward_pre_hooks
    assert not mod._global_backward_hooks


def _mixed_modes_model():
    torch.manual_seed(5)
    model = Toy().train()
    model.a.eval()  # mixed flags must come back mixed
    model.stem.bias.requires_grad_(False)
    return model


def test_model_left_as_found():
    model = _mixed_modes_model()
    before = _snapshot(model)
    train_mode = erf(model, (3, 16, 16), samples=4)
    _assert_as_found(model, before)
    # it ran in eval mode (BatchNorm running stats, no dropout): same as on an eval-mode copy
    evaluated = erf(copy.deepcopy(model).eval(), (3, 16, 16), samples=4)
    assert torch.equal(train_mode.map, evaluated.map)


@pytest.mark.parametrize("always", [False, True])
def test_model_left_as_found_when_the_forward_raises(always):
    class Breaks(Toy):
        def forward(self, x):  # always=False: the trace (no grad) passes, the gradient pass fails
            y = F.relu(self.bn(self.stem(x)))
            if always or torch.is_grad_enabled():
                raise ValueError("boom")
            return y

    model = Breaks().train()
    model.bn.eval()
    model.a.bias.requires_grad_(False)
    before = _snapshot(model)
    with pytest.raises(RfkitError, match="boom"):
        erf(model, (3, 12, 12), samples=2)  # no global op: the output is needed, past the raise
    _assert_as_found(model, before)
    if not always:  # a layer before the raise: captured, and the forward stopped there
        assert erf(model, (3, 12, 12), "F.relu#1", samples=2).layer == "F.relu#1"
        _assert_as_found(model, before)


def test_reproducible_and_sample_count():
    model = zoo.MnistNet_1()
    a = erf(model, (1, 28, 28))
    b = erf(model, (1, 28, 28))
    assert a.samples == 32 and a.input_shape == (32, 1, 28, 28)
    assert torch.equal(a.map, b.map)
    x = torch.randn(40, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    c = erf(model, x, samples=35)  # two chunks of the batch: 32 + 3
    assert c.samples == 35 and c.layer == "block2.7"
    want = autograd_erf(nn.Sequential(copy.deepcopy(model.block1), copy.deepcopy(model.block2)), x[:35])
    assert np.allclose(c.map.numpy(), want, atol=1e-12, rtol=0)


# ---------------------------------------------------------------- inside the theoretical RF

@pytest.mark.parametrize("name", ["MnistNet_1", "MnistNet_2", "MnistNet_3", "S6Net", "S5Net", "UltimusNet"])
def test_zoo_map_inside_the_theoretical_rf(name):
    torch.manual_seed(0)
    result = erf(zoo.create(name), zoo.card(name).input_size, samples=4)
    assert abs(result.in_rf_share - 1.0) < 1e-6, (result.layer, result.rf_box)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.c3 = nn.Conv2d(4, 4, 3, stride=2)
        self.skip = nn.Conv2d(2, 4, 1)

    def forward(self, x):
        y = F.relu(self.c2(F.relu(self.c1(x)))) + self.skip(x)
        return self.c3(y).amax(dim=(2, 3))


@pytest.mark.parametrize("layer", [None, "Tensor.add#1", "c2"])
def test_residual_toy_inside_the_theoretical_rf(layer):
    torch.manual_seed(0)
    result = erf(Residual(), (2, 24, 20), layer, samples=4)
    assert abs(result.in_rf_share - 1.0) < 1e-6, (result.layer, result.rf_box)
    assert result.layer == (layer or "c3")


# ---------------------------------------------------------------- JSON and plot

def test_to_dict_schema():
    result = erf(ones_stack(1, [(3, 1, 0, 1)]), (1, 9), samples=1)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema"] == "rfkit.erf/1"
    assert data["layer"] == "0" and data["samples"] == 1 and data["input_shape"] == [1, 1, 9]
    assert data["rf"] == [3] and data["rf_box"] == [[3, 5]]
    assert set(data["area_ratio"]) == {"0.2", "0.3", "0.5", "0.99"}
    assert data["map"] == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert isinstance(result, ErfResult)
    with pytest.raises(Exception):
        result.layer = "x"  # frozen


def test_plots(tmp_path):
    from rfkit.output.plots import plot_erf

    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    result = erf(Toy(), x)
    path = plot_erf(result, tmp_path / "erf2d.png", image=x)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = erf(ones_stack(1, [(3, 2, 0, 1), (3, 1, 0, 1)]), (1, 30), samples=2)
    path = plot_erf(one.to_dict(), tmp_path / "erf1d.png", image=torch.randn(2, 1, 30), image_mode="first")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_mnist_images(data_dir):
    from rfkit.train.data import load_split

    split = load_split("mnist", data_dir, train=False)
    x = (split.images[:16].double() / 255 - 0.1307) / 0.3081
    result = erf(zoo.MnistNet_3(), x)
    assert result.samples == 16 and abs(result.in_rf_share - 1.0) < 1e-6


def test_exported_at_the_top_level():
    assert rfkit.erf is erf and rfkit.ErfResult is ErfResult
