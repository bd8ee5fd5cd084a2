"""`rfkit design`: one orchestration path, as Optuna's own `_optimize` has one.

`design()` checks every input before anything is written, opens (or resumes) the
study once, safely, then runs workers: itself, or N processes on one machine,
each also startable on other machines against the same storage. Each trial:

1. the space builds a candidate (seeded: the export rebuilds the same weights);
2. the exact trace on the meta device gives its parameters, MACs and RF; one that
   breaks a constraint is recorded with its numbers and reason and costs no
   training (state "infeasible");
3. a feasible one trains through `rfkit.train.session.run`, the same path as
   `rfkit train`, on data read once per worker, selecting on a validation split
   held out of the training set; each epoch's validation accuracy goes to the
   pruner, which may stop it (state "pruned").

What the study holds is then read back into `rfkit.design/1` records
(`design.json`, `trials.csv`, `front.png`, exported `.py` files).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rfkit.errors import RfkitError, one_line
from rfkit.search.space import Infeasible, resolve_space
from rfkit.train.progress import SilentReporter

SCHEMA = "rfkit.design/1"
STATES = ("complete", "pruned", "infeasible", "failed", "running")
DEFAULT_VAL = 10_000


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs, as plain values (it crosses to worker processes)."""

    space: str
    dataset: str
    constraints: dict  # budget limits by name (max_params, max_macs, min_rf)
    trials: int
    epochs: int
    storage: str
    study: str
    out: str
    seed: int = 1
    workers: int = 1
    timeout: float | None = None
    device: str = "cpu"
    data_dir: str = ""
    val: int = DEFAULT_VAL
    threads: int | None = None

    @property
    def fixed(self) -> dict:
        """What a study is: re-running it with any of these changed is another study."""
        return {"space": self.space, "dataset": self.dataset, "constraints": self.constraints,
                "epochs": self.epochs, "val": self.val}


def mask(url: str) -> str:
    """A storage URL with its password hidden (design.json is meant to be shared)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


# -- the space --------------------------------------------------------------------------------------------

def study_name_for(space: str) -> str:
    if ":" not in space:
        return space
    module, _, function = space.rpartition(":")
    return f"{Path(module).stem}-{function}"


# -- storage ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _creation_lock(url: str):
    """Held while the schema and the study are created: workers starting together on a fresh database race
    in Optuna's schema creation (PostgreSQL: UniqueViolation on its enum type). PostgreSQL: an advisory
    lock; SQLite: a lock file beside the database; other databases: none (the create is retried)."""
    if url.startswith("sqlite:///"):
        import fcntl

        path = Path(url.removeprefix("sqlite:///"))
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(7158265)"))
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(7158265)"))
        engine.dispose()
    else:
        yield


def _quiet_optuna():
    """Optuna's own log lines and its experimental-feature warnings would interleave with rfkit's trial lines."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def open_storage(url: str):
    """Optuna's RDB storage, with heartbeats (a worker killed on another machine has its running trial
    failed after the grace period) and a patient SQLite."""
    import optuna

    _quiet_optuna()

    sqlite = url.startswith("sqlite")
    kwargs = {"connect_args": {"timeout": 60}} if sqlite else {"pool_pre_ping": True}
    storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=30, grace_period=120)
    if sqlite:
        import sqlalchemy

        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_write_ahead)
        storage.engine.dispose()  # connections from here on are made with the pragmas
    return storage


def _sqlite_write_ahead(connection, _record):
    """Write-ahead logging, synced at checkpoints: Optuna commits each sampled parameter, and a commit
    that waits for the disk costs milliseconds, most of what sampling a candidate would cost. A killed
    process loses nothing committed; only a power cut could lose the last commits (never the file)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_study(settings: Settings, create: bool = True):
    """The study, created once with its defining settings (under the creation lock), or loaded; a study of
    the same name defined otherwise is refused."""
    import optuna

    for attempt in range(5):
        try:
            with _creation_lock(settings.storage):
                storage = open_storage(settings.storage)
                study = optuna.create_study(study_name=settings.study, storage=storage, direction="maximize",
                                            load_if_exists=True)
                if not study.user_attrs.get("rfkit"):
                    study.set_user_attr("rfkit", settings.fixed)
            break
        except RfkitError:
            raise
        except Exception as exc:  # another machine created the schema in the same moment (no lock there)
            if isinstance(exc, ModuleNotFoundError):
                raise RfkitError(f"--storage {mask(settings.storage)} needs the database's driver, {exc.name}: "
                                 f"pip install 'rfkit[postgres]' (or that driver)") from None
            if attempt == 4 or "exist" not in str(exc).lower() and "unique" not in str(exc).lower():
                raise RfkitError(f"--storage {mask(settings.storage)}: {one_line(exc)}") from None
            time.sleep(0.2 * (attempt + 1))
    defined = json.loads(json.dumps(study.user_attrs["rfkit"]))
    mine = json.loads(json.dumps(settings.fixed))
    if defined != mine:
        changed = ", ".join(f"{k} {defined.get(k)!r} (now {mine[k]!r})" for k in mine if defined.get(k) != mine[k])
        raise RfkitError(f"study {settings.study!r} in {mask(settings.storage)} was defined with {changed}: "
                         f"re-run it as defined, or name another --study")
    return study


def _check_url(url: str, given: bool) -> None:
    """A storage URL SQLAlchemy can use; a given SQLite file's folder must exist (the default one, in
    --out, is made)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        raise RfkitError(f"--storage {url!r} is not a database URL (sqlite:///path/study.db, "
                         f"postgresql://user@host/db)") from None
    try:
        parsed.get_dialect()
    except Exception as exc:
        raise RfkitError(f"--storage {mask(url)}: {one_line(exc)}") from None
    if given and parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise RfkitError(f"--storage {url}: the folder {folder} does not exist; create it or choose another path")


# -- a worker ---------------------------------------------------------------------------------------------

def _alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's: its heartbeat decides
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def fail_orphans(study) -> list[int]:
    """Running trials whose worker process on this machine is gone (a kill -9, a closed terminal): failed
    now, so a resumed study never waits for them; one killed before it named its worker, where no worker
    the study has seen is still alive (another machine's counts as alive: its heartbeat decides).
    Finished trials are never touched."""
    from optuna.trial import TrialState

    failed = []
    anyone = any(_alive(key.split(" ", 1)[1]) for key in study.user_attrs if key.startswith("worker "))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")  # absent: killed before its objective began
        if not _alive(worker) if worker else not anyone:
            study._storage.set_trial_user_attr(trial._trial_id, "reason", "its worker was killed mid-trial")
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            failed.append(trial.number)
    return failed


def _counts(study) -> tuple[int, int]:
    """(finished trials, running trials) in the study."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return len(trials) - running - sum(t.state == TrialState.WAITING for t in trials), running


class _EpochClock(SilentReporter):
    """The trial's reporter: shows nothing, notes when each epoch starts (so an epoch's seconds are its
    training, evaluation and checkpoint, not the run's start-up)."""

    started = 0.0

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int):
        self.started = time.perf_counter()


class Rejected(Exception):
    """A candidate that breaks a constraint, told apart from a failed trial by its `state` attribute."""


def _verdict_seconds(started: float, sampled: float) -> dict:
    """What deciding a candidate cost: `sample_seconds`, the space function (the sampler choosing its
    values, the module built), and `check_seconds`, the trace and the constraint check after it."""
    return {"sample_seconds": sampled - started, "check_seconds": time.perf_counter() - sampled}


class Objective:
    """One trial: build, trace, check, train. Data is read once, when the worker starts."""

    def __init__(self, settings: Settings, splits, space, input_size):
        import torch

        self.settings, self.splits, self.space = settings, splits, space
        self.input_size = input_size or tuple(splits[1].images.shape[1:])
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.torch = torch

    @staticmethod
    def _infeasible(trial, started: float, sampled: float, reason: str, numbers: dict | None = None):
        """Recorded with its numbers and the reason; no training. Ended as Optuna's FAIL, which the
        sampler leaves out, so that it models accuracy on trained candidates only and its random start
        counts trained ones (as pruned, rejections filled the issue-22 search's ten random start trials,
        and TPE modelled accuracy from the first trained ones it happened to see)."""
        attrs = {**(numbers or {}), "state": "infeasible", "reason": reason, **_verdict_seconds(started, sampled)}
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        raise Rejected(reason)

    def _budget(self):
        from rfkit.checks import budget as budgets

        return budgets.Budget(**self.settings.constraints)

    def __call__(self, trial):
        import optuna
        import torch.nn as nn

        from rfkit.analysis.tracing import trace
        from rfkit.checks import budget as budgets
        from rfkit.train import session

        s = self.settings
        trial.set_user_attr("worker", self.worker)
        trial.set_user_attr("dataset", s.dataset)
        trial.set_user_attr("threads", self.torch.get_num_threads())
        self.torch.manual_seed(s.seed)  # the initialisation is part of the trial: an export rebuilds it
        started = time.perf_counter()
        try:
            model = self.space(trial)
        except optuna.TrialPruned:
            raise
        except Infeasible as exc:  # the built-in space: a point whose layers run out of pixels
            return self._infeasible(trial, started, time.perf_counter(), str(exc))
        except Exception as exc:
            trial.set_user_attr("reason", f"the space raised {one_line(exc)}")
            raise
        sampled = time.perf_counter()
        if not isinstance(model, nn.Module):
            trial.set_user_attr("reason", f"the space returned {type(model).__name__}, not an nn.Module")
            raise RfkitError(trial.user_attrs["reason"])
        try:
            report = trace(model, self.input_size, device="meta")
        except Exception as exc:
            trial.set_user_attr("reason", f"trace failed: {one_line(exc)}")
            raise
        failed = [c for c in budgets.evaluate(report, self._budget()) if not c.passed]
        numbers = {"params": report.params, "macs": report.macs, "rf": list(report.rf)}
        if failed:
            return self._infeasible(trial, started, sampled, "; ".join(f"{c.name} {c.measured} (limit {c.limit})"
                                                                       for c in failed), numbers)
        numbers.update(_verdict_seconds(started, sampled))
        for key, value in numbers.items():
            trial.set_user_attr(key, value)
        run_dir = Path(s.out) / "trials" / str(trial.number)
        config = session.configure(
            f"{run_dir / 'net.py'}:Net", type(model).__name__, None, recipe=getattr(model, "recipe", None),
            default_dataset=s.dataset, dataset=s.dataset, device=s.device, epochs=s.epochs, seed=s.seed,
            data_dir=s.data_dir, run_dir=str(run_dir), val=s.val, compile=False,
            threads=self.torch.get_num_threads())
        curves = {"val_acc": [], "test_acc": [], "epoch_seconds": [], "train_seconds": []}
        clock = _EpochClock()

        def report_epoch(trainer, row):
            curves["val_acc"].append(row["val_acc"])
            curves["test_acc"].append(row["test_acc"])
            curves["epoch_seconds"].append(time.perf_counter() - clock.started)
            curves["train_seconds"].append(row["seconds"])
            for key, values in curves.items():
                trial.set_user_attr(key, values)
            trial.report(row["val_acc"], row["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")

        try:
            session.run(config, model, reporter=clock, callbacks=[report_epoch], splits=self.splits, figures=False)
        except optuna.TrialPruned:
            trial.set_user_attr("seconds", time.perf_counter() - started)
            raise
        except Exception as exc:
            trial.set_user_attr("reason", f"training failed: {one_line(exc)}")
            raise
        finally:  # the run's model, as its config.json names it (rfkit runs reads the directory)
            from rfkit.search import export

            (run_dir / "net.py").write_text(export.export_source(s, trial, {**numbers, "number": trial.number,
                                                                            "best_acc": None, "test_acc": []}))
        trial.set_user_attr("seconds", time.perf_counter() - started)
        return curves["val_acc"][-1]


def first_rung(epochs: int) -> int:
    """The first epoch at which a trial may be pruned: a fifth of the run. Pruning after one epoch
    ranks recipes by how fast they start, and a warm-up schedule (OneCycleLR) starts slow by design:
    in the issue-22 search's first 139 trials, pruned from epoch 1, the mean validation accuracy after
    epoch 1 was 77.4% without a schedule (59 trials) and 60.2% with OneCycleLR (5), and the sampler
    stopped proposing schedules at all."""
    return max(1, round(epochs / 5))


def work(settings: Settings, index: int, on_trial=None, splits=None) -> None:
    """One worker: read the data once (or take the (train, test) `splits` already read), then run trials
    until the study holds `settings.trials` (counting the running ones, so that workers stop together),
    or the timeout. `on_trial(record)` hears of each trial this worker finishes."""
    import optuna
    import torch

    from rfkit.train import data

    _quiet_optuna()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    storage = open_study(settings)._storage
    known = len(storage.get_all_trials(storage.get_study_id_from_name(settings.study), deepcopy=False))
    study = optuna.load_study(  # seeded by worker and by how far the study got: a resumed study draws anew
        study_name=settings.study, storage=storage,
        sampler=optuna.samplers.TPESampler(seed=settings.seed * 1_000_003 + index * 7919 + known, constant_liar=True,
                                           multivariate=True, group=True),
        pruner=optuna.pruners.HyperbandPruner(min_resource=first_rung(settings.epochs), max_resource=settings.epochs,
                                              reduction_factor=3))
    space, size = resolve_space(settings.space)
    root = Path(settings.data_dir)
    splits = splits or (data.load_split(settings.dataset, root, train=True),
                        data.load_split(settings.dataset, root, train=False))
    objective = Objective(settings, splits, space, size)
    study.set_user_attr(f"worker {objective.worker}", time.time())

    def after_trial(study, frozen):
        finished, running = _counts(study)
        if finished + running >= settings.trials:
            study.stop()
        if on_trial is not None:
            on_trial(record(frozen))

    finished, running = _counts(study)
    remaining = settings.trials - finished - running
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=settings.timeout, catch=(Exception,),
                       callbacks=[after_trial], gc_after_trial=False)


def _worker_process(settings: dict, index: int) -> None:
    threading.Thread(target=_leave_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        work(Settings(**settings), index)
    except KeyboardInterrupt:
        pass


def _leave_with_parent(parent: int) -> None:
    """A worker whose `rfkit design` is gone (killed, its terminal closed) stops within a second rather
    than training on unseen: its running trial is failed by the next run, as after a kill -9."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


# -- reading the study back -------------------------------------------------------------------------------

def record(trial) -> dict:
    """One trial as `rfkit.design/1` has it."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "running"}[trial.state]
    if attrs.get("state") == "infeasible":
        state = "infeasible"
    val = attrs.get("val_acc", [])
    return {"number": trial.number, "state": state, "params": attrs.get("params"), "macs": attrs.get("macs"),
            "rf": attrs.get("rf"), "reason": attrs.get("reason") if state in ("infeasible", "failed", "pruned")
            else None, "val_acc": val, "test_acc": attrs.get("test_acc", []),
            "best_acc": max(val) if val else None,
            "seconds": attrs.get("seconds", (attrs.get("sample_seconds") or 0) + attrs["check_seconds"]
                                 if "check_seconds" in attrs else None),
            "sample_seconds": attrs.get("sample_seconds"), "check_seconds": attrs.get("check_seconds"),
            "epoch_seconds": attrs.get("epoch_seconds", []), "train_seconds": attrs.get("train_seconds", []),
            "threads": attrs.get("threads"), "start": attrs.get("start"),
            "hyperparams": dict(trial.params), "file": None}


def pareto_front(records: list[dict], with_macs: bool) -> list[int]:
    """Trial numbers of the complete trials no other complete trial beats: fewer or equal parameters (and
    MACs, where they are constrained) and higher or equal best accuracy, better in one."""
    done = [r for r in records if r["state"] == "complete" and r["best_acc"] is not None]

    def key(r):
        return (r["params"], r["macs"]) if with_macs else (r["params"],)

    def beats(a, b):
        le = all(x <= y for x, y in zip(key(a), key(b))) and a["best_acc"] >= b["best_acc"]
        return le and (key(a) != key(b) or a["best_acc"] > b["best_acc"])

    return sorted(r["number"] for r in done if not any(beats(o, r) for o in done if o is not r))


@dataclass
class DesignResult:
    """A study read back: `trials` (records), `front` (trial numbers), `best` (the record of the highest
    best validation accuracy among complete trials), the files written. Prints as a table in a terminal
    and displays the front table and the plot in a notebook."""

    settings: Settings
    trials: list[dict]
    front: list[int]
    out: Path
    files: dict = field(default_factory=dict)

    @property
    def best(self) -> dict | None:
        done = [r for r in self.trials if r["state"] == "complete" and r["best_acc"] is not None]
        return max(done, key=lambda r: (r["best_acc"], -r["params"]), default=None)

    def counts(self) -> dict:
        return {state: sum(r["state"] == state for r in self.trials) for state in STATES}

    def to_dict(self) -> dict:
        s = self.settings
        return {"schema": SCHEMA, "study": s.study, "storage": mask(s.storage), "space": s.space,
                "dataset": s.dataset, "constraints": s.constraints, "epochs": s.epochs, "val": s.val,
                "trials": self.trials, "front": self.front,
                "best": self.best["number"] if self.best else None}

    def _table(self):
        from rfkit.output import design as render

        return render.design_table(self.to_dict(), self.counts())

    def __str__(self) -> str:
        from rfkit.output import render

        return render.text(self._table())

    def __repr__(self) -> str:
        best = self.best
        shown = f"best trial {best['number']}: {best['params']:,} params, {best['best_acc']:.2f}% val" if best else \
            "no complete trial"
        return f"DesignResult({self.settings.study}, {len(self.trials)} trials, {shown}, {self.out})"

    def _repr_html_(self) -> str:
        from rfkit.output import html

        png = self.out / "front.png"
        image = html.png(png.read_bytes(), "parameters against accuracy") if png.is_file() else ""
        return html.block(html.from_rich(self._table()), image)

    def to_pandas(self):
        from rfkit.errors import optional_import

        pd = optional_import("pandas", "pandas")
        return pd.DataFrame(self.trials)


def read(settings: Settings) -> DesignResult:
    """The study's trials as records, its front, and the files: design.json, trials.csv, front.png and the
    exports of the front and the best, written atomically (a reader never sees half a file)."""
    study = open_study(settings)
    records = [record(t) for t in study.get_trials(deepcopy=False)]
    front = pareto_front(records, "max_macs" in settings.constraints)
    result = DesignResult(settings, records, front, Path(settings.out))
    write(result, study)
    return result


def _atomic(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(result: DesignResult, study) -> None:
    from rfkit.search import export
    from rfkit.output import design as render
    from rfkit.output.plots import plot_front

    out = result.out
    by_number = {r["number"]: r for r in result.trials}
    best = result.best
    wanted = sorted(set(result.front) | ({best["number"]} if best else set()))
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in wanted:
        path = out / f"trial_{number}.py"
        _atomic(path, export.export_source(result.settings, trials[number], by_number[number]))
        by_number[number]["file"] = path.name
    if best:
        _atomic(out / "best.py", export.export_source(result.settings, trials[best["number"]], best))
        result.files["best"] = out / "best.py"
    data = result.to_dict()
    _atomic(out / "design.json", json.dumps(data, indent=2) + "\n")
    _atomic(out / "trials.csv", render.trials_csv(data["trials"]))
    plot_front(data, out / "front.png")
    result.files.update({"design": out / "design.json", "csv": out / "trials.csv", "plot": out / "front.png"})


# -- the entry point --------------------------------------------------------------------------------------

def _check_out(out: Path, study: str) -> None:
    """An --out that holds another study, or is not a design directory, is refused before anything is
    written."""
    if out.exists() and not out.is_dir():
        raise RfkitError(f"--out {out} is a file; choose a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    saved = out / "design.json"
    if not saved.is_file():
        if (out / "study.db").is_file():
            return  # a study stopped before its first design.json: resume it
        raise RfkitError(f"--out {out} exists and is not a design directory; choose another --out")
    try:
        name = json.loads(saved.read_text()).get("study")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise RfkitError(f"{saved} is damaged (not an rfkit.design/1 document); choose another --out") from None
    if name != study:
        raise RfkitError(f"--out {out} holds study {name!r}, not {study!r}: choose another --out, or --study {name}")


def _no_feasible(result: DesignResult) -> RfkitError:
    """Every sampled candidate broke a constraint: which limits, and the closest the space came to each."""
    sampled = [r for r in result.trials if r["state"] == "infeasible"]
    rejected = [r for r in sampled if r["params"] is not None] or [{"number": "-", "params": 0, "macs": 0, "rf": [0]}]
    c = result.settings.constraints
    closest = []
    if "max_params" in c:
        r = min(rejected, key=lambda r: r["params"])
        closest.append(f"fewest params {r['params']:,} (trial {r['number']}; --max-params {c['max_params']:,})")
    if "max_macs" in c:
        r = min(rejected, key=lambda r: r["macs"])
        closest.append(f"fewest MACs {r['macs']:,} (trial {r['number']}; --max-macs {c['max_macs']:,})")
    if "min_rf" in c:
        r = max(rejected, key=lambda r: min(r["rf"]))
        closest.append(f"largest RF {min(r['rf'])} (trial {r['number']}; --min-rf {c['min_rf']})")
    return RfkitError(f"no candidate of {len(sampled)} sampled meets the constraints: "
                      f"{'; '.join(closest)}; loosen them, widen the space or sample more (--trials)")


def design(space: str = "mnist", *, dataset: str = "mnist", max_params: int | None = None,
           max_macs: int | None = None, min_rf=None, trials: int = 20, timeout: float | None = None,
           epochs: int = 15, storage: str | None = None, study: str | None = None, workers: int = 1,
           out=None, seed: int = 1, device: str = "auto", data_dir=None, val: int = DEFAULT_VAL,
           threads: int | None = None, start=(), progress=True) -> DesignResult:
    """Search `space` for the network with the best validation accuracy after `epochs` under the
    constraints (`max_params`, `max_macs`, `min_rf`: the rules of `rfkit check`), and read the study back.

    `space`: "mnist" (built in) or a define-by-run function `my_space.py:space` / `pkg.module:space` that
    takes an Optuna trial and returns an nn.Module. `trials`: the study's total (a re-run completes it).
    `storage`: any Optuna storage URL (default an SQLite file `out/study.db`); `study`: its name (default
    the space's); `workers`: processes on this machine (threads split between them); `val`: training images
    held out (the last ones) to select on. `start`: points the study tries first (Optuna's enqueue_trial):
    names of the built-in space's documented networks (MnistNet_3), dicts of parameter values, or JSON
    files of one or a list; a point may give some values only (the sampler draws the rest), and a point
    the study already holds is not queued again. `progress`: a line per finished trial and a bar (True), None/
    False, or an object with `start(settings, done)`, `trial(record)`, `close()`.
    """
    from rfkit.checks import budget as budgets
    from rfkit.train import config as train_config
    from rfkit.train import data
    from rfkit.train.loaders import held_out

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise RfkitError(f"--trials {trials!r}: needs a positive integer (the study's total)")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RfkitError(f"--workers {workers!r}: needs a positive integer")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise RfkitError(f"--timeout {timeout!r}: needs a number of seconds > 0")
    train_config.check_flags(epochs=epochs, seed=seed, threads=threads)
    if isinstance(val, bool) or not isinstance(val, int) or val < 1:
        raise RfkitError(f"--val {val!r}: needs a positive integer (the training images held out to select on)")
    if dataset not in data.DATASETS:
        raise RfkitError(f"--dataset {dataset!r}: choose one of {', '.join(data.DATASETS)}")
    points = start_points(start, space)
    constraints = budgets.checked(dict(max_params=max_params, max_macs=max_macs, min_rf=min_rf), "",
                                  lambda key: "--" + key.replace("_", "-"))
    function, size = resolve_space(space)
    if size is not None and dataset in data.IMAGE_SIZE and data.IMAGE_SIZE[dataset] != size:
        raise RfkitError(f"the {space} space builds networks for {'x'.join(map(str, size))} inputs; --dataset "
                         f"{dataset} has {'x'.join(map(str, data.IMAGE_SIZE[dataset]))}")
    name = study or study_name_for(space)
    out = Path(out) if out is not None else Path("runs") / "design" / name
    _check_out(out, name)
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    _check_url(url, given=storage is not None)
    device = train_config.resolve_device(device)
    cpus = os.cpu_count() or 1
    settings = Settings(space=space, dataset=dataset, constraints=constraints, trials=trials, epochs=epochs,
                        storage=url, study=name, out=str(out), seed=seed, workers=workers, timeout=timeout,
                        device=device, data_dir=str(data_dir or data.default_data_dir()), val=val,
                        threads=threads or max(1, cpus // workers))
    test = data.load_split(dataset, Path(settings.data_dir), train=False)  # missing data: one line, nothing written
    train = data.load_split(dataset, Path(settings.data_dir), train=True)
    held_out(len(train), val)  # --val too large: the same
    out.mkdir(parents=True, exist_ok=True)
    study_obj = open_study(settings)
    fail_orphans(study_obj)
    for label, point in points:
        study_obj.enqueue_trial(point, user_attrs={"start": label}, skip_if_exists=True)
    watcher = _progress(progress)
    finished, _ = _counts(study_obj)
    watcher.start(settings, finished)

    def on_trial(rec: dict):
        """Each finished trial is shown; each trained one also rewrites the files, so a study stopped at any
        moment (a session's end) leaves design.json and the exports up to its last trained trial."""
        watcher.trial(rec)
        if rec["state"] in ("complete", "pruned"):
            read(settings)

    try:
        if workers == 1:
            work(settings, 0, on_trial=on_trial, splits=(train, test))
        else:
            _run_processes(settings, study_obj, on_trial)
    finally:
        watcher.close()
    result = read(settings)
    if result.trials and not any(r["state"] in ("complete", "pruned", "failed") for r in result.trials):
        raise _no_feasible(result)
    return result


def start_points(start, space: str) -> list[tuple[str, dict]]:
    """(label, parameter values) for each `--start` item: a documented network's name (the built-in
    space's `POINTS`), a dict, or a JSON file holding one or a list; refused in one line before anything
    is written."""
    from rfkit.search.space import BUILT_IN, POINTS

    points = []
    for item in [start] if isinstance(start, (str, dict, Path)) else list(start or ()):
        if isinstance(item, dict):
            found = [("given", item)]
        elif isinstance(item, str) and item in POINTS:
            if space not in BUILT_IN:
                raise RfkitError(f"--start {item}: a point of the built-in mnist space, not of {space}")
            found = [(item, POINTS[item])]
        elif Path(item).suffix == ".json":
            try:
                loaded = json.loads(Path(item).read_text())
            except OSError as exc:
                raise RfkitError(f"--start {item}: {exc.strerror.lower()}") from None
            except ValueError as exc:
                raise RfkitError(f"--start {item}: not JSON ({exc})") from None
            loaded = loaded if isinstance(loaded, list) else [loaded]
            found = [(f"{Path(item).name}[{i}]", point) for i, point in enumerate(loaded)]
        else:
            raise RfkitError(f"--start {item!r}: give a documented network ({', '.join(POINTS)}) or a .json "
                             f"file of parameter values (one point or a list)")
        for label, point in found:
            if not isinstance(point, dict) or not point or not all(isinstance(k, str) for k in point):
                raise RfkitError(f"--start {label}: a point is an object of parameter names to values")
        points += found
    return points


def _run_processes(settings: Settings, study, on_trial) -> None:
    """`settings.workers` worker processes on this machine; this process reports their trials from the
    storage as they finish."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_process, args=(asdict(settings), i), daemon=False)
                 for i in range(settings.workers)]
    for p in processes:
        p.start()
    seen: set[int] = set()
    try:
        while True:
            alive = any(p.is_alive() for p in processes)
            for trial in study.get_trials(deepcopy=False):
                rec = record(trial)
                if rec["state"] != "running" and trial.number not in seen:
                    seen.add(trial.number)
                    on_trial(rec)
            if not alive:
                break
            time.sleep(1.0)
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
            p.join()


class SilentProgress:
    def start(self, settings: Settings, done: int):
        pass

    def trial(self, record: dict):
        pass

    def close(self):
        pass


def _progress(progress):
    if progress is None or progress is False:
        return SilentProgress()
    if progress is True:
        from rfkit.search.progress import RichProgress

        return RichProgress()
    return progress

