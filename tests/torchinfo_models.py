"""A varied set of small models to compare against torchinfo 1.8.0's ``summary``.

Plain module (not a test file): ``MODELS`` maps a short key to a zero-argument builder
returning a :class:`Case`. Every builder seeds ``torch.manual_seed`` and constructs a
fresh model (important for Lazy* modules, which torchinfo's forward pass initialises),
and every case traces on CPU in well under a second (the first ``torchvision_resnet18``
build pays a one-off ``import torchvision`` of a few seconds; the build itself is ~0.3 s).

tests/test_torchinfo_parity.py compares rfkit's torchinfo style with torchinfo's live output
for every key (the rules: docs/summaries.md, "torchinfo style").

Run a case through torchinfo with :func:`torchinfo_kwargs`::

    case = MODELS["resnet_block"]()
    torchinfo.summary(case.model, **torchinfo_kwargs(case), verbose=0, device="cpu")

Exactly one of ``input_size`` / ``input_data`` is set. ``input_size`` includes the batch
dimension (a tuple, or a list of tuples for multi-input models); ``input_data`` is a
tensor, a tuple/list of positional tensors, or a dict of keyword tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import prune


@dataclass
class Case:
    model: nn.Module
    input_size: Any = None        # tuple incl. batch, or list of tuples
    input_data: Any = None        # tensor | tuple/list of tensors | dict of tensors (kwargs)
    dtypes: list | None = None    # e.g. [torch.long]; only meaningful with input_size
    depth: int = 3

    def __post_init__(self) -> None:
        if (self.input_size is None) == (self.input_data is None):
            raise ValueError("exactly one of input_size / input_data must be given")


def torchinfo_kwargs(case: Case) -> dict:
    """Keyword arguments for ``torchinfo.summary`` (add verbose=0, device="cpu")."""
    return dict(input_size=case.input_size, input_data=case.input_data,
                dtypes=case.dtypes, depth=case.depth)


def torchinfo_label_fixed(text: str) -> str:
    """torchinfo 1.8's text with its mult-adds label as it meant it: it formats its Units enum,
    which prints "(Units.MEGABYTES)" on Python >= 3.11 (torchinfo issue #350); rfkit prints
    "(M)" / "(G)" / "(T)" on every Python, as torchinfo did before 3.11."""
    for name, short in (("MEGABYTES", "M"), ("GIGABYTES", "G"), ("TERABYTES", "T")):
        text = text.replace(f"Total mult-adds (Units.{name}):", f"Total mult-adds ({short}):")
    return text


MODELS: dict[str, Callable[[], Case]] = {}


def register(key: str) -> Callable[[Callable[[], Case]], Callable[[], Case]]:
    def deco(fn: Callable[[], Case]) -> Callable[[], Case]:
        if key in MODELS:
            raise KeyError(f"duplicate fixture key {key!r}")

        def build() -> Case:
            torch.manual_seed(0)
            return fn()

        build.__name__ = fn.__name__
        build.__doc__ = fn.__doc__
        MODELS[key] = build
        return build
    return deco


# --------------------------------------------------------------------------- helpers
class BasicBlock(nn.Module):
    """ResNet BasicBlock with optional 1x1 downsample projection."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


# --------------------------------------------------------------------------- plain CNNs
@register("cnn_sequential")
def _cnn_sequential() -> Case:
    """Plain Sequential CNN with Flatten + Linear head."""
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    return Case(m, input_size=(1, 1, 28, 28))


@register("cnn_bn_dropout")
def _cnn_bn_dropout() -> Case:
    """Conv-BN-ReLU stack, Dropout, AdaptiveAvgPool head; batch of 2."""
    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Dropout2d(0.1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(32, 10))
    return Case(m, input_size=(2, 3, 32, 32))


class CustomCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))   # pool called twice -> (recursive) row (0 params)
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


@register("cnn_custom_functional")
def _cnn_custom_functional() -> Case:
    """LeNet-style custom module, functional relu, pool module reused twice."""
    return Case(CustomCNN(), input_size=(1, 3, 32, 32))


# --------------------------------------------------------------------------- residual / densenet
class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2), BasicBlock(16, 16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


@register("resnet_block")
def _resnet_block() -> Case:
    """Single BasicBlock with a downsample Sequential (stride 2, 8->16)."""
    return Case(BasicBlock(8, 16, stride=2), input_size=(1, 8, 16, 16))


@register("resnet_tiny")
def _resnet_tiny() -> Case:
    """Small residual net (stem + 2 stages of BasicBlocks); relu reused within a block."""
    return Case(TinyResNet(), input_size=(1, 3, 32, 32))


@register("resnet_tiny_depth5")
def _resnet_tiny_depth5() -> Case:
    """Same small residual net with depth=5 (all rows shown)."""
    return Case(TinyResNet(), input_size=(1, 3, 32, 32), depth=5)


@register("torchvision_resnet18")
def _torchvision_resnet18() -> Case:
    """torchvision resnet18 (random init) at 3x64x64."""
    import torchvision
    return Case(torchvision.models.resnet18(weights=None), input_size=(1, 3, 64, 64))


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(F.relu(self.bn(x)))], 1)


class DenseNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.block = nn.Sequential(DenseLayer(8, 4), DenseLayer(12, 4), DenseLayer(16, 4))
        self.transition = nn.Sequential(nn.BatchNorm2d(20), nn.Conv2d(20, 10, 1, bias=False), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(10, 5))

    def forward(self, x):
        return self.head(self.transition(self.block(self.conv0(x))))


@register("densenet_like")
def _densenet_like() -> Case:
    """Dense block of concatenating layers + transition + head."""
    return Case(DenseNetLike(), input_size=(1, 3, 16, 16))


# --------------------------------------------------------------------------- containers
class DictNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({
            "conv": nn.Conv2d(3, 8, 3, padding=1),
            "act": nn.ReLU(),
            "pool": nn.MaxPool2d(2),
        })
        self.head = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x):
        for layer in self.layers.values():
            x = layer(x)
        return self.head(x.flatten(1))


@register("moduledict_iter")
def _moduledict_iter() -> Case:
    """ModuleDict iterated in forward (container itself never called)."""
    return Case(DictNet(), input_size=(1, 3, 16, 16))


class ListNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(16, 16) for _ in range(3)])
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        for blk in self.blocks:
            x = torch.relu(blk(x))
        return self.out(x)


@register("modulelist_iter")
def _modulelist_iter() -> Case:
    """ModuleList of Linear layers iterated in forward."""
    return Case(ListNet(), input_size=(4, 16))


class ListOfSeq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), nn.ReLU()) for i in range(2)])

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        return x


@register("modulelist_of_sequential")
def _modulelist_of_sequential() -> Case:
    """ModuleList holding Sequentials (list row inserted, Sequentials hooked)."""
    return Case(ListOfSeq(), input_size=(1, 3, 8, 8))


class UnusedInContainers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.unused_list = nn.ModuleList([nn.Linear(8, 100), nn.Linear(100, 8)])
        self.heads = nn.ModuleDict({"a": nn.Linear(8, 3), "b": nn.Linear(8, 5)})

    def forward(self, x):
        for blk in self.used:
            x = blk(x)
        return self.heads["a"](x)      # heads["b"] and unused_list never called


@register("container_unused_members")
def _container_unused_members() -> Case:
    """ModuleList never called + ModuleDict with one member never called."""
    return Case(UnusedInContainers(), input_size=(2, 8))


class UnusedSubmodule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 10)
        self.aux = nn.Linear(10, 1000)                 # never runs
        self.aux_seq = nn.Sequential(nn.Linear(10, 5), nn.ReLU())  # never runs

    def forward(self, x):
        return self.fc(x)


@register("unused_submodule")
def _unused_submodule() -> Case:
    """Submodules that are defined but never run in forward."""
    return Case(UnusedSubmodule(), input_size=(1, 10))


@register("nested_sequential_4deep")
def _nested_sequential_4deep() -> Case:
    """Sequentials nested 4 deep (leaves at depth 5), default depth=3."""
    m = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.Sequential(
            nn.ReLU(),
            nn.Sequential(
                nn.Conv2d(4, 4, 3, padding=1),
                nn.Sequential(
                    nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()),
                    nn.BatchNorm2d(4)))),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    return Case(m, input_size=(1, 1, 8, 8))


@register("nested_sequential_4deep_d2")
def _nested_sequential_4deep_d2() -> Case:
    """Same 4-deep nesting at depth=2."""
    return Case(_nested_sequential_4deep().model, input_size=(1, 1, 8, 8), depth=2)


@register("nested_sequential_4deep_d6")
def _nested_sequential_4deep_d6() -> Case:
    """Same 4-deep nesting at depth=6 (everything shown)."""
    return Case(_nested_sequential_4deep().model, input_size=(1, 1, 8, 8), depth=6)


# --------------------------------------------------------------------------- reuse / sharing
class ReusedBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.block = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        x = self.inp(x)
        for _ in range(3):
            x = self.block(x)      # same block called 3x -> (recursive) rows
        return self.out(x)


@register("reused_block_3x")
def _reused_block_3x() -> Case:
    """Same Sequential block applied 3 times in forward."""
    return Case(ReusedBlock(), input_size=(2, 8))


class ReusedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.first = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        x = self.first(x)
        return self.conv(torch.relu(self.conv(x)))


@register("reused_leaf_conv_2x")
def _reused_leaf_conv_2x() -> Case:
    """A leaf Conv2d applied twice."""
    return Case(ReusedConv(), input_size=(1, 1, 8, 8))


class TiedLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 16)
        self.b = nn.Linear(16, 16)
        self.b.weight = self.a.weight      # shared weight, separate biases

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


@register("shared_weight_linear")
def _shared_weight_linear() -> Case:
    """Two distinct Linear modules sharing one weight Parameter."""
    return Case(TiedLinear(), input_size=(2, 16))


class TiedLM(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.emb.weight   # tied embedding / output projection

    def forward(self, tokens):
        h, _ = self.rnn(self.emb(tokens))
        return self.decoder(h)


@register("tied_embedding_lm")
def _tied_embedding_lm() -> Case:
    """Embedding tied with output Linear (weight tying), GRU in between; long tokens."""
    return Case(TiedLM(), input_size=(2, 7), dtypes=[torch.long])


# --------------------------------------------------------------------------- frozen
@register("frozen_backbone")
def _frozen_backbone() -> Case:
    """Conv backbone frozen (requires_grad=False), trainable head."""
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    for p in backbone.parameters():
        p.requires_grad_(False)
    m = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    return Case(m, input_size=(1, 3, 16, 16))


@register("frozen_batchnorm")
def _frozen_batchnorm() -> Case:
    """BatchNorm with frozen affine params, plus a partially frozen conv (bias only)."""
    bn = nn.BatchNorm2d(8)
    bn.weight.requires_grad_(False)
    bn.bias.requires_grad_(False)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    conv.bias.requires_grad_(False)   # partially frozen leaf (weight trainable)
    m = nn.Sequential(conv, bn, nn.ReLU(), nn.Conv2d(8, 4, 1))
    return Case(m, input_size=(1, 3, 8, 8))


@register("frozen_all")
def _frozen_all() -> Case:
    """Everything frozen (totals: trainable 0)."""
    m = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 4), nn.Tanh()))
    for p in m.parameters():
        p.requires_grad_(False)
    return Case(m, input_size=(1, 8))


# --------------------------------------------------------------------------- direct parameters
class PosEmbedModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, 6, 12) * 0.02)   # root-held parameter
        self.scale = nn.Parameter(torch.ones(1))
        self.proj = nn.Linear(12, 12)
        self.head = nn.Sequential(nn.LayerNorm(12), nn.Linear(12, 3))

    def forward(self, x):
        return self.head(self.proj(x + self.pos) * self.scale)


@register("root_parameters")
def _root_parameters() -> Case:
    """nn.Parameter attributes held directly by the root (positional embedding, scale)."""
    return Case(PosEmbedModel(), input_size=(2, 6, 12))


class ScaledSeq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((8,), 0.5))
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) * self.gamma


class ContainerParams(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = ScaledSeq()   # non-root container holding a Parameter directly
        self.bias = nn.Parameter(torch.zeros(8), requires_grad=False)   # frozen root param
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.block(x) + self.bias)


@register("container_parameters")
def _container_parameters() -> Case:
    """Parameter held by a child container + a frozen parameter on the root."""
    return Case(ContainerParams(), input_size=(2, 8))


# --------------------------------------------------------------------------- single layers
@register("single_linear")
def _single_linear() -> Case:
    """nn.Linear alone (root is a leaf)."""
    return Case(nn.Linear(20, 10), input_size=(3, 20))


@register("single_conv2d")
def _single_conv2d() -> Case:
    """nn.Conv2d alone."""
    return Case(nn.Conv2d(3, 16, 3, padding=1), input_size=(1, 3, 16, 16))


@register("single_lstm")
def _single_lstm() -> Case:
    """nn.LSTM alone (tuple output (out, (h, c)))."""
    return Case(nn.LSTM(10, 20), input_size=(5, 2, 10))


# --------------------------------------------------------------------------- RNNs
class RNNHead(nn.Module):
    def __init__(self, rnn: nn.Module, out_in: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(out_in, 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@register("lstm_linear")
def _lstm_linear() -> Case:
    """batch_first LSTM followed by Linear on last step."""
    return Case(RNNHead(nn.LSTM(8, 16, batch_first=True), 16), input_size=(2, 6, 8))


@register("lstm_bidir_2layer")
def _lstm_bidir_2layer() -> Case:
    """Bidirectional 2-layer batch_first LSTM + Linear."""
    return Case(RNNHead(nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True), 24),
                input_size=(2, 5, 8))


@register("gru_2layer")
def _gru_2layer() -> Case:
    """2-layer GRU (seq-first) alone."""
    return Case(nn.GRU(6, 10, num_layers=2), input_size=(7, 3, 6))


@register("gru_bidir_batch_first")
def _gru_bidir_batch_first() -> Case:
    """Bidirectional batch_first GRU + Linear."""
    return Case(RNNHead(nn.GRU(6, 10, bidirectional=True, batch_first=True), 20), input_size=(3, 4, 6))


@register("rnn_tanh_bias_false")
def _rnn_tanh_bias_false() -> Case:
    """Vanilla nn.RNN without biases, batch_first, + Linear."""
    return Case(RNNHead(nn.RNN(5, 7, bias=False, batch_first=True), 7), input_size=(2, 9, 5))


@register("lstm_proj")
def _lstm_proj() -> Case:
    """LSTM with proj_size (weight_hr_l0)."""
    return Case(nn.LSTM(8, 16, proj_size=4, batch_first=True), input_size=(2, 5, 8))


# --------------------------------------------------------------------------- attention
class SelfAttn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        y, _ = self.attn(x, x, x)
        return self.norm(x + y)


@register("mha_self_attention")
def _mha_self_attention() -> Case:
    """nn.MultiheadAttention self-attention (batch_first) + LayerNorm residual."""
    return Case(SelfAttn(), input_size=(2, 5, 16))


@register("mha_alone")
def _mha_alone() -> Case:
    """nn.MultiheadAttention as the root, called with (q, k, v) (tuple output)."""
    return Case(nn.MultiheadAttention(8, 2, batch_first=True), input_size=[(2, 4, 8), (2, 6, 8), (2, 6, 8)])


@register("transformer_encoder_layer")
def _transformer_encoder_layer() -> Case:
    """nn.TransformerEncoderLayer (batch_first, small ff)."""
    return Case(nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True),
                input_size=(2, 6, 16))


class TinyViT(nn.Module):
    def __init__(self, dim: int = 16, patch: int = 4, img: int = 16, ncls: int = 5) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 2, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, ncls)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], 1) + self.pos_embed
        x = self.norm(self.encoder(x))
        return self.head(x[:, 0])


@register("tiny_vit")
def _tiny_vit() -> Case:
    """Patch-embed conv + cls token + pos embed + 2-layer TransformerEncoder + head."""
    return Case(TinyViT(), input_size=(1, 3, 16, 16))


# --------------------------------------------------------------------------- pruning
@register("pruned_conv")
def _pruned_conv() -> Case:
    """l1_unstructured pruning (50%) on a conv weight and 30% on a Linear weight."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                      nn.Flatten(), nn.Linear(32, 10))
    prune.l1_unstructured(m[0], "weight", amount=0.5)
    prune.l1_unstructured(m[4], "weight", amount=0.3)
    return Case(m, input_size=(1, 3, 8, 8))


@register("pruned_linear_bias")
def _pruned_linear_bias() -> Case:
    """Pruned weight AND bias on a single Linear (root is the pruned leaf)."""
    m = nn.Linear(10, 6)
    prune.l1_unstructured(m, "weight", amount=0.4)
    prune.l1_unstructured(m, "bias", amount=0.5)
    return Case(m, input_size=(2, 10))


# --------------------------------------------------------------------------- dict / tuple outputs
class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cls = nn.Linear(8, 4)

    def forward(self, x):
        f = self.backbone(x)
        return {"logits": self.cls(f), "features": f}


@register("dict_output")
def _dict_output() -> Case:
    """forward returns {'logits', 'features'} (root Output Shape = last value)."""
    return Case(DictOut(), input_size=(2, 3, 8, 8))


class TupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(12, 6)
        self.dec = nn.Linear(6, 12)

    def forward(self, x):
        z = self.enc(x)
        return self.dec(z), z


@register("tuple_output")
def _tuple_output() -> Case:
    """forward returns a (reconstruction, latent) tuple."""
    return Case(TupleOut(), input_size=(3, 12))


# --------------------------------------------------------------------------- multi-input
class Siamese(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 1)

    def forward(self, a, b):
        return self.head(torch.abs(self.backbone(a) - self.backbone(b)))


@register("siamese_two_inputs")
def _siamese_two_inputs() -> Case:
    """Shared backbone applied to two images (second pass is recursive)."""
    return Case(Siamese(), input_size=[(1, 1, 12, 12), (1, 1, 12, 12)])


class ImageVector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(5, 6), nn.ReLU())
        self.fuse = nn.Linear(12, 2)

    def forward(self, img, vec):
        return self.fuse(torch.cat([self.cnn(img), self.mlp(vec)], 1))


@register("image_plus_vector")
def _image_plus_vector() -> Case:
    """Two inputs of different rank (image + feature vector), input_data tuple."""
    g = torch.Generator().manual_seed(1)
    return Case(ImageVector(), input_data=(torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 5, generator=g)))


class MaskedModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Linear(4, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x, mask):
        h = self.emb(x) * mask.unsqueeze(-1)
        return self.out(h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1))


@register("kwargs_input_dict")
def _kwargs_input_dict() -> Case:
    """forward(x, mask) fed via input_data dict (keyword args)."""
    g = torch.Generator().manual_seed(2)
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0, 1.0]])
    return Case(MaskedModel(), input_data={"x": torch.rand(2, 5, 4, generator=g), "mask": mask})


# --------------------------------------------------------------------------- tokens
class BagOfEmbeddings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16, padding_idx=0)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens):
        return self.fc(self.emb(tokens).mean(1))


@register("token_embedding_mean")
def _token_embedding_mean() -> Case:
    """Embedding + mean pooling + Linear with int64 token ids (dtypes=[torch.long])."""
    return Case(BagOfEmbeddings(), input_size=(2, 10), dtypes=[torch.long])


# --------------------------------------------------------------------------- lazy
@register("lazy_linear")
def _lazy_linear() -> Case:
    """LazyLinear layers (in_features inferred at the forward pass)."""
    m = nn.Sequential(nn.Flatten(), nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(4))
    return Case(m, input_size=(2, 3, 4, 4))


@register("lazy_conv2d")
def _lazy_conv2d() -> Case:
    """LazyConv2d + LazyBatchNorm2d + Linear."""
    m = nn.Sequential(nn.LazyConv2d(8, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    return Case(m, input_size=(1, 3, 8, 8))


# --------------------------------------------------------------------------- conv variety
@register("depthwise_separable")
def _depthwise_separable() -> Case:
    """Depthwise (groups=C) + pointwise conv, plus a grouped conv (groups=4)."""
    m = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, padding=1, groups=4))
    return Case(m, input_size=(1, 8, 16, 16))


@register("dilated_conv")
def _dilated_conv() -> Case:
    """Dilated convs (dilation 2 and 4), stride 1."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=2, dilation=2), nn.ReLU(),
                      nn.Conv2d(8, 8, 3, padding=4, dilation=4), nn.ReLU(),
                      nn.Conv2d(8, 4, 3, dilation=2))
    return Case(m, input_size=(1, 3, 20, 20))


@register("conv_transpose2d")
def _conv_transpose2d() -> Case:
    """Encoder-decoder with ConvTranspose2d upsampling."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                      nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.ReLU(),
                      nn.ConvTranspose2d(4, 1, 3, stride=1, padding=1, output_padding=0))
    return Case(m, input_size=(1, 3, 8, 8))


@register("conv1d_sequence")
def _conv1d_sequence() -> Case:
    """Conv1d stack on sequences (B, C, L) with MaxPool1d, AdaptiveAvgPool1d."""
    m = nn.Sequential(nn.Conv1d(4, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                      nn.Conv1d(8, 8, 3, dilation=2), nn.ReLU(),
                      nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(8, 2))
    return Case(m, input_size=(2, 4, 32))


@register("conv3d_small")
def _conv3d_small() -> Case:
    """Small Conv3d + BatchNorm3d + MaxPool3d."""
    m = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                      nn.MaxPool3d(2), nn.Conv3d(4, 2, (1, 3, 3)))
    return Case(m, input_size=(1, 1, 4, 8, 8))


class UpsampleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.refine = nn.Conv2d(8, 4, 3, padding=1)
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        y = self.refine(self.up(self.down(x)))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)  # functional, no row
        return self.out(y)


@register("upsample_interpolate")
def _upsample_interpolate() -> Case:
    """nn.Upsample module and functional F.interpolate (not a row)."""
    return Case(UpsampleNet(), input_size=(1, 3, 8, 8))


@register("identity_dropout")
def _identity_dropout() -> Case:
    """Identity and Dropout layers in a Linear MLP."""
    m = nn.Sequential(nn.Linear(10, 20), nn.Identity(), nn.Dropout(0.2), nn.GELU(),
                      nn.Linear(20, 5), nn.Identity())
    return Case(m, input_size=(4, 10))


@register("no_params")
def _no_params() -> Case:
    """Only pooling / activation: 0 parameters (Total params: 0)."""
    m = nn.Sequential(nn.MaxPool2d(2), nn.ReLU(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Softmax(dim=1))
    return Case(m, input_size=(1, 3, 16, 16))


@register("norm_layers")
def _norm_layers() -> Case:
    """GroupNorm, InstanceNorm2d (affine), LayerNorm over feature maps."""
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU(),
                      nn.Conv2d(8, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True),
                      nn.LayerNorm([8, 8, 8]))
    return Case(m, input_size=(1, 3, 8, 8))


class BufferModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))   # buffer: not a param
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x - self.mean)


@register("buffer_not_param")
def _buffer_not_param() -> Case:
    """Registered buffer on the root (not counted as a parameter)."""
    return Case(BufferModel(), input_size=(1, 3, 6, 6))


class Bilinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bil = nn.Bilinear(4, 5, 3)
        self.prelu = nn.PReLU()

    def forward(self, a, b):
        return self.prelu(self.bil(a, b))


@register("bilinear_prelu")
def _bilinear_prelu() -> Case:
    """nn.Bilinear (two inputs, 3-D weight) + PReLU (1 param)."""
    return Case(Bilinear(), input_size=[(2, 4), (2, 5)])


class ConditionalBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(6, 6)
        self.branch_a = nn.Linear(6, 2)
        self.branch_b = nn.Linear(6, 2)

    def forward(self, x):
        h = self.shared(x)
        return self.branch_a(h) if h.sum() > -1e9 else self.branch_b(h)


@register("conditional_branch")
def _conditional_branch() -> Case:
    """Data-dependent branch: branch_b never runs on this input."""
    return Case(ConditionalBranch(), input_size=(1, 6))


class EmbBag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, tokens):
        h = self.emb(tokens).transpose(1, 2)
        return self.fc(self.conv(h).amax(-1))


@register("token_conv1d")
def _token_conv1d() -> Case:
    """Token ids -> Embedding -> Conv1d -> max-pool -> Linear (input_data long tensor)."""
    g = torch.Generator().manual_seed(3)
    return Case(EmbBag(), input_data=torch.randint(0, 30, (2, 12), generator=g))



# --------------------------------------------------------------------------- extra edge cases
class TiedPlusRootParam(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(10))   # root-held, 10 params
        self.a = nn.Linear(16, 16)
        self.d = nn.Linear(16, 16)
        self.d.weight = self.a.weight                     # shared with self.a
        self.b = nn.Linear(16, 10)

    def forward(self, x):
        h = self.d(torch.relu(self.a(x)))
        return self.b(h) * self.temperature


@register("shared_weight_plus_root_param")
def _shared_weight_plus_root_param() -> Case:
    """Root-held Parameter + two Linears sharing a weight: root leftover goes negative."""
    return Case(TiedPlusRootParam(), input_size=(2, 16))


class ChildOutside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.head = nn.Linear(8, 8)

    def forward(self, x):
        x = self.head(self.features(x))
        return self.features[0](x)      # child of `features` called again, from the root


@register("child_called_outside_parent")
def _child_called_outside_parent() -> Case:
    """A Sequential's child re-used directly by the root after another layer ran."""
    return Case(ChildOutside(), input_size=(2, 8))


@register("tiny_vit_depth1")
def _tiny_vit_depth1() -> Case:
    """Tiny ViT at depth=1: hidden deeper rows still widen the name column."""
    return Case(TinyViT(), input_size=(1, 3, 16, 16), depth=1)


class ScalarOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(x).pow(2).mean()       # 0-dim output


@register("scalar_output")
def _scalar_output() -> Case:
    """Model returning a 0-dim tensor (root Output Shape '--')."""
    return Case(ScalarOut(), input_size=(3, 4))


class ListOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x):
        a = self.c1(x)
        b = self.c2(a)
        return [b, a]                          # list output, smaller map first


@register("list_output")
def _list_output() -> Case:
    """forward returns a list of feature maps (root Output Shape = first element)."""
    return Case(ListOut(), input_size=(1, 3, 16, 16))


class DictArg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa = nn.Linear(3, 4)
        self.fb = nn.Linear(5, 4)

    def forward(self, batch):
        return self.fa(batch["a"]) + self.fb(batch["b"])


@register("dict_arg_wrapped")
def _dict_arg_wrapped() -> Case:
    """forward takes ONE dict argument: input_data is [dict] (wrapped in a list)."""
    g = torch.Generator().manual_seed(4)
    return Case(DictArg(), input_data=[{"a": torch.rand(2, 3, generator=g), "b": torch.rand(2, 5, generator=g)}])


class RegisteredTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.deep = nn.Sequential(nn.Conv2d(4, 4, 1), self.stem)   # same `stem` object, deeper
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.stem(x))          # deep[0] never runs


@register("module_registered_twice")
def _module_registered_twice() -> Case:
    """One Sequential registered under two parents (depth 1 and depth 2)."""
    return Case(RegisteredTwice(), input_size=(1, 3, 8, 8))


class InterleavedList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 64)])  # [2] unused
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        for blk in self.blocks[:2]:
            x = self.norm(blk(x))       # a depth-1 layer runs between ModuleList members
        return x


@register("modulelist_interleaved")
def _modulelist_interleaved() -> Case:
    """ModuleList members interleaved with a sibling layer; one member never runs."""
    return Case(InterleavedList(), input_size=(2, 8))


# --------------------------------------------------------------------------- issue 23: what rfkit refused
class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


@register("scripted_model")
def _scripted_model() -> Case:
    """torch.jit.script of a module: rows for its tree, shapes "--", no mult-adds."""
    return Case(torch.jit.script(SmallNet()), input_size=(1, 3, 8, 8))


class ScriptedInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Conv2d(3, 3, 1)
        self.inner = torch.jit.script(SmallNet())
        self.post = nn.Linear(2, 2)

    def forward(self, x):
        return self.post(self.inner(self.pre(x)))


@register("scripted_submodule")
def _scripted_submodule() -> Case:
    """An eager model with a scripted submodule (torchinfo 1.8 lists the scripted rows first
    and counts them twice)."""
    return Case(ScriptedInside(), input_size=(1, 3, 8, 8))


@register("lazy_root")
def _lazy_root() -> Case:
    """The model is one nn.LazyLinear: its row is named by the class it becomes."""
    return Case(nn.LazyLinear(3), input_size=(2, 4))


class LazyUnused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.LazyLinear(3)   # never runs: its parameters stay uninitialised

    def forward(self, x):
        return self.a(x)


@register("lazy_never_initialised")
def _lazy_never_initialised() -> Case:
    """A lazy module the forward never runs: its parameters count 0 (torchinfo 1.8 raises)."""
    return Case(LazyUnused(), input_size=(2, 4))


class OnlyDict(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, batch):
        return self.fc(batch["x"]) + self.bias if batch else self.bias * 1


@register("dict_arg_empty")
def _dict_arg_empty() -> Case:
    """forward takes one dict, given empty: no input tensor at all."""
    return Case(OnlyDict(), input_data=[{}])


class TensorAndExtras(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x, extras):
        return self.fc(x) + len(extras)


@register("tensor_and_empty_dict")
def _tensor_and_empty_dict() -> Case:
    """A tensor and an empty dict as the forward's two arguments."""
    return Case(TensorAndExtras(), input_data=[torch.zeros(2, 4), {}])


class DictHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(10, 3)
        self.b = nn.Linear(10, 10)

    def forward(self, h):
        return {"a": self.a(h), "b": self.b(h)}


class DictFromInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 10)
        self.head = DictHead()

    def forward(self, x):
        return self.head(self.enc(x))


@register("dict_output_of_submodule")
def _dict_output_of_submodule() -> Case:
    """A submodule and the model return a dict of tensors (shown: the last value)."""
    return Case(DictFromInside(), input_size=(1, 4))


class Holder:
    """An output object that merely holds a tensor."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class Wrap(nn.Module):
    def forward(self, h):
        return Holder(h)


class HolderOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 10)
        self.wrap = Wrap()

    def forward(self, x):
        return self.wrap(self.fc(x))


@register("object_output")
def _object_output() -> Case:
    """Outputs that are plain objects holding a tensor (torchinfo 1.8 raises TypeError)."""
    return Case(HolderOut(), input_size=(2, 4))


class NormalHead(nn.Module):
    def forward(self, h):
        mu, log_sigma = h.chunk(2, -1)
        return torch.distributions.Normal(mu, log_sigma.exp())


class Gaussian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.head = NormalHead()

    def forward(self, x):
        return self.head(self.fc(x))


@register("distribution_output")
def _distribution_output() -> Case:
    """A torch.distributions.Normal output: the shape of its sample (torchinfo 1.8 raises)."""
    return Case(Gaussian(), input_size=(2, 4))


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return torch.distributions.Categorical(logits=self.fc(x))


@register("categorical_output")
def _categorical_output() -> Case:
    """The model returns a Categorical over 5 classes: a sample is one index per row."""
    return Case(Classifier(), input_size=(2, 4))


@register("single_conv2d_valid")
def _single_conv2d_valid() -> Case:
    """The model is one nn.Conv2d(3, 8, 3): its own row carries its parameters and mult-adds."""
    return Case(nn.Conv2d(3, 8, 3), input_size=(1, 3, 8, 8))

__all__ = ["Case", "MODELS", "torchinfo_kwargs", "torchinfo_label_fixed"]
