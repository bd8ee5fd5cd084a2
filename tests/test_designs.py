"""The networks `rfkit design` found (benchmarks/designs/), pinned as a user pins their own design:
parameters and RF with rfkit.testing, and `rfkit check` / `rfkit audit` passing on each with the
project's budget (`[tool.rfkit.budgets]` in pyproject.toml) and the README's tables."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rfkit.testing import assert_budget, assert_params, assert_rf

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = ROOT / "benchmarks" / "designs"


def design(name: str):
    spec = importlib.util.spec_from_file_location(name, DESIGNS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


@pytest.mark.parametrize("name, params, last_conv, rf_before_gap", [
    ("mnist6000_trial661", 5_160, "block2.12", 20),
    ("mnist6000_trial105", 5_528, "block2.8", 18),
    ("mnist6000_trial104", 5_672, "block2.8", 18),
])
def test_a_design_is_pinned_below_the_hand_design(name, params, last_conv, rf_before_gap):
    net = design(name)
    assert_params(net, equals=params, max=6_543)  # MnistNet_3 has 6,544
    assert_rf(net, equals=28, input_size=(1, 28, 28))
    assert_rf(net, equals=rf_before_gap, layer=last_conv, input_size=(1, 28, 28))
    assert_budget(net, input_size=(1, 28, 28), max_params=6_000, min_rf=28)


def rfkit(*args):
    return subprocess.run([sys.executable, "-m", "rfkit", *args], capture_output=True, text=True, cwd=ROOT)


def audit(spec: str, doc: str, section: str) -> list:
    """The discrepancies `rfkit audit` finds between the section's tables and the network."""
    run = rfkit("audit", spec, "--doc", doc, "--section", section, "--format", "json")
    assert run.returncode in (0, 1), run.stderr
    found = json.loads(run.stdout)["discrepancies"]
    assert run.returncode == (1 if found else 0)
    return found


@pytest.mark.parametrize("name", sorted(p.stem for p in DESIGNS.glob("*.py")))
def test_check_and_audit_pass_on_each_design(name):
    """`rfkit check` with the pyproject budget; `rfkit audit` of docs/design.md's section for it."""
    spec = f"benchmarks/designs/{name}.py:Net"
    check = rfkit("check", spec, "--format", "json")  # the limits: pyproject.toml's budget for SPEC
    assert check.returncode == 0, check.stdout + check.stderr
    limits = {c["name"]: c["limit"] for c in json.loads(check.stdout)["checks"]}
    assert limits == {"params": "<= 6,000", "RF at output": ">= 28"}
    assert audit(spec, "docs/design.md", name) == []
    assert audit("zoo.MnistNet_3", "docs/design.md", name)  # the section holds tables, and they are this design's


@pytest.mark.parametrize("spec, section", [("benchmarks/designs/mnist6000_trial105.py:Net", "mnist6000_trial105"),
                                           ("zoo.MnistNet_3", "MnistNet_3")])
def test_the_readme_shows_the_design_beside_the_hand_design_as_they_are(spec, section):
    assert audit(spec, "README.md", section) == []
    other = "zoo.MnistNet_3" if spec.endswith(":Net") else "benchmarks/designs/mnist6000_trial105.py:Net"
    assert audit(other, "README.md", section)  # each section holds its own network's tables, not the other's
