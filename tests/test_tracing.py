"""Tracing real graphs: residuals, concatenation, functional ops, odd outputs, and
the promise to leave the model exactly as found."""
from fractions import Fraction

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import rfkit
from rfkit.errors import TraceError


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = self.stem(x)
        return x + self.b(F.relu(self.a(x)))


class TwoBranchCat(nn.Module):
    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(3, 4, 3, padding=1)
        self.large = nn.Conv2d(3, 4, 7, padding=3)

    def forward(self, x):
        return torch.cat([self.small(x), self.large(x)], dim=1)


def test_residual_add_is_union_of_paths():
    report = rfkit.trace(Residual(), (3, 32, 32))
    add = next(l for l in report.layers if l.rule == "merge")
    assert add.r_out == (7, 7) and add.r_in == (3, 3)
    assert report.rf == (7, 7) and report.start == (0, 0)


def test_concat_reports_max_and_min_over_channels():
    report = rfkit.trace(TwoBranchCat(), (3, 32, 32))
    assert report.rf == (7, 7)
    assert tuple(a.r_min for a in report.output) == (3, 3)


def test_misaligned_merge_warns():
    class Shifted(nn.Module):
        def forward(self, x):
            return x[..., 1:] + x[..., :-1]

    report = rfkit.trace(Shifted(), (1, 8, 8))
    assert report.rf == (1, 2)
    assert any("misaligned" in w for w in report.warnings)


def test_functional_pool_interpolate_pad_and_global_mean():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            x = F.max_pool2d(F.pad(self.conv(x), (1, 1, 1, 1)), 2, ceil_mode=True)
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return x.mean(dim=(2, 3))

    report = rfkit.trace(Functional(), (1, 16, 16))
    pool = report.layer("F.max_pool2d#1")
    assert (pool.n_in, pool.n_out, pool.r_out, pool.j_out) == ((16, 16), (8, 8), (4, 4), (2, 2))
    up = report.layer("F.interpolate#1")
    assert (up.r_out, up.j_out, up.n_out) == ((4, 4), (1, 1), (16, 16))
    assert report.layer("Tensor.mean#1").rule == "global"
    assert report.rf == (19, 19)  # 4 + (16 - 1) * 1


def test_asymmetric_kernels_are_per_axis():
    model = nn.Sequential(nn.Conv2d(1, 1, (1, 7), stride=(1, 2)), nn.Conv2d(1, 1, (5, 1), dilation=(2, 1)))
    report = rfkit.trace(model, (1, 40, 40))
    assert report.rf == (9, 7) and report.jump == (1, 2)
    assert report.layer("1").k == (5, 1) and report.layer("1").d == (2, 1)


def test_1d_and_3d_models():
    r1 = rfkit.trace(nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.MaxPool1d(3)), (2, 100))
    assert r1.axis_names == ("L",) and r1.rf == (9,) and r1.jump == (6,)
    r3 = rfkit.trace(nn.Sequential(nn.Conv3d(1, 2, 3), nn.AvgPool3d(2)), (1, 8, 10, 12))
    assert r3.axis_names == ("D", "H", "W") and r3.rf == (4, 4, 4) and r3.jump == (2, 2, 2)


def test_tuple_dict_and_none_outputs():
    class Multi(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.kind = kind
            self.a = nn.Conv2d(1, 1, 3)
            self.b = nn.Conv2d(1, 1, 5)

        def forward(self, x):
            a, b = self.a(x), self.b(x)
            return {"tuple": (a, b), "dict": {"a": a, "b": b}, "none": None}[self.kind]

    for kind in ("tuple", "dict"):
        assert rfkit.trace(Multi(kind), (1, 16, 16)).rf == (5, 5)
    assert rfkit.trace(Multi("none"), (1, 16, 16)).rf == (5, 5)  # RF of the last traced op


def test_model_without_spatial_ops():
    report = rfkit.trace(nn.Sequential(nn.Linear(10, 5), nn.ReLU()), (10,))
    assert report.rf == () and report.rf_layers() == []


def test_unknown_op_is_flagged_not_guessed():
    class Tiles(nn.Module):
        def forward(self, x):
            return x.repeat(1, 1, 2, 2)

    report = rfkit.trace(Tiles(), (1, 8, 8))
    assert report.rf == (None, None)
    assert any("no RF rule for 'repeat'" in w for w in report.warnings)


def test_user_registered_rule():
    from rfkit.analysis import ops, rules

    class Tiles(nn.Module):
        def forward(self, x):
            return x.repeat(1, 1, 1, 1)

    try:
        @rfkit.register_rule("repeat")
        def repeat_rule(call):
            return rules.Outcome([call.state], rules.POINTWISE)

        assert rfkit.trace(Tiles(), (1, 8, 8)).rf == (1, 1)
    finally:
        ops.OPS.pop("repeat")


def test_wrong_input_size_names_failing_layer():
    from zoo import S5Net

    with pytest.raises(TraceError) as info:
        rfkit.trace(S5Net(), (1, 32, 32))
    message = str(info.value)  # 32x32 leaves 256x5x5 = 6400 values for view(-1, 4096)
    assert "Tensor.view on input (1, 256, 5, 5)" in message and "6400" in message
    assert "conv4" in [l.name for l in info.value.partial.layers]


def test_mid_forward_error_keeps_partial_trace():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            x = self.conv(x)
            raise ValueError("boom")

    with pytest.raises(TraceError, match="boom") as info:
        rfkit.trace(Broken(), (1, 8, 8))
    assert [l.name for l in info.value.partial.layers] == ["conv"]


def test_meta_fallback_to_cpu_is_reported():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            x = self.conv(x)
            return x * 2 if x.sum().item() >= 0 else x

    report = rfkit.trace(DataDependent(), (1, 8, 8), device="meta")
    assert report.device == "cpu" and "meta" in report.fallback
    assert report.rf == (3, 3)


def snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "devices": {p.device for p in model.parameters()},
        "dtypes": [p.dtype for p in model.parameters()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()],
    }


def assert_same(before, after):
    assert before["modes"] == after["modes"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["devices"] == after["devices"] and before["dtypes"] == after["dtypes"]
    assert before["hooks"] == after["hooks"]
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), k


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_trace_leaves_model_as_found(device):
    from zoo import MnistNet_2

    model = MnistNet_2().double()
    model.train()
    model.block1[0].weight.requires_grad_(False)
    model.block2.eval()
    user_hook = model.block1.register_forward_hook(lambda *a: None)
    before = snapshot(model)
    rfkit.trace(model, (1, 28, 28), device=device)
    assert_same(before, snapshot(model))
    user_hook.remove()


def test_trace_leaves_model_as_found_when_forward_raises():
    from zoo import S5Net

    model = S5Net()
    model.train()
    before = snapshot(model)
    with pytest.raises(TraceError):
        rfkit.trace(model, (1, 32, 32))
    assert_same(before, snapshot(model))


class RegistersOnFirstCall(nn.Module):
    """Caches a buffer, builds a submodule and a parameter, and hooks itself on its first forward."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.conv, self.fail = nn.Conv2d(1, 4, 3), fail

    def forward(self, x):
        if not hasattr(self, "cache"):
            self.register_buffer("cache", torch.ones(4, 1, 1, device=x.device), persistent=False)
            self.extra = nn.Conv2d(4, 4, 1).to(x.device)
            self.register_parameter("scale", nn.Parameter(torch.ones(1, device=x.device)))
            self.register_forward_hook(lambda *a: None)
        if self.fail:
            raise ValueError("after registering")
        return self.extra(self.conv(x) * self.cache * self.scale)


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("fail", [False, True])
def test_what_a_forward_registers_is_undone(device, fail):
    model = RegistersOnFirstCall(fail)
    names = (list(model.state_dict()), list(model.named_modules()), dict(model._forward_hooks))
    if fail:
        with pytest.raises(TraceError):
            rfkit.trace(model, (1, 8, 8), device=device)
    else:
        report = rfkit.trace(model, (1, 8, 8), device=device)
        assert report.params == 40 and report.macs == (4 * 6 * 6 * 9) + (4 * 6 * 6 * 4)
    assert (list(model.state_dict()), list(model.named_modules()), dict(model._forward_hooks)) == names
    assert not hasattr(model, "cache") and not model._non_persistent_buffers_set
    if not fail:
        assert model(torch.ones(1, 1, 8, 8)).shape == (1, 4, 6, 6)  # its real first call registers for real


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_parametrized_weights_are_never_evaluated_outside_the_pass(device):
    """Spectral norm's parametrization updates its power-iteration buffers whenever `weight` is read
    in training mode: neither the trace nor the summaries may read it on the user's model."""
    from torch.nn.utils import parametrizations

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    parametrizations.spectral_norm(model[2])
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = rfkit.trace(model, (1, 12, 12), device=device)
    str(rfkit.summary(model, input_size=(1, 12, 12), style="torchsummary"))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), [k for k in before if not torch.equal(before[k],
                                                                                                          after[k])]
    assert report.params == 40 + 148 and report.rf == (5, 5)


def test_trace_runs_in_eval_mode_without_calling_train_overrides():
    """Every module sees training False during the pass; a train() override with side effects
    (freezing a layer, counting calls) is not run, and the flags are back afterwards."""

    class Freezing(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.seen, self.train_calls = nn.Conv2d(1, 2, 3), [], 0

        def train(self, mode: bool = True):
            self.train_calls += 1
            self.conv.weight.requires_grad_(mode)
            return super().train(mode)

        def forward(self, x):
            self.seen.append((self.training, self.conv.training))
            return self.conv(x)

    model = Freezing()
    model.train()
    calls = model.train_calls
    rfkit.trace(model, (1, 8, 8), device="meta")
    assert model.seen == [(False, False)]
    assert model.train_calls == calls and model.conv.weight.requires_grad
    assert model.training and model.conv.training


def test_layer_lookup_and_columns():
    from zoo import MnistNet_3

    report = rfkit.trace(MnistNet_3(), (1, 28, 28))
    layer = report.layer("block1.9")
    assert layer.kind == "MaxPool2d"
    assert (layer.k, layer.s, layer.p, layer.r_in, layer.r_out, layer.j_out) == ((2, 2), (2, 2), (0, 0), (5, 5),
                                                                                 (6, 6), (2, 2))
    assert layer.in_shape == (1, 8, 24, 24) and layer.out_shape == (1, 8, 12, 12)
    with pytest.raises(KeyError):
        report.layer("nope")


@pytest.mark.parametrize("name", ["MnistNet_2", "S5Net", "UltimusNet"])
def test_meta_cpu_and_auto_give_the_same_report(name):
    import zoo
    from rfkit.output import render

    model = zoo.create(name)
    size = zoo.card(name).input_size
    reports = [rfkit.trace(model, size, device=d) for d in ("meta", "cpu", "auto")]
    assert [r.device for r in reports[:2]] == ["meta", "cpu"]
    tables = {render.rf_json(r, all_rows=True).replace(f'"device": "{r.device}"', "") for r in reports}
    assert len(tables) == 1
    assert len({(r.params, r.macs) for r in reports}) == 1


def test_auto_picks_cpu_for_tiny_passes_and_meta_for_large():
    import torchvision
    from zoo import MnistNet_3

    assert rfkit.trace(MnistNet_3(), (1, 28, 28)).device == "cpu"
    assert rfkit.trace(torchvision.models.resnet18(), (3, 224, 224)).device == "meta"
    with torch.device("meta"):
        on_meta = MnistNet_3()
    assert rfkit.trace(on_meta, (1, 28, 28)).device == "meta"


def test_transposed_conv_and_bilinear_upsampling_are_marked_approximate():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2))
    report = rfkit.trace(model, (1, 17, 17))
    up = report.layer("1")
    assert up.rule == "resample" and up.j_out == (1, 1) and up.exact == (False, False)
    # even outputs read inputs i and i+1 (one input jump, 2 px, apart): r = 3 + (2 - 1) * 2
    assert up.r_out == (5, 5)
    nearest = rfkit.trace(nn.Upsample(scale_factor=2), (1, 4, 4)).layer("")
    assert nearest.exact == (True, True) and nearest.j_out == (Fraction(1, 2),) * 2
    bilinear = rfkit.trace(nn.Upsample(scale_factor=2, mode="bilinear"), (1, 4, 4)).layer("")
    assert bilinear.exact == (False, False) and bilinear.r_out == (2, 2)


# The meta shortcuts (an output made from a shape formula instead of torch's slow Python meta
# kernel) against the kernels themselves: same shape, dtype and layout, or no shortcut at all.

from hypothesis import given, settings
from hypothesis import strategies as st

from rfkit.analysis import meta as _meta
from rfkit.analysis import ops
from rfkit.analysis.meta import adaptive_output as _adaptive_output, conv_output as _conv_output, empty_like as _empty_like


@st.composite
def conv_calls(draw):
    nd, groups = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
    stride = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilation = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, 3),
                             st.lists(st.integers(0, 3), min_size=nd, max_size=nd)))
    stride = [1] * nd if padding == "same" else stride
    size = draw(st.lists(st.integers(1, 12), min_size=nd, max_size=nd))
    w_in = c_in // groups + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes a channel mismatch
    x = torch.empty(2, c_in, *size, device="meta")
    w = torch.empty(c_out, w_in, *kernel, device="meta")
    b = torch.empty(c_out, device="meta") if draw(st.booleans()) else None
    return nd, (x, w, b, stride, padding, dilation, groups)


@settings(max_examples=400, deadline=None)
@given(conv_calls())
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_conv_shortcut_equals_the_meta_kernel_or_steps_aside(call):
    nd, args = call
    got = _conv_output(nd, args, {})
    try:
        expected = getattr(F, f"conv{nd}d")(*args)
    except RuntimeError:
        assert got is None  # a bad call reaches the kernel, and its error reaches the user
        return
    if got is not None:
        assert (got.shape, got.stride(), got.dtype) == (expected.shape, expected.stride(), expected.dtype)


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 3), st.lists(st.integers(0, 3), max_size=3), st.lists(st.integers(0, 9), min_size=3, max_size=3),
       st.one_of(st.integers(-1, 9), st.none(), st.lists(st.one_of(st.none(), st.integers(-1, 9)), min_size=1,
                                                        max_size=4), st.just(2.0), st.just(True)))
def test_adaptive_avg_pool_shortcut_equals_the_meta_kernel_or_steps_aside(nd, lead, spatial, output_size):
    x = torch.empty(*lead, *spatial[:nd], device="meta")
    got = _adaptive_output(nd, x, (output_size,), {})
    try:
        expected = getattr(F, f"adaptive_avg_pool{nd}d")(x, output_size)
    except (RuntimeError, TypeError, ValueError):
        assert got is None
        return
    if got is not None:
        assert (got.shape, got.stride(), got.dtype) == (expected.shape, expected.stride(), expected.dtype)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3, 5]), max_size=5), st.randoms(use_true_random=False))
def test_empty_like_shortcut_keeps_torchs_layout(shape, rng):
    x = torch.empty(shape, device="meta")
    order = list(range(x.dim()))
    rng.shuffle(order)
    x = x.permute(order)
    if x.dim() and rng.random() < 0.3:
        d = rng.randrange(x.dim())
        x = x.narrow(d, 0, max(1, x.shape[d] - 1))  # gaps: not dense
    if x.dim() and rng.random() < 0.2:
        d = rng.randrange(x.dim())
        x = x.unsqueeze(d).expand(*x.shape[:d], 3, *x.shape[d:])  # overlapping
    ours, torchs = _empty_like(x), torch.empty_like(x)

    def layout(t):  # a size-1 dim's stride is arbitrary and never read
        return [s for n, s in zip(t.shape, t.stride()) if n != 1], t.is_contiguous()

    assert ours.shape == torchs.shape and layout(ours) == layout(torchs)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 5), st.integers(0, 5), st.integers(1, 6),
       st.integers(1, 6), st.sampled_from(["ok", "ok", "ok", "k_dim", "v_len", "lead", "dtype", "mask", "gqa"]))
def test_sdpa_shortcut_equals_the_meta_kernel_or_steps_aside(lead, length, key_length, dim, v_dim, flaw):
    m = "meta"
    q = torch.empty(*lead, length, dim, device=m)
    k = torch.empty(*lead, key_length, dim + (flaw == "k_dim"), device=m)
    v = torch.empty(*lead, key_length + (flaw == "v_len"), v_dim, device=m,
                    dtype=torch.float64 if flaw == "dtype" else torch.float32)
    if flaw == "lead":
        k = k.unsqueeze(0)
    kwargs = {"attn_mask": torch.ones(length, key_length, dtype=torch.bool, device=m)} if flaw == "mask" else \
        {"enable_gqa": True} if flaw == "gqa" else {}
    got = _meta.shortcut(ops.OPS["scaled_dot_product_attention"], "F.scaled_dot_product_attention", (q, k, v), kwargs)
    try:
        expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
    except (RuntimeError, ValueError, IndexError):
        assert got is None
        return
    assert flaw not in ("mask", "gqa") or got is None
    if got is not None:
        assert (got.shape, got.stride(), got.dtype) == (expected.shape, expected.stride(), expected.dtype)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(1, 4), st.integers(1, 4), st.sampled_from([1, 2, 4]), st.booleans(), st.booleans(),
       st.booleans(), st.sampled_from(["ok", "ok", "ok", "embed", "heads", "key_len", "batch", "kdim", "mask", "bias_k"]))
def test_mha_shortcut_equals_the_meta_kernel_or_steps_aside(batched, length, key_length, heads, need_weights, average,
                                                            bias, flaw):
    m, embed = "meta", 8
    module = nn.MultiheadAttention(embed, heads, bias=bias, kdim=4 if flaw == "kdim" else None,
                                   add_bias_kv=flaw == "bias_k", device=m)
    lead = (3,) if batched else ()
    query = torch.empty(length, *lead, embed + (flaw == "embed"), device=m)
    key = torch.empty(key_length, *((2,) if batched and flaw == "batch" else lead), 4 if flaw == "kdim" else embed,
                      device=m)
    value = key if flaw != "key_len" else torch.empty(key_length + 1, *key.shape[1:], device=m)
    args = (query, key, value, embed, heads + (flaw == "heads"), module.in_proj_weight, module.in_proj_bias,
            module.bias_k, module.bias_v, False, 0.0, module.out_proj.weight, module.out_proj.bias)
    kwargs = {"training": False, "need_weights": need_weights, "average_attn_weights": average,
              "attn_mask": torch.zeros(length, key_length, device=m) if flaw == "mask" else None}
    if flaw == "kdim":
        kwargs.update(use_separate_proj_weight=True, q_proj_weight=module.q_proj_weight,
                      k_proj_weight=module.k_proj_weight, v_proj_weight=module.v_proj_weight)
    got = _meta.shortcut(ops.OPS["multi_head_attention_forward"], "F.multi_head_attention_forward", args, kwargs)
    try:
        expected = F.multi_head_attention_forward(*args, **kwargs)
    except (RuntimeError, AssertionError, ValueError):
        assert got is None
        return
    assert flaw not in ("mask", "bias_k", "kdim") or got is None
    if got is not None:
        assert [None if t is None else (t.shape, t.stride(), t.dtype) for t in got] == \
            [None if t is None else (t.shape, t.stride(), t.dtype) for t in expected]


BOUND_OPS = [F.conv2d, F.conv_transpose2d, F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.interpolate,
             F.pad, F.linear, F.layer_norm, F.batch_norm, F.unfold, F.pixel_shuffle, torch.cat, torch.flatten,
             F.dropout, F.scaled_dot_product_attention, torch.Tensor.permute, torch.Tensor.view]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BOUND_OPS), st.integers(0, 9), st.lists(st.sampled_from(
    ["stride", "padding", "dilation", "groups", "bias", "kernel_size", "size", "scale_factor", "mode", "dim",
     "p", "training", "eps", "weight", "input", "nope"]), max_size=3, unique=True))
def test_fast_binding_equals_inspect(func, n_args, keywords):
    args = tuple(range(n_args))
    kwargs = {k: 7 for k in keywords}
    assert ops.bind(func, args, kwargs) == ops.bind_with_inspect(func, args, kwargs)
