"""The measured results the README reports: every row comes from a run file in benchmarks/results/,
and every run file has what benchmarks/reproduce.py documents."""
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

import zoo
from rfkit.loading import load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUN_KEYS = {"seed", "epochs_run", "test_acc", "train_acc", "lr", "best", "best_epoch", "final", "target_met_epoch",
            "seconds_per_epoch", "date", "device", "loader"}
FILES = sorted(p for p in RESULTS.glob("*.json") if p.stem in zoo.names())
KEPT = sorted(p for p in RESULTS.glob("*/*.json") if p.stem in zoo.names())  # earlier runs the docs cite


def _benchmark(name: str):
    """A script of benchmarks/ as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_and_docs_tables_are_the_ones_the_run_files_make():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    zoo_doc = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    short, full = _benchmark("zoo_results").table(FILES), _benchmark("zoo_results").table(FILES, full=True)
    assert len(short.splitlines()) == len(full.splitlines()) == 2 + len(FILES) >= 8
    assert short in readme and full in zoo_doc


@pytest.mark.parametrize("path", FILES + KEPT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_run_file_is_complete_and_its_summaries_follow_from_its_epochs(path):
    doc = json.loads(path.read_text())
    card = zoo.card(doc["network"])
    assert doc["network"] == path.stem and doc["epochs"] == card.recipe.epochs
    for run in doc["runs"]:
        assert RUN_KEYS <= set(run)
        test = run["test_acc"]
        assert len(test) == len(run["train_acc"]) == len(run["lr"]) == run["epochs_run"] == doc["epochs"]
        assert run["best"] == max(test) and test[run["best_epoch"] - 1] == run["best"] and run["final"] == test[-1]
        target = card.targets
        if target.min_test_acc is not None:
            met = next((e for e, acc in enumerate(test[:target.within_epochs], 1) if acc >= target.min_test_acc), None)
            assert run["target_met_epoch"] == met
    if len(doc["runs"]) > 1:
        assert statistics.stdev(r["best"] for r in doc["runs"]) < 0.5


def test_the_designed_by_rfkit_tables_are_the_ones_the_files_make():
    results = _benchmark("design_results")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    design_doc = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    comparison = results.comparison()
    assert len(comparison.splitlines()) == 2 + len(results.designs()) + 1 >= 4
    assert comparison in readme and results.cost() in readme
    assert results.tables("zoo.MnistNet_3") in readme
    for path in results.designs():
        assert results.tables(f"{path}:Net") in design_doc
        doc = json.loads((RESULTS / f"{path.stem}.json").read_text())
        model = load(f"{path}:Net").model
        assert doc["params"] == sum(p.numel() for p in model.parameters())
        assert [r["seed"] for r in doc["runs"]] == [1, 2, 3] and doc["file"] == f"benchmarks/designs/{path.name}:Net"
        assert all(r["epochs_run"] == doc["epochs"] == 15 and r["best"] == max(r["test_acc"]) for r in doc["runs"])
