"""Budgets: limits as data, checked against a traced report.

A budget comes from, later overriding earlier: a zoo card's documented targets,
`[tool.rfkit.budgets."MODEL"]` in pyproject.toml, a `--budget FILE.toml`, and
explicit limits (CLI flags or keyword arguments). Each check yields the
measured value, the limit, pass/fail and, on failure, a hint computed from the
trace (which layer to change and by how much).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from rfkit.errors import RfkitError
from rfkit.output.render import per_axis
from rfkit.analysis.report import Report

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MIB = 2 ** 20


@dataclass(frozen=True)
class Budget:
    """Limits; None means unchecked. An int `min_rf` applies to every spatial axis, a tuple per axis."""

    max_params: int | None = None
    max_trainable_params: int | None = None
    max_macs: int | None = None
    max_activation_mb: float | None = None  # training activations (every op output), MiB
    min_rf: int | tuple[int, ...] | None = None
    rf_layer: str | None = None  # where min_rf is measured; default the model's output
    min_coverage: float | None = None  # RF entering the first global op / input, per axis
    max_overshoot: int | None = None  # kernel layers whose input RF already exceeds the input
    max_depth: int | None = None  # layers that multiply-accumulate (conv, linear, attention)

    def merged(self, **overrides) -> "Budget":
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def active(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


LIMITS = tuple(f.name for f in fields(Budget))


def from_mapping(data: dict, where: str) -> Budget:
    unknown = set(data) - set(LIMITS)
    if unknown:
        raise RfkitError(f"{where}: unknown budget key(s) {', '.join(sorted(unknown))}; known: {', '.join(LIMITS)}")
    values = dict(data)
    if isinstance(values.get("min_rf"), list):
        values["min_rf"] = tuple(values["min_rf"])
    return Budget(**values)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RfkitError(f"budget file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RfkitError(f"budget file {path} is not valid TOML: {exc}") from None


def _model_table(tables: dict, names: list[str]) -> dict:
    for name in names:
        if name in tables:
            return tables[name]
    return {}


def resolve(names: list[str], card=None, pyproject: Path | None = None, budget_file: Path | None = None,
            **flags) -> Budget:
    """The budget for a model known by any of `names` (its MODEL spec, zoo name, class name)."""
    budget = Budget()
    if card is not None:
        budget = budget.merged(max_params=card.targets.max_params)
    if pyproject is not None and pyproject.is_file():
        tables = _read_toml(pyproject).get("tool", {}).get("rfkit", {}).get("budgets", {})
        budget = budget.merged(**from_mapping(_model_table(tables, names), f"{pyproject} [tool.rfkit]").active)
    if budget_file is not None:
        data = _read_toml(budget_file)
        if "budgets" in data:
            data = _model_table(data["budgets"], names)
        budget = budget.merged(**from_mapping(data, str(budget_file)).active)
    return budget.merged(**flags)


@dataclass(frozen=True)
class Check:
    name: str
    measured: str
    limit: str
    passed: bool
    hint: str = ""


def _axes(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _weight_layers(report: Report) -> list:
    return [l for l in report.layers if l.macs > 0]


def evaluate(report: Report, budget: Budget) -> list[Check]:
    """One Check per active limit, in the order of `LIMITS`."""
    checks = []
    limits = budget.active
    if "max_params" in limits:
        checks.append(_at_most("params", report.params, limits["max_params"], _params_hint(report)))
    if "max_trainable_params" in limits:
        checks.append(_at_most("trainable params", report.trainable_params, limits["max_trainable_params"],
                               _params_hint(report)))
    if "max_macs" in limits:
        top = max(report.layers, key=lambda l: l.macs, default=None)
        hint = f"largest: {top.name} with {top.macs:,} MACs" if top is not None and top.macs else ""
        checks.append(_at_most("MACs", report.macs, limits["max_macs"], hint))
    if "max_activation_mb" in limits:
        mb = report.training_activation_bytes / MIB
        top = max(report.layers, key=lambda l: l.out_bytes, default=None)
        hint = f"largest output: {top.name} {'x'.join(map(str, top.out_shape))}" if top else ""
        checks.append(Check("activation memory (training, MiB)", f"{mb:,.2f}", f"{limits['max_activation_mb']:,}",
                            mb <= limits["max_activation_mb"], hint))
    if "min_rf" in limits:
        checks.append(_min_rf(report, limits["min_rf"], limits.get("rf_layer")))
    if "min_coverage" in limits:
        checks.append(_coverage(report, limits["min_coverage"]))
    if "max_overshoot" in limits:
        over = overshooting(report)
        hint = f"{', '.join(l.name for l in over[:4])} already see more than the input: remove them or stride earlier"
        checks.append(_at_most("RF overshoot (layers)", len(over), limits["max_overshoot"], hint if over else ""))
    if "max_depth" in limits:
        depth = len(_weight_layers(report))
        checks.append(_at_most("depth (conv/linear/attention layers)", depth, limits["max_depth"],
                               "merge or drop layers, or widen fewer of them"))
    return checks


def _at_most(name: str, measured: int, limit: int, hint: str) -> Check:
    ok = measured <= limit
    return Check(name, f"{measured:,}", f"<= {limit:,}", ok, "" if ok else hint)


def _params_hint(report: Report) -> str:
    heavy = sorted((l for l in report.layers if l.params), key=lambda l: -l.params)[:2]
    if not heavy:
        return ""
    parts = ", ".join(f"{l.name} ({l.params:,}, {l.params / max(report.params, 1):.0%})" for l in heavy)
    return f"largest: {parts}; narrow these or use a 1x1 transition"


def _min_rf(report: Report, limit, layer_name: str | None) -> Check:
    if layer_name:
        layer = report.layer(layer_name)
        measured, where = layer.r_out, layer_name
        jumps = layer.j_out
    else:
        measured, where, jumps = report.rf, "output", report.jump
    wanted = _axes(limit, len(measured))
    ok = all(m is not None and m >= w for m, w in zip(measured, wanted))
    hint = ""
    if not ok:
        first = report.first_global
        before = report.layers[:first.index] if first is not None else report.layers
        kernels = [l for l in before if l.rule == "kernel"]
        last = kernels[-1] if kernels else None
        step = per_axis(tuple(2 * j for j in (last.j_out if last else jumps)))
        where_to_add = f"after {last.name}" if last else "at the input"
        if first is not None:
            where_to_add += f" (before {first.name})"
        hint = (f"short by {per_axis(tuple(w - (m or 0) for m, w in zip(measured, wanted)))}: each 3x3 conv "
                f"{where_to_add} adds {step}; a stride-2 layer doubles what later layers add")
    return Check(f"RF at {where}", per_axis(measured), f">= {per_axis(wanted)}", ok, hint)


def _coverage(report: Report, limit: float) -> Check:
    first = report.first_global
    rf = report.rf_before_global if first is not None else report.rf
    sizes = report.spatial_size
    shares = tuple(min(r, n) / n if r is not None else 0 for r, n in zip(rf, sizes))
    ok = all(s >= limit for s in shares)
    where = first.name if first is not None else "output"
    measured = ", ".join(f"{s:.0%}" for s in shares)
    hint = "" if ok else (f"the RF entering {where} is {per_axis(rf)} of {per_axis(sizes)} pixels; add layers "
                          f"(or a stride) before it until it reaches {math.ceil(limit * max(sizes))}")
    return Check(f"RF coverage before {where}", measured, f">= {limit:.0%}", ok, hint)


def overshooting(report: Report) -> list:
    """Kernel layers whose input RF already exceeds the input on some axis."""
    sizes = report.spatial_size
    return [l for l in report.layers if l.rule == "kernel"
            and any(r is not None and r > n for r, n in zip(l.r_in, sizes))]


def passed(checks: list[Check]) -> bool:
    return all(c.passed for c in checks)
