"""rfkit design: the space holds the documented networks, the trace decides constraints before
training, pruning stops a trial, exports rebuild the network, a study resumes after kill -9, and
worker processes share one study. Trials train on the synthetic MNIST (conftest.mnist_dir)."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

import rfkit
import zoo
from rfkit.errors import RfkitError
from rfkit.loading import load
from rfkit.output import render
from rfkit.search import space as spaces
from rfkit.search import study as studies
from rfkit.train import session

HERE = Path(__file__).resolve().parent
TINY = f"{HERE / 'design_spaces.py'}:tiny"
RF_COLUMNS = ("rule", "axis", "k", "s", "p", "d", "n_in", "n_out", "r_in", "j_in", "r_out", "j_out", "start")


def rf_rows(model):
    """The RF table's numbers, without layer names and kinds (the space names its blocks its own way)."""
    lines = render.rf_csv(rfkit.trace(model, (1, 28, 28), device="meta")).splitlines()
    header = lines[0].split(",")
    return [tuple(row[header.index(c)] for c in RF_COLUMNS) for row in (line.split(",") for line in lines[1:])]


@pytest.mark.parametrize("name", sorted(spaces.POINTS))
def test_the_space_holds_each_documented_network(name):
    trial = optuna.trial.FixedTrial(spaces.POINTS[name])
    built, documented = spaces.mnist(trial), zoo.create(name)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in documented.parameters()) \
        == zoo.card(name).documented.params
    assert rf_rows(built) == rf_rows(documented)
    assert len(rf_rows(built)) >= 14


def test_a_documented_point_carries_the_documented_recipe():
    built = spaces.mnist(optuna.trial.FixedTrial(spaces.POINTS["MnistNet_3"]))
    recipe = zoo.card("MnistNet_3").recipe
    assert built.recipe.optimizer_kwargs == recipe.optimizer_kwargs
    assert built.recipe.schedule == recipe.schedule
    assert built.recipe.train_transforms == recipe.train_transforms


def design(tmp_path, mnist_dir, **options):
    defaults = dict(epochs=2, trials=3, out=tmp_path / "out", data_dir=mnist_dir, val=64, progress=False)
    return rfkit.design(options.pop("space", TINY), **{**defaults, **options})


def test_infeasible_candidates_never_reach_the_trainer(tmp_path, mnist_dir, monkeypatch):
    trained = []
    monkeypatch.setattr(session, "run", lambda *a, **k: trained.append(a) or pytest.fail("trained"))
    with pytest.raises(RfkitError, match=r"no candidate of 4 sampled meets the constraints: fewest params "
                                         r"[\d,]+ \(trial \d; --max-params 100\)"):
        design(tmp_path, mnist_dir, max_params=100, trials=4)
    saved = json.loads((tmp_path / "out" / "design.json").read_text())
    assert trained == []
    assert [t["state"] for t in saved["trials"]] == ["infeasible"] * 4
    for t in saved["trials"]:
        built = spaces.resolve_space(TINY)[0](optuna.trial.FixedTrial(t["hyperparams"]))
        assert t["params"] == sum(p.numel() for p in built.parameters()) > 100
        assert t["reason"] == f"params {t['params']:,} (limit <= 100)"
        assert t["val_acc"] == [] and t["seconds"] < 5
    with sqlite3.connect(tmp_path / "out" / "study.db") as conn:  # left out of the sampler's model
        assert [state for (state,) in conn.execute("select state from trials order by number")] == ["FAIL"] * 4


def test_rf_constraint_is_the_trace_s(tmp_path, mnist_dir):
    result = design(tmp_path, mnist_dir, min_rf=20, trials=4, epochs=1)
    for t in result.trials:
        built = spaces.resolve_space(TINY)[0](optuna.trial.FixedTrial(t["hyperparams"]))
        rf = rfkit.trace(built, (1, 28, 28)).rf
        assert t["rf"] == list(rf)
        assert (t["state"] == "infeasible") == (min(rf) < 20)


def test_a_pruned_trial_stops_training(tmp_path, mnist_dir):
    settings = studies.Settings(space=TINY, dataset="mnist", constraints={}, trials=1, epochs=5,
                                storage="sqlite://", study="p", out=str(tmp_path), data_dir=str(mnist_dir), val=64)
    from rfkit.train import data

    splits = (data.load_split("mnist", mnist_dir, True), data.load_split("mnist", mnist_dir, False))
    objective = studies.Objective(settings, splits, spaces.resolve_space(TINY)[0], None)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=101.0))
    study.optimize(objective, n_trials=1, catch=())
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert len(trial.user_attrs["val_acc"]) == 1
    assert len(json.loads((tmp_path / "trials" / "0" / "metrics.json").read_text())) == 1


def test_no_trial_is_pruned_before_a_fifth_of_its_epochs():
    assert [studies.first_rung(e) for e in (1, 2, 5, 10, 15, 30)] == [1, 1, 1, 2, 3, 6]


def test_the_objective_is_validation_accuracy_and_test_is_measured_beside_it(tmp_path, mnist_dir):
    result = design(tmp_path, mnist_dir, trials=2, epochs=2)
    for t in result.trials:
        assert t["state"] in ("complete", "pruned")
        metrics = json.loads((tmp_path / "out" / "trials" / str(t["number"]) / "metrics.json").read_text())
        assert [m["val_acc"] for m in metrics] == t["val_acc"]
        assert [m["test_acc"] for m in metrics] == t["test_acc"]
        assert all(abs(v * 64 / 100 - round(v * 64 / 100)) < 1e-6 for v in t["val_acc"])  # 64 images held out
        assert all(abs(v - round(v)) < 1e-6 for v in t["test_acc"])  # 100 test images


def test_the_export_rebuilds_the_trained_network(tmp_path, mnist_dir):
    optuna_trial = optuna.trial.FixedTrial({**spaces.POINTS["MnistNet_3"], "s2_w1": 8})
    optuna_trial.set_user_attr("dataset", "mnist")
    built = spaces.mnist(optuna_trial)
    settings = studies.Settings(space="mnist", dataset="mnist", constraints={}, trials=1, epochs=15,
                                storage="sqlite://", study="s", out=str(tmp_path))

    class Frozen:
        params = optuna_trial.params

    record = {"number": 7, "params": 6256, "macs": 1, "rf": [28, 28], "best_acc": 99.0, "test_acc": [98.9]}
    path = tmp_path / "trial_7.py"
    from rfkit.search import export

    path.write_text(export.export_source(settings, Frozen, record))
    loaded = load(f"{path}:Net")
    assert loaded.input_size == (1, 28, 28) and loaded.dataset == "mnist"
    assert sum(p.numel() for p in loaded.model.parameters()) == sum(p.numel() for p in built.parameters())
    assert rf_rows(loaded.model) == rf_rows(built)
    assert list(loaded.model.state_dict()) == list(built.state_dict())
    torch.manual_seed(3)
    a = type(built)(built.arch)
    torch.manual_seed(3)
    b = load(f"{path}:Net").model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    config = session.configure(f"{path}:Net", loaded.name, None, recipe=loaded.recipe, default_dataset=loaded.dataset,
                               device="cpu")
    assert config.epochs == 15 and config.optimizer_kwargs == {"lr": 0.05, "momentum": 0.9}
    assert config.schedule == {"name": "StepLR", "kwargs": {"step_size": 4, "gamma": 0.35}, "per": "epoch"}
    assert config.train_transforms == list(zoo.card("MnistNet_3").recipe.train_transforms)


def cli(*args, cwd=None, timeout=300):
    env = {**os.environ, "RFKIT_DATA": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "rfkit", "design", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def test_design_smoke_cli_writes_the_documented_files(tmp_path, mnist_dir):
    out = tmp_path / "d"
    run = cli("mnist", "--max-params", 15000, "--min-rf", 28, "--trials", 6, "--epochs", 1, "--val", 64, "--data-dir",
              mnist_dir, "--out", out, "--study", "smoke")
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "design.json").read_text())
    assert data["schema"] == "rfkit.design/1" and data["study"] == "smoke" and data["space"] == "mnist"
    assert data["constraints"] == {"max_params": 15000, "min_rf": 28} and data["epochs"] == 1
    assert {t["state"] for t in data["trials"]} >= {"infeasible", "complete"}
    assert [t["number"] for t in data["trials"]] == list(range(6))
    assert {t["state"] for t in data["trials"]} <= {"complete", "pruned", "infeasible", "failed"}
    for t in data["trials"]:
        assert f"trial {t['number']:>3}  {t['state']}" in run.stdout
        if t["state"] == "infeasible":
            assert t["reason"] and not t["val_acc"]
        if t["check_seconds"] is not None:  # a rejection's cost: the sampler's and the trace's, apart
            assert 0 < t["sample_seconds"] and 0 < t["check_seconds"]
            assert t["seconds"] == pytest.approx(t["sample_seconds"] + t["check_seconds"]) or t["val_acc"]
        if t["val_acc"]:  # each epoch timed from its own start: its training loop is part of it
            assert len(t["epoch_seconds"]) == len(t["train_seconds"]) == len(t["val_acc"])
            assert all(0 < train < epoch for train, epoch in zip(t["train_seconds"], t["epoch_seconds"]))
            assert sum(t["epoch_seconds"]) < t["seconds"]
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("number,state,params,macs,rf")
    assert (out / "front.png").read_bytes()[:4] == b"\x89PNG"
    for number in data["front"]:
        t = data["trials"][number]
        assert t["state"] == "complete" and (out / t["file"]).is_file()
        table = subprocess.run([sys.executable, "-m", "rfkit", "table", f"{out / t['file']}:Net", "-f", "json"],
                               capture_output=True, text=True)
        assert json.loads(table.stdout)["output"]["rf"] == t["rf"]


def test_rerunning_completes_the_study_to_its_total(tmp_path, mnist_dir):
    first = design(tmp_path, mnist_dir, trials=2, epochs=1)
    again = design(tmp_path, mnist_dir, trials=4, epochs=1)
    assert [t["number"] for t in first.trials] == [0, 1]
    assert [t["number"] for t in again.trials] == [0, 1, 2, 3]
    assert again.trials[:2] == [{**t, "file": again.trials[i]["file"]} for i, t in enumerate(first.trials)]
    assert len(design(tmp_path, mnist_dir, trials=4, epochs=1).trials) == 4  # a full study trains nothing more
    html = again._repr_html_()
    assert "<table" in html and "<img" in html and f"{again.best['params']:,}" in html
    assert f"{again.best['params']:,}" in str(again) and "complete" in str(again)


def test_start_points_are_tried_first_and_queued_once(tmp_path, mnist_dir):
    points = tmp_path / "points.json"
    points.write_text(json.dumps([{"w1": 4}, {"w1": 8, "w2": 8}]))
    start = [{"w1": 6, "w2": 16}, str(points)]
    first = design(tmp_path, mnist_dir, trials=3, epochs=1, start=start)
    assert [t["start"] for t in first.trials] == ["given", "points.json[0]", "points.json[1]"]
    assert first.trials[0]["hyperparams"] == {"w1": 6, "w2": 16}
    assert first.trials[1]["hyperparams"]["w1"] == 4 and first.trials[1]["hyperparams"]["w2"] in (8, 12, 16)
    assert first.trials[2]["hyperparams"] == {"w1": 8, "w2": 8}
    again = design(tmp_path, mnist_dir, trials=5, epochs=1, start=start)  # resumed: the points are not queued again
    assert [t["start"] for t in again.trials] == ["given", "points.json[0]", "points.json[1]", None, None]


def test_a_documented_start_point_over_the_budget_is_rejected_by_the_trace(tmp_path, mnist_dir):
    with pytest.raises(RfkitError, match=r"fewest params 6,544 \(trial 0; --max-params 6,000\)"):
        design(tmp_path, mnist_dir, space="mnist", trials=1, epochs=1, max_params=6000, start=["MnistNet_3"])
    (trial,) = json.loads((tmp_path / "out" / "design.json").read_text())["trials"]
    assert (trial["start"], trial["state"], trial["params"]) == ("MnistNet_3", "infeasible", 6544)
    assert trial["hyperparams"] == spaces.POINTS["MnistNet_3"]


@pytest.mark.parametrize("start, message", [
    ("NoSuchNet", "--start 'NoSuchNet': give a documented network (MnistNet_1"),
    ("missing.json", "--start missing.json: no such file or directory"),
    ("bad.json", "--start bad.json: not JSON (Expecting property name"),
    ("list.json", "--start list.json[0]: a point is an object of parameter names to values"),
])
def test_a_bad_start_point_is_one_line_exit_2_and_writes_nothing(tmp_path, start, message):
    (tmp_path / "bad.json").write_text("{w1: 4")
    (tmp_path / "list.json").write_text("[[4, 8]]")
    run = cli("mnist", "--start", start, "--out", tmp_path / "o", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "o").exists()


def test_a_documented_start_point_belongs_to_the_built_in_space(tmp_path, mnist_dir):
    with pytest.raises(RfkitError, match="--start MnistNet_3: a point of the built-in mnist space"):
        design(tmp_path, mnist_dir, start=["MnistNet_3"])
    assert not (tmp_path / "out").exists()


def test_rfkit_runs_reads_a_design_directory(tmp_path, mnist_dir):
    result = design(tmp_path, mnist_dir, trials=2, epochs=1)
    rows = rfkit.runs([tmp_path / "out"])
    trained = [t for t in result.trials if t["val_acc"]]
    assert [Path(r.run_dir).name for r in rows] == [str(t["number"]) for t in trained]
    assert [(r.params, r.macs, list(r.rf)) for r in rows] == [(t["params"], t["macs"], t["rf"]) for t in trained]
    assert [r.best_test_acc for r in rows] == [max(t["test_acc"]) for t in trained]


def _running(db: Path) -> bool:
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return bool(conn.execute("select count(*) from trials where state = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:
        return False


def test_resume_after_kill_9_in_the_middle_of_a_trial(tmp_path, mnist_dir):
    out = tmp_path / "k"
    args = (f"{HERE / 'design_spaces.py'}:slow", "--trials", 3, "--epochs", 3, "--val", 64, "--data-dir", mnist_dir,
            "--out", out)
    proc = subprocess.Popen([sys.executable, "-m", "rfkit", "design", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not _running(out / "study.db") and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # into the trial: each of its forwards sleeps 0.2 s
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = cli(*args)
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "design.json").read_text())
    states = [t["state"] for t in data["trials"]]
    assert states[0] == "failed" and data["trials"][0]["reason"] == "its worker was killed mid-trial"
    assert len(states) == 3 and states[1:] == [s for s in states[1:] if s in ("complete", "pruned")]


def test_two_worker_processes_share_one_sqlite_study(tmp_path, mnist_dir):
    out = tmp_path / "w"
    run = cli(TINY, "--trials", 6, "--epochs", 1, "--val", 64, "--data-dir", mnist_dir, "--out", out, "--workers", 2)
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "design.json").read_text())
    numbers = [t["number"] for t in data["trials"]]
    assert numbers == list(range(len(numbers))) and 6 <= len(numbers) <= 7  # two finishing at once: one extra
    with sqlite3.connect(out / "study.db") as conn:
        pids = {v for (v,) in conn.execute("select value_json from trial_user_attributes where key = 'worker'")}
    assert len(pids) == 2  # both processes ran trials


def test_workers_leave_with_their_killed_parent(tmp_path, mnist_dir):
    """kill -9 of `rfkit design --workers 2`: its workers stop (no orphan trains on), and the next run
    fails their running trials and completes the study."""
    out = tmp_path / "p"
    args = (f"{HERE / 'design_spaces.py'}:slow", "--trials", 4, "--epochs", 3, "--val", 64, "--data-dir", mnist_dir,
            "--out", out, "--workers", 2)
    proc = subprocess.Popen([sys.executable, "-m", "rfkit", "design", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline, workers = time.time() + 120, set()
    while (len(workers) < 2 or not _running(out / "study.db")) and time.time() < deadline:
        time.sleep(0.1)
        workers = _workers(out / "study.db")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while any(_exists(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert workers and not any(_exists(pid) for pid in workers)
    run = cli(*args)
    assert run.returncode == 0, run.stderr
    states = [t["state"] for t in json.loads((out / "design.json").read_text())["trials"]]
    assert states[:2] == ["failed", "failed"]  # the two trials running at the kill
    assert len(states) >= 4 and all(s in ("complete", "pruned") for s in states[2:])


def _workers(db: Path) -> set[int]:
    """The pids of the worker processes that announced themselves to the study."""
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            keys = conn.execute("select key from study_user_attributes where key like 'worker %'").fetchall()
    except sqlite3.Error:
        return set()
    return {int(key.rpartition(":")[2]) for (key,) in keys}


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").is_file() or Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("args, message", [
    (["nosuchspace"], "unknown space 'nosuchspace'"),
    (["mnist", "--trials", "0"], "--trials 0: needs a positive integer"),
    (["mnist", "--storage", "notaurl"], "--storage 'notaurl' is not a database URL"),
    (["mnist", "--storage", "nosuchdb://x/y"], "--storage nosuchdb://x/y:"),
    (["mnist", "--dataset", "cifar10"], "the mnist space builds networks for 1x28x28 inputs"),
    (["mnist", "--max-params", "-1"], "--max-params -1 needs a whole number >= 0"),
    (["mnist", "--epochs", "0"], "--epochs 0: needs a positive integer"),
    (["mnist", "--storage", "sqlite:////no/such/folder/x.db"], "the folder /no/such/folder does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    run = cli(*args, "--out", tmp_path / "o", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "o").exists()


def test_a_val_split_as_large_as_the_training_set_is_refused_before_any_trial(tmp_path, mnist_dir):
    run = cli("mnist", "--val", 320, "--data-dir", mnist_dir, "--out", tmp_path / "o")
    assert run.returncode == 2 and run.stderr.strip() == "error: --val 320: the training set has 320 images; hold out fewer"
    assert not (tmp_path / "o").exists()


def test_an_out_of_another_study_is_refused(tmp_path, mnist_dir):
    design(tmp_path, mnist_dir, trials=1, epochs=1, study="first")
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    run = cli(TINY, "--study", "second", "--out", tmp_path / "out", "--data-dir", mnist_dir)
    assert run.returncode == 2 and "holds study 'first', not 'second'" in run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before


def test_a_study_redefined_is_refused(tmp_path, mnist_dir):
    design(tmp_path, mnist_dir, trials=1, epochs=1)
    with pytest.raises(RfkitError, match=r"was defined with epochs 1 \(now 2\)"):
        design(tmp_path, mnist_dir, trials=2, epochs=2)


@pytest.mark.parametrize("space, reason", [("raises", "the space raised ValueError: this space is broken"),
                                           ("returns_none", "the space returned NoneType, not an nn.Module")])
def test_a_broken_space_fails_its_trials_and_the_study_goes_on(tmp_path, mnist_dir, space, reason):
    result = design(tmp_path, mnist_dir, space=f"{HERE / 'design_spaces.py'}:{space}", trials=2, epochs=1)
    assert [(t["state"], t["reason"]) for t in result.trials] == [("failed", reason)] * 2


def test_the_front_is_pareto_optimal():
    def t(n, params, acc, state="complete"):
        return {"number": n, "state": state, "params": params, "macs": params * 10, "best_acc": acc}

    records = [t(0, 100, 90.0), t(1, 200, 95.0), t(2, 150, 89.0), t(3, 300, 95.0), t(4, 50, 99.0, "pruned"),
               t(5, 400, 97.0), t(6, 100, 90.0)]
    assert studies.pareto_front(records, with_macs=False) == [0, 1, 5, 6]
