"""One row per run directory, for comparing runs: what the network is (params, MACs,
theoretical RF, traced from the run's own model spec), what it learned (accuracy from
metrics.json, ERF area ratios from erf.json) and what it cost (seconds per epoch).
Read-only: nothing in a run directory is written. Turning a model spec into a module
is the caller's (`rfkit.runs` passes rfkit.loading's `load`): training sits below it."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from rfkit.analysis.tracing import trace
from rfkit.errors import RfkitError, TraceError
from rfkit.train.data import IMAGE_SIZE

SCHEMA = "rfkit.runs/1"


@dataclass
class RunRow:
    """One run. None where the run directory does not say (no epoch yet, no erf.json, a model
    that no longer loads: `note` says which)."""

    run_dir: str
    network: str
    model: str
    dataset: str
    device: str
    seed: int | None
    epochs: int | None  # planned
    epochs_done: int
    params: int | None
    macs: int | None
    rf: tuple | None  # per axis, at the model's output
    rf_before_global: tuple | None  # per axis, entering the first global op
    erf_layer: str | None
    erf_area_50: float | None  # ERF area ratio at t = 0.5
    erf_area_99: float | None
    erf_in_rf: float | None  # share of the ERF inside the theoretical RF
    best_test_acc: float | None
    best_epoch: int | None
    final_test_acc: float | None
    target_acc: float | None  # the card's documented target accuracy
    target_epoch: int | None  # first epoch at or above it
    seconds_per_epoch: float | None
    note: str = ""
    threads: int | None = None  # a CPU run's intra-op threads (its seed repeats it only with this count)
    compile: bool | None = None  # whether torch.compile ran the training step (another run of the same seed)

    def to_dict(self) -> dict:
        return asdict(self)


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RfkitError(f"cannot read {what} {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") \
            from None


def run_dirs(paths=None, root: str | Path = "runs") -> list[Path]:
    """The run directories `paths` name (a run directory, a folder of them, or an `rfkit design` directory:
    its trials' runs); default: those under `root`."""
    if not paths:
        root = Path(root)
        if not root.is_dir():
            raise RfkitError(f"no {root}/ folder here: pass RUN_DIR ... (rfkit train writes runs/NAME-TIME/)")
        paths = [root]
    found = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            found.append(path)
            continue
        pattern = "trials/*/config.json" if (path / "design.json").is_file() else "*/config.json"  # rfkit design's
        inside = sorted((p.parent for p in path.glob(pattern)), key=lambda p: (len(p.name), p.name)) \
            if path.is_dir() else []
        if not inside:
            raise RfkitError(f"{path} is not a run directory (no config.json) and holds none")
        found.extend(inside)
    return list(dict.fromkeys(found))


class _Static:
    """Params, MACs and RFs per (model spec, input size), traced once however many seeds share them."""

    def __init__(self, load):
        self.load = load
        self.cache: dict = {}

    def __call__(self, spec: str, dataset: str, input_shape) -> tuple[str, object, object, str]:
        """(network name, report or None, card or None, note)."""
        try:
            loaded = self.load(spec)
        except RfkitError as exc:
            return spec, None, None, f"model not loaded: {exc}"
        size = tuple(input_shape[1:]) if input_shape else loaded.input_size or IMAGE_SIZE.get(dataset)
        if size is None:
            return loaded.name, None, loaded.card, f"input size unknown for {dataset}: no erf.json"
        key = (spec, size)
        if key not in self.cache:
            try:
                self.cache[key] = trace(loaded.model, size)
            except TraceError as exc:
                self.cache[key] = exc
        report = self.cache[key]
        if isinstance(report, TraceError):
            return loaded.name, None, loaded.card, f"trace failed: {report}"
        return loaded.name, report, loaded.card, ""


def _row(run_dir: Path, static: _Static) -> RunRow:
    config = _read_json(run_dir / "config.json", "config")
    metrics_path, erf_path = run_dir / "metrics.json", run_dir / "erf.json"
    metrics = _read_json(metrics_path, "metrics") if metrics_path.is_file() else []
    erf = _read_json(erf_path, "ERF") if erf_path.is_file() else None
    spec, dataset = config.get("model", "?"), config.get("dataset", "?")
    network, report, card, note = static(spec, dataset, erf["input_shape"] if erf else None)
    best = max(metrics, key=lambda m: m["test_acc"], default=None)
    target = card.targets.min_test_acc if card is not None else None
    met = next((m["epoch"] for m in metrics if target is not None and m["test_acc"] >= target), None)
    seconds = [m["seconds"] for m in metrics if "seconds" in m]
    ratios = erf["area_ratio"] if erf else {}
    return RunRow(
        run_dir=str(run_dir), network=config.get("name", network), model=spec, dataset=dataset,
        device=config.get("device", "?"), threads=config.get("threads"), compile=config.get("compile"),
        seed=config.get("seed"),
        epochs=config.get("epochs"),
        epochs_done=len(metrics), params=int(report.params) if report else None,
        macs=int(report.macs) if report else None, rf=tuple(report.rf) if report else None,
        rf_before_global=tuple(report.rf_before_global) if report and report.first_global else None,
        erf_layer=erf["layer"] if erf else None, erf_area_50=ratios.get("0.5"), erf_area_99=ratios.get("0.99"),
        erf_in_rf=erf["in_rf_share"] if erf else None, best_test_acc=best["test_acc"] if best else None,
        best_epoch=best["epoch"] if best else None, final_test_acc=metrics[-1]["test_acc"] if metrics else None,
        target_acc=target, target_epoch=met, seconds_per_epoch=sum(seconds) / len(seconds) if seconds else None,
        note=note)


def collect(paths, root: str | Path, load) -> list[RunRow]:
    """One RunRow per run directory (`paths`: run directories or folders of them; default all under `root`).
    `load(spec)` builds the run's model: an object with `name`, `model`, `input_size` and `card`."""
    static = _Static(load)
    return [_row(p, static) for p in run_dirs(paths, root)]
