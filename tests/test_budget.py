"""Budgets, `rfkit check`, the pytest helpers and plugin, and `rfkit audit`."""
import json
import textwrap

import pytest
import torch.nn as nn
from typer.testing import CliRunner

import rfkit
import zoo
from conftest import seeds_dir
from rfkit.checks import audit as audits
from rfkit.checks import budget as budgets
from rfkit.cli import app
from rfkit.testing import assert_budget, assert_params, assert_rf

runner = CliRunner()
SEEDS = seeds_dir()

WIDE_NET = textwrap.dedent("""
    from zoo import MnistNet_3
    from zoo.s7 import _GapNet

    class WideMnistNet_3(MnistNet_3):
        '''MnistNet_3 with block 2 widened from 12 to 20 channels: it inherits the card, so its budget.'''

        def __init__(self):
            _GapNet.__init__(self, (8, 16, 20, 16, 16), ("BR", "RB"), 0.01)
""")


def test_mnistnet_3_passes_its_documented_budget():
    result = runner.invoke(app, ["check", "zoo.MnistNet_3"])
    assert result.exit_code == 0, result.output
    assert "params" in result.output and "<= 7,000" in result.output and "pass" in result.output


def test_widened_copy_fails_with_exit_1_and_a_hint(tmp_path):
    path = tmp_path / "wide.py"
    path.write_text(WIDE_NET)
    result = runner.invoke(app, ["check", f"{path}:WideMnistNet_3", "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["schema"] == "rfkit.check/1" and data["passed"] is False
    params = data["checks"][0]
    # 6,544 + (8*20*9 - 8*12*9) + (20*16*9 - 12*16*9) + 2*(20 - 12) = 6,544 + 576 + 1,152 + 16
    assert params["name"] == "params" and params["measured"] == "8,288" and params["limit"] == "<= 7,000"
    assert "block2.4" in params["hint"] and "narrow" in params["hint"]


def test_sources_override_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.rfkit.budgets."zoo.MnistNet_3"]\nmax_params = 6000\n')
    assert runner.invoke(app, ["check", "zoo.MnistNet_3"]).exit_code == 1  # pyproject beats the card's 7,000
    (tmp_path / "b.toml").write_text("max_params = 6600\nmin_rf = 28\n")
    assert runner.invoke(app, ["check", "zoo.MnistNet_3", "--budget", "b.toml"]).exit_code == 0
    result = runner.invoke(app, ["check", "zoo.MnistNet_3", "--budget", "b.toml", "--min-rf", "29"])
    assert result.exit_code == 1 and "RF at output" in result.output


def test_budget_file_errors_are_one_line(tmp_path):
    (tmp_path / "bad.toml").write_text("max_parms = 3\n")
    result = runner.invoke(app, ["check", "zoo.MnistNet_3", "--budget", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2 and "unknown budget key(s) max_parms" in result.output
    result = runner.invoke(app, ["check", "torchvision.models.resnet18", "-i", "3,32,32"])
    assert result.exit_code == 2 and "no budget" in result.output


def test_every_check_kind():
    report = rfkit.trace(zoo.create("UltimusNet"), (3, 32, 32))
    checks = {c.name: c for c in budgets.evaluate(report, budgets.Budget(
        max_params=30_000, max_trainable_params=20_000, max_macs=10**8, max_activation_mb=1.0, min_rf=(32, 33),
        min_coverage=0.5, max_overshoot=0, max_depth=30))}
    assert checks["params"].passed and not checks["trainable params"].passed
    assert checks["MACs"].passed and checks["activation memory (training, MiB)"].passed
    assert not checks["RF at output"].passed and checks["RF at output"].limit == ">= 32x33"
    coverage = checks["RF coverage before gap"]  # UltimusNet reaches only 7 of 32 pixels before pooling
    assert not coverage.passed and coverage.measured == "22%, 22%" and "7 of 32" in coverage.hint
    assert checks["RF overshoot (layers)"].passed and checks["depth (conv/linear/attention layers)"].passed


def test_overshoot_counts_layers_seeing_more_than_the_input():
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(8)])
    report = rfkit.trace(model, (1, 8, 8))  # RFs 3, 5, ..., 17: layers 4.. start above 8
    assert [l.name for l in budgets.overshooting(report)] == ["4", "5", "6", "7"]


def test_rf_at_named_layer():
    report = rfkit.trace(zoo.create("MnistNet_2"), (1, 28, 28))
    [check] = budgets.evaluate(report, budgets.Budget(min_rf=20, rf_layer="block2.8"))
    assert not check.passed and check.measured == "18"


def test_assert_params_and_rf_pass():
    assert_params(zoo.MnistNet_2(), equals=7416)
    assert_params(zoo.MnistNet_2(), max=8000)
    assert_rf(zoo.MnistNet_2(), equals=28)
    assert_rf(zoo.MnistNet_2(), min=(18, 18), layer="block2.8")
    assert_rf(nn.Conv2d(1, 1, (3, 5)), equals=(3, 5), input_size=(1, 9, 9))
    assert_budget(zoo.MnistNet_3(), max_params=7000, min_rf=28)


def test_assert_failures_show_value_limit_and_table():
    with pytest.raises(AssertionError) as info:
        assert_params(zoo.MnistNet_1(), max=8000)
    text = str(info.value)
    assert "8,620 params > max 8,000 (over by 620)" in text and "Conv2d: 2-17" in text
    with pytest.raises(AssertionError) as info:
        assert_rf(zoo.MnistNet_2(), min=30)
    text = str(info.value)
    assert "RF at the output is 28 < min 30" in text and "| n_in | k | s | p | n_out |" in text
    with pytest.raises(AssertionError) as info:
        assert_budget(zoo.UltimusNet(), min_coverage=0.5)
    assert "RF coverage before gap: 22%, 22% (limit >= 50%)" in str(info.value)
    with pytest.raises(rfkit.RfkitError, match="input_size"):
        assert_rf(nn.Conv2d(1, 1, 3), equals=3)


class _Tied(nn.Module):
    """A linear layer whose weight is shared with a second one, and a forward that only takes (N, 4):
    nothing here can be traced from a (C, H, W) size, and the shared tensor counts once."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)          # 16 + 4
        self.b = nn.Linear(4, 4, bias=False)
        self.b.weight = self.a.weight     # shared: counted once
        self.c = nn.Linear(4, 2)          # 8 + 2
        self.c.requires_grad_(False)

    def forward(self, x):
        raise AssertionError("counting parameters must not run the model")


def test_params_need_no_input_size_and_no_forward():
    assert budgets.count_params(_Tied())[:2] == (30, 20)
    assert_params(_Tied(), equals=30)
    assert_params(_Tied(), max=30)
    with pytest.raises(AssertionError) as info:
        assert_params(_Tied(), max=29)
    assert "_Tied: 30 params > max 29 (over by 1)" in str(info.value) and "a " in str(info.value)
    assert_budget(_Tied(), max_params=30, max_trainable_params=20)
    with pytest.raises(AssertionError, match="trainable params: 20 \\(limit <= 19\\)"):
        assert_budget(_Tied(), max_trainable_params=19)
    with pytest.raises(rfkit.RfkitError, match="input_size"):
        assert_budget(_Tied(), max_params=30, min_rf=3)  # an RF limit does need a trace


def test_check_params_only_needs_no_input_size():
    ok = runner.invoke(app, ["check", "torchvision.models.resnet18", "--max-params", "12000000"])
    assert ok.exit_code == 0, ok.output
    assert "11,689,512" in ok.output and "pass" in ok.output
    over = runner.invoke(app, ["check", "torchvision.models.resnet18", "--max-params", "11000000", "-f", "json"])
    assert over.exit_code == 1
    check = json.loads(over.output)["checks"][0]
    assert check["measured"] == "11,689,512" and check["hint"].startswith("largest: layer4.0.conv2 (2,359,296, 20%)")  # 512*512*3*3
    need = runner.invoke(app, ["check", "torchvision.models.resnet18", "--max-params", "1", "--min-rf", "3"])
    assert need.exit_code == 2 and "--input-size" in need.output


def test_plugin_renders_reports_in_assertion_failures(pytester):
    pytester.makepyfile(textwrap.dedent("""
        import zoo

        def test_fixture_and_failure(rf_trace):
            report = rf_trace(zoo.MnistNet_3())
            assert report.params == 6544
            assert report.rf == (30, 30)
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-vv")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "(RF of MnistNet_3)" in out
    assert "| 6 | 6 | 6 | 0 | 1 | 18 | 2 | 28 | 12 |" in out
    assert "Total params: 6,544" in out


EXPECTED_ERRATA = [
    ("MnistNet_1", "architecture", 4, "22x22x16 | 1x1x16x16 | 22", "22x22x16 | 1x1x16x8 | 22"),
    ("MnistNet_1", "architecture", 9, "7x7x16 | 1x1x16x10 | 5", "5x5x16 | 1x1x16x10 | 5"),
    ("MnistNet_1", "rf", 9, "-", "5 | 1 | 1 | 0 | 5 | 20 | 2 | 20 | 2"),
    ("MnistNet_2", "summary", 0, "MnistNet_4", "MnistNet_2"),
]


def test_audit_of_the_zoo_finds_exactly_the_seed_errata():
    found = []
    for name in zoo.names():
        report = rfkit.trace(zoo.create(name), zoo.card(name).input_size)
        report.model_name = name
        found += [(name, d.table, d.row, d.documented, d.traced)
                  for d in audits.audit(zoo.card(name).documented, report)]
    assert found == EXPECTED_ERRATA


@pytest.mark.parametrize("name", zoo.names())
def test_audit_of_the_seed_readmes(name):
    path = SEEDS / zoo.card(name).seed
    if not path.is_file():
        pytest.skip(f"seed not found: {path}")
    args = ["audit", f"zoo.{name}", "--doc", str(path), "--format", "json"]
    result = runner.invoke(app, args)
    found = [(name, d["table"], d["row"], d["documented"], d["traced"])
             for d in json.loads(result.output)["discrepancies"]]
    assert found == [e for e in EXPECTED_ERRATA if e[0] == name]
    assert result.exit_code == (1 if found else 0)


def test_audit_needs_a_doc_for_non_zoo_models():
    result = runner.invoke(app, ["audit", "torchvision.models.resnet18", "-i", "3,32,32"])
    assert result.exit_code == 2 and "--doc" in result.output


def test_zoo_lists_budget_status():
    out = runner.invoke(app, ["zoo"]).output
    assert "pass (params <= 7,000)" in out and "pass (params <= 8,000)" in out
