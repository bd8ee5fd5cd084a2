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
        """This budget with `overrides` (limits by name, None meaning keep) in place, each checked."""
        return replace(self, **checked(overrides, "", lambda key: key))

    @property
    def active(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


LIMITS = tuple(f.name for f in fields(Budget))
PARAM_LIMITS = frozenset({"max_params", "max_trainable_params"})  # answered by counting, no trace needed
_COUNTS = {"max_params", "max_trainable_params", "max_macs", "max_overshoot", "max_depth"}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def limit_error(key: str, value) -> str | None:
    """Why `value` cannot be the limit `key`, or None."""
    if key in _COUNTS:
        return None if _is_int(value) and value >= 0 else "needs a whole number >= 0"
    if key == "max_activation_mb":
        ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value > 0
        return None if ok else "needs a number of MiB > 0"
    if key == "min_coverage":
        ok = (_is_int(value) or isinstance(value, float)) and 0 <= value <= 1
        return None if ok else "needs a share between 0 and 1 (0.5 is half the input)"
    if key == "min_rf":
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        ok = values and all(_is_int(v) and v > 0 for v in values)
        return None if ok else "needs a positive integer, or one per spatial axis (e.g. [28, 32])"
    if key == "rf_layer":
        return None if isinstance(value, str) and value.strip() else "needs a layer name from `rfkit table --all`"
    return None


def checked(values: dict, where: str, name_of) -> dict:
    """`values` (limit name -> value; None dropped) with every name known and every value in range,
    else a one-line error: `where` says where they came from, `name_of(key)` how the user wrote the key."""
    at = f"{where}: " if where else ""
    if not isinstance(values, dict):
        raise RfkitError(f"{at}expected a table of limits ({', '.join(LIMITS)}), got {values!r}")
    unknown = sorted(set(values) - set(LIMITS), key=str)
    if unknown:
        raise RfkitError(f"{at}unknown budget key(s) {', '.join(map(str, unknown))}; known: {', '.join(LIMITS)}")
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        problem = limit_error(key, value)
        if problem:
            raise RfkitError(f"{at}{name_of(key)} {value!r} {problem}")
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def from_mapping(data: dict, where: str) -> Budget:
    return Budget(**checked(data, where, lambda key: key))


def _read_toml(path: Path, what: str = "budget file") -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RfkitError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise RfkitError(f"{what} {path} is a directory; name a .toml file") from None
    except UnicodeDecodeError:
        raise RfkitError(f"{what} {path} is not UTF-8 text; name a .toml file") from None
    except OSError as exc:
        raise RfkitError(f"cannot read {what} {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RfkitError(f"{what} {path} is not valid TOML: {exc}") from None


def _model_table(tables, names: list[str], where: str) -> tuple[dict, str]:
    """The table of the first of `names` in `tables` (and where it is), else no limits."""
    if not isinstance(tables, dict):
        raise RfkitError(f"{where}: budgets must be tables, one per model ([...budgets.\"zoo.MnistNet_3\"])")
    for name in names:
        if name in tables:
            return tables[name], f"{where} budgets.{name!r}"
    return {}, where


def resolve(names: list[str], card=None, pyproject: Path | None = None, budget_file: Path | None = None,
            **flags) -> Budget:
    """The budget for a model known by any of `names` (its MODEL spec, zoo name, class name);
    `flags` are the CLI's, named --max-params etc. in errors."""
    budget = Budget()
    if card is not None:
        budget = budget.merged(max_params=card.targets.max_params)
    if pyproject is not None and pyproject.is_file():
        tool = _read_toml(pyproject, "pyproject file").get("tool", {})
        tables = tool.get("rfkit", {}).get("budgets", {}) if isinstance(tool.get("rfkit", {}), dict) else None
        budget = budget.merged(**from_mapping(*_model_table(tables, names, f"{pyproject} [tool.rfkit]")).active)
    if budget_file is not None:
        data = _read_toml(budget_file)
        where = str(budget_file)
        if "budgets" in data:
            data, where = _model_table(data["budgets"], names, where)
        budget = budget.merged(**from_mapping(data, where).active)
    return replace(budget, **checked(flags, "", lambda key: "--" + key.replace("_", "-")))


@dataclass(frozen=True)
class Check:
    name: str
    measured: str
    limit: str
    passed: bool
    hint: str = ""


def per_axis_limit(limit, n: int, model_name: str, what: str = "min_rf") -> tuple:
    """`limit` once per spatial axis: an int stands for every axis, a tuple must give exactly `n`."""
    if not isinstance(limit, (tuple, list)):
        return (limit,) * n
    if len(limit) != n:
        raise RfkitError(f"{what} {tuple(limit)} gives {len(limit)} axes; {model_name} has {n} spatial "
                         f"axis(es): give one value or {n}")
    return tuple(limit)


def _weight_layers(report: Report) -> list:
    return [l for l in report.layers if l.macs > 0]


def needs_trace(budget: Budget) -> bool:
    """Whether checking `budget` needs a forward pass (and so an input size): parameter limits do not."""
    return bool(set(budget.active) - PARAM_LIMITS - {"rf_layer"})


def _param_checks(limits: dict, params: int, trainable: int, heavy: list[tuple[str, int]]) -> list[Check]:
    hint = _params_hint(params, heavy)
    checks = []
    if "max_params" in limits:
        checks.append(_at_most("params", params, limits["max_params"], hint))
    if "max_trainable_params" in limits:
        checks.append(_at_most("trainable params", trainable, limits["max_trainable_params"], hint))
    return checks


def count_params(model) -> tuple[int, int, list[tuple[str, int]]]:
    """(params, trainable params, [(module, own params)]) counted from the model, each tensor once
    (a tensor shared by two modules counts for the first): no forward pass, no input size."""
    seen: set[int] = set()
    own = []
    for name, module in model.named_modules():
        n = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        if n:
            own.append((name or type(model).__name__, n))
    unique = list({id(p): p for p in model.parameters()}.values())
    return sum(p.numel() for p in unique), sum(p.numel() for p in unique if p.requires_grad), own


def evaluate_params(model, budget: Budget) -> list[Check]:
    """The parameter checks of `budget`, counted from the model without tracing it."""
    params, trainable, own = count_params(model)
    return _param_checks(budget.active, params, trainable, own)


def evaluate(report: Report, budget: Budget) -> list[Check]:
    """One Check per active limit, in the order of `LIMITS`."""
    limits = budget.active
    checks = _param_checks(limits, report.params, report.trainable_params,
                           [(l.name, l.params) for l in report.layers if l.params])
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


def _params_hint(total: int, heavy: list[tuple[str, int]]) -> str:
    heavy = sorted(heavy, key=lambda item: -item[1])[:2]
    if not heavy:
        return ""
    parts = ", ".join(f"{name} ({n:,}, {n / max(total, 1):.0%})" for name, n in heavy)
    return f"largest: {parts}; narrow these or use a 1x1 transition"


def _min_rf(report: Report, limit, layer_name: str | None) -> Check:
    if layer_name:
        try:
            layer = report.layer(layer_name)
        except KeyError as exc:
            raise RfkitError(f"rf_layer {layer_name!r}: {exc.args[0]} (rfkit table --all lists them)") from None
        measured, where = layer.r_out, layer_name
        jumps = layer.j_out
    else:
        measured, where, jumps = report.rf, "output", report.jump
    wanted = per_axis_limit(limit, len(measured), report.model_name)
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
