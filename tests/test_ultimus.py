"""UltimusNet's readings of "AM = SoftMax(QᵀK)/(8^0.5); Z = V·AM" (zoo/s9.py, docs/zoo.md): each
formula against a hand computation, which readings mix the batch, and that every setting keeps
the seed's parameters and summary rows."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import rfkit
import zoo
from test_zoo import torchsummary_rows
from zoo.s9 import READINGS

SETTINGS = list(itertools.product(READINGS, (False, True), ("gap", "fc")))


def softmax_rows(m):
    """Row softmax by hand: exp, then divide by the row sum."""
    e = [[math.exp(v) for v in row] for row in m]
    return [[v / sum(row) for v in row] for row in e]


def matmul(a, b):
    return [[sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def transpose(a):
    return [list(col) for col in zip(*a)]


def by_hand(block, x, attention):
    """The block's output for the batch x (B x 48), from lists of floats."""
    X = x.tolist()
    Q, K, V = (matmul(X, transpose(lin.weight.tolist())) for lin in (block.Q, block.K, block.V))
    r8 = math.sqrt(8)
    if attention == "batch_tokens":  # A = softmax(Q Kᵀ / √8), B x B; Z = A V
        A = softmax_rows([[v / r8 for v in row] for row in matmul(Q, transpose(K))])
        Z = matmul(A, V)
    elif attention == "batch":  # A = softmax(Qᵀ K / √8), 8 x 8 over the batch; Z = V A
        A = softmax_rows([[v / r8 for v in row] for row in matmul(transpose(Q), K)])
        Z = matmul(V, A)
    else:  # per sample: A_b = softmax(q_bᵀ k_b / √8) or softmax(q_bᵀ k_b) / √8; z_b = A_b v_b
        Z = []
        for q, k, v in zip(Q, K, V):
            outer = [[qi * kj for kj in k] for qi in q]
            if attention == "literal":
                A = [[a / r8 for a in row] for row in softmax_rows(outer)]
            else:
                A = softmax_rows([[a / r8 for a in row] for row in outer])
            Z.append([row[0] for row in matmul(A, [[vi] for vi in v])])
    W, bias = block.Out.weight.tolist(), block.Out.bias.tolist()
    return torch.tensor([[sum(z[j] * W[o][j] for j in range(8)) + bias[o] for o in range(48)] for z in Z],
                        dtype=torch.float64)


@pytest.mark.parametrize("attention", READINGS)
def test_block_formula_by_hand(attention):
    torch.manual_seed(0)
    block = zoo.UltimusBlock(attention=attention).double()
    x = torch.randn(5, 48, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(block(x), by_hand(block, x, attention), atol=1e-12)


def test_literal_divides_after_the_softmax():
    """literal's rows sum to 1/√8, so its output is per_sample's only when attention is uniform."""
    torch.manual_seed(0)
    literal = zoo.UltimusBlock(attention="literal").double()
    per_sample = zoo.UltimusBlock(attention="per_sample").double()
    per_sample.load_state_dict(literal.state_dict())
    x = torch.randn(3, 48, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(literal(x), per_sample(x))
        for block in (literal, per_sample):
            block.Q.weight.zero_()  # scores 0: uniform rows
        v = literal.V(x)
        assert torch.allclose(literal(x), literal.Out(v.mean(1, keepdim=True).expand(3, 8) / 8 ** 0.5))
        assert torch.allclose(per_sample(x), per_sample.Out(v.mean(1, keepdim=True).expand(3, 8)))


@pytest.mark.parametrize("attention", READINGS)
def test_batch_dependence(attention):
    """batch and batch_tokens mix the batch: a sample's output moves when its neighbours change."""
    torch.manual_seed(0)
    model = zoo.UltimusNet(attention=attention, logits="fc").eval()
    x = torch.randn(4, 3, 32, 32)
    alone = model(x[:1])
    with_others = model(torch.cat([x[:1], torch.randn(7, 3, 32, 32) * 5]))
    independent = torch.allclose(alone, with_others[:1], atol=1e-5)
    assert independent == (attention in ("per_sample", "literal"))


@pytest.mark.parametrize("attention", READINGS)
def test_gap_logits_ignore_the_blocks(attention):
    """logits="gap" (the seed's code when its run was made): the output is the pooled features,
    per sample, and neither the blocks nor the classifier get a gradient."""
    torch.manual_seed(0)
    model = zoo.UltimusNet(attention=attention)
    x = torch.randn(6, 3, 32, 32)
    out = model(x)
    assert out.shape == (6, 48)
    stem = F.avg_pool2d(model.conv3(model.conv2(model.conv1(x))), 26).flatten(1)
    assert torch.allclose(out, stem)
    assert torch.allclose(model(x[:1]), out[:1], atol=1e-6)
    F.cross_entropy(out, torch.arange(6)).backward()
    trained = {name for name, p in model.named_parameters() if p.grad is not None}
    assert trained == {f"conv{i}.{t}" for i in (1, 2, 3) for t in ("weight", "bias")}


def test_without_relu_the_stem_is_affine():
    torch.manual_seed(0)
    a, b = torch.randn(2, 1, 3, 32, 32, dtype=torch.float64)
    plain = zoo.UltimusNet().double()
    assert torch.allclose(plain((a + b) / 2), (plain(a) + plain(b)) / 2)
    relu = zoo.UltimusNet(relu=True).double()
    assert not torch.allclose(relu((a + b) / 2), (relu(a) + relu(b)) / 2)


@pytest.mark.parametrize("attention,relu,logits", SETTINGS)
def test_every_setting_keeps_the_seed_table(attention, relu, logits):
    card = zoo.card("UltimusNet")
    model = zoo.UltimusNet(attention=attention, relu=relu, logits=logits)
    assert sum(p.numel() for p in model.parameters()) == card.documented.params
    want = [(r.layer, r.shape, r.params) for r in card.documented.summary_rows]
    assert torchsummary_rows(model, card.input_size) == want


@pytest.mark.parametrize("attention", READINGS)
def test_rfkit_traces_every_reading(attention):
    """Traced at batch 1, every reading has the same RF: 7 before the pool, the whole image after;
    mixing across the batch is not a spatial dependence, so no RF table can show it."""
    report = rfkit.trace(zoo.UltimusNet(attention=attention, logits="fc"), (3, 32, 32))
    assert report.rf == (32, 32) and report.rf_before_global == (7, 7)
    assert report.params == 25_786


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="batch_tokens"):
        zoo.UltimusNet(attention="heads")
    with pytest.raises(ValueError, match="gap"):
        zoo.UltimusNet(logits="softmax")


def test_misclassified_grid_names_predictions_beyond_the_classes(tmp_path):
    """The default UltimusNet predicts among 48 outputs on a 10-class set: the figure drawn at the
    end of training must not fail on index 37."""
    from rfkit.train import plots

    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    plots.misclassified_grid(images, [0, 1], [37, 2], [str(i) for i in range(10)], tmp_path / "m.png", "t")
    assert (tmp_path / "m.png").stat().st_size > 0
