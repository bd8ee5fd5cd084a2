"""The op registry: one record per traced op (keyed as `tracing.op_names` keys it: `conv2d`,
`matmul`, `einsum`), holding all rfkit knows about it: how it moves receptive fields (`rf`),
its multiply-accumulates (`macs`), and whether its output simply carries its input's RF
(`passes_rf`, `x.contiguous()`, `x.float()`). Both the RF rule and the MAC formula get the
bound call (`OpCall`), as torch's flop_counter gives its formulas every argument.

`register_op` is the one way in, for rfkit's own rules (rules.py, macs.py) and for users; it
refuses to register a field an op already has, unless asked to replace it.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=None)
def _signatures() -> dict:
    return torch.overrides.get_testing_overrides()


@functools.lru_cache(maxsize=4096)
def signature(func) -> inspect.Signature | None:
    target = _signatures().get(func, func)
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=4096)
def _plain_parameters(func) -> tuple[tuple[str, ...], dict, frozenset] | None:
    """(positional names, defaults, keyword names) of a signature without *args, **kwargs or
    positional-only parameters, for binding without inspect's (slow) general machinery."""
    sig = signature(func)
    if sig is None or any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in sig.parameters.values()):
        return None
    params = sig.parameters.values()
    return (tuple(p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD),
            {p.name: p.default for p in params if p.default is not p.empty},
            frozenset(p.name for p in params))


def bind(func, args: tuple, kwargs: dict) -> dict:
    """The op's arguments by parameter name, defaults filled in ({} when they do not fit its signature)."""
    plain = _plain_parameters(func)
    if plain is not None:
        positional, defaults, names = plain
        given = dict(zip(positional, args))
        if (len(args) <= len(positional) and not given.keys() & kwargs.keys() and kwargs.keys() <= names
                and names <= given.keys() | kwargs.keys() | defaults.keys()):
            return {**defaults, **given, **kwargs}
    return bind_with_inspect(func, args, kwargs)


def bind_with_inspect(func, args: tuple, kwargs: dict) -> dict:
    """`bind` by inspect.Signature.bind, for any signature."""
    sig = signature(func)
    if sig is None:
        return {}
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return {}
    bound.apply_defaults()
    return dict(bound.arguments)


_ARITH = {"add", "sub", "mul", "truediv", "floordiv", "div", "pow", "and", "or", "xor", "mod", "matmul"}


@functools.lru_cache(maxsize=4096)
def op_names(func) -> tuple[str, str]:
    """(rule name, display name) of a torch function: ('max_pool2d', 'F.max_pool2d')."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":
        name = getattr(getattr(func, "__self__", None), "__name__", "get")
        return name, f"Tensor.{name}"
    if name.startswith("__") and name.endswith("__") and name not in ("__getitem__",):
        base = name[2:-2]
        if base[:1] in "ri" and base[1:] in _ARITH:
            base = base[1:]
        rule = {"truediv": "div", "floordiv": "div"}.get(base, base)
        return ("matmul" if rule == "matmul" else rule), rule
    rule = name[:-1] if name.endswith("_") and not name.startswith("_") else name
    if getattr(F, name, None) is func:
        return rule, f"F.{name}"
    if getattr(torch, name, None) is func:
        return rule, f"torch.{name}"
    return rule, f"Tensor.{name}" if hasattr(torch.Tensor, name) else name


@dataclass
class OpCall:
    """One call of an op as the tracer saw it: the function and its raw arguments, the inputs that
    carry RF state (none for work on tensors made inside `forward`), and every tensor argument's
    and output's shape."""

    name: str
    func: Callable
    positional: tuple  # the raw arguments, for varargs methods such as x.permute(0, 2, 1)
    keywords: dict
    inputs: list  # [(tensor, TensorRF, position among the tensor arguments)] for inputs with RF state
    in_shapes: list[tuple[int, ...]]  # shapes of every tensor argument, in order
    out_shapes: list[tuple[int, ...]]

    @functools.cached_property
    def args(self) -> dict:
        """Arguments bound to the op's parameter names (bound on first use: most rules never ask)."""
        return bind(self.func, self.positional, self.keywords)

    @property
    def state(self):
        return self.inputs[0][1]

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs[0][0].shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.out_shapes[0]

    @property
    def packed(self) -> bool:
        """A recurrent op called on a packed sequence: (data, batch_sizes, hidden..., weights...)."""
        return len(self.in_shapes) > 1 and len(self.in_shapes[1]) == 1

    def arg(self, name: str, default=None):
        v = self.args.get(name, default)
        return default if v is None else v


@dataclass
class Op:
    """All rfkit knows about one op. `rf(call) -> rules.Outcome`; `macs(call) -> int`; `meta(x, args,
    kwargs, in_place) -> Tensor | None`, its output on the meta device from the shape formula (None:
    run the op's own meta kernel)."""

    name: str
    rf: Callable | None = None
    macs: Callable | None = None
    passes_rf: bool = False
    meta: Callable | None = None


OPS: dict[str, Op] = {}


def register_op(*names: str, rf: Callable | None = None, macs: Callable | None = None,
                passes_rf: bool | None = None, meta: Callable | None = None, replace: bool = False) -> None:
    """Give the ops `names` an RF rule (`rf(call) -> Outcome`), a MAC formula (`macs(call) -> int`),
    or mark them as carrying their input's RF unchanged (`passes_rf=True`), or give them an output
    on meta from a shape formula (`meta`). Giving a field an op
    already has raises ValueError (two rules for one op would silently shadow each other), unless
    `replace=True`. A rule and `passes_rf` exclude each other: giving one (with `replace=True`) drops
    the other."""
    given = {f: v for f, v in (("rf", rf), ("macs", macs), ("passes_rf", passes_rf), ("meta", meta)) if v is not None}
    if not names or not given:
        raise ValueError("register_op needs op names and at least one of rf=, macs=, passes_rf=, meta=")
    if given.get("passes_rf") and "rf" in given:
        raise ValueError("an op either carries its input's RF unchanged (passes_rf) or has a rule (rf), not both")
    if not replace:
        for name in names:
            op = OPS.get(name)
            taken = [f for f in given if op is not None and getattr(op, f)]
            if op is not None and ("rf" in given and op.passes_rf or given.get("passes_rf") and op.rf):
                taken.append("passes_rf" if op.passes_rf else "rf")
            if taken:
                raise ValueError(f"op {name!r} already has {' and '.join(taken)}; pass replace=True to change it")
    for name in names:
        op = OPS.setdefault(name, Op(name))
        for f, v in given.items():
            setattr(op, f, v)
        if "rf" in given:
            op.passes_rf = False
        elif given.get("passes_rf"):
            op.rf = None
