"""trace == verify: the traced RF against the gradient oracle (float64, positive weights)."""
import pytest
import torch
import torch.nn as nn
import torchvision
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import zoo
from rfkit.checks.verify import verify


def assert_verified(model, size):
    result = verify(model, size)
    assert result.ok, [(a.axis, a.traced, a.measured, a.traced_jump, a.measured_jump) for a in result.axes]
    return result


@pytest.mark.parametrize("name", zoo.names())
def test_zoo(name):
    assert_verified(zoo.create(name), zoo.card(name).input_size)


def _resnet18_to_layer2():
    return nn.Sequential(*list(torchvision.models.resnet18().children())[:6])


TORCHVISION_BODIES = {
    "resnet18 to layer2": (_resnet18_to_layer2, (3, 64, 64), 99),
    "resnet50 layer1": (lambda: nn.Sequential(*list(torchvision.models.resnet50().children())[:5]), (3, 48, 48), 35),
    "vgg11 features[:11]": (lambda: torchvision.models.vgg11().features[:11], (3, 32, 32), 30),
    "densenet121 features[:6]": (lambda: torchvision.models.densenet121().features[:6], (3, 64, 64), 63),
    "mobilenet_v2 features[:7]": (lambda: torchvision.models.mobilenet_v2().features[:7], (3, 64, 64), 59),
    "inception C (1x7, 7x1, concat)": (lambda: torchvision.models.inception.InceptionC(64, channels_7x7=16),
                                       (64, 17, 17), 13),
    "efficientnet_b0 features[:3] (SE)": (lambda: torchvision.models.efficientnet_b0().features[:3], (3, 64, 64),
                                          197),
    "convnext_tiny features[:2]": (lambda: torchvision.models.convnext_tiny().features[:2], (3, 64, 64), 76),
}


@pytest.mark.parametrize("name", TORCHVISION_BODIES)
def test_torchvision_bodies(name):
    build, size, rf = TORCHVISION_BODIES[name]
    result = assert_verified(build(), size)
    assert result.report.rf == (rf, rf)


@st.composite
def random_net(draw):
    """Stacks of convs (strided, dilated, asymmetric), ceil_mode pools, residual adds and
    concat branches, with an input size that keeps every feature map at least 1x1."""
    h0, w0 = draw(st.integers(24, 48)), draw(st.integers(24, 48))
    channels, h, w = 2, h0, w0
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "pool", "residual", "concat"]))
        if kind == "conv":
            kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
            sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
            h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
            layer = nn.Conv2d(channels, 3, (kh, kw), (sh, sw), (ph, pw), (dh, dw))
            channels = 3
        elif kind == "pool":
            k, ceil = draw(st.integers(2, 3)), draw(st.booleans())
            layer = draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(k, 2, ceil_mode=ceil)
            h, w = ((n - k + (1 if ceil else 0)) // 2 + 1 for n in (h, w))
        elif kind == "residual":
            layer = ResidualBlock(channels, draw(st.sampled_from([3, 5])))
        else:
            layer = ConcatBlock(channels, draw(st.sampled_from([1, 3])), draw(st.sampled_from([3, 5])))
            channels = 4
        if h < 1 or w < 1:
            break
        layers.append(layer)
    assume(layers)
    return nn.Sequential(*layers), (2, h0, w0)


class ResidualBlock(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.conv = nn.Conv2d(c, c, k, padding=k // 2)

    def forward(self, x):
        return x + self.conv(x).relu()


class ConcatBlock(nn.Module):
    def __init__(self, c, k1, k2):
        super().__init__()
        self.a = nn.Conv2d(c, 2, k1, padding=k1 // 2)
        self.b = nn.Conv2d(c, 2, k2, padding=k2 // 2)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(random_net())
def test_random_nets(net_and_size):
    net, size = net_and_size
    assert_verified(net, size)


def test_oracle_catches_a_wrong_rule():
    """The oracle is independent of the algebra: a conv rule off by one pixel fails verification."""
    from rfkit.analysis import ops, rf, rules

    def sloppy(call):
        out = rules.conv(call)
        state = out.states[0]
        for i, a in enumerate(state.axes):
            state = state.with_axis(i, rf.replace(a, r=a.r + 1))
        return rules.Outcome([state], out.rule, out.kernels)

    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    original = ops.OPS["conv2d"].rf
    ops.register_op("conv2d", rf=sloppy, replace=True)
    try:
        assert not verify(model, (1, 16, 16)).ok
    finally:
        ops.register_op("conv2d", rf=original, replace=True)
    assert verify(model, (1, 16, 16)).ok
