"""Tracing: one forward pass, under module forward hooks (names) and a
`TorchFunctionMode` (every functional and tensor op, `x + y` and `torch.cat`
included), turned into a graph of ops over tensors, each tensor carrying its
own RF state. Runs on the `meta` device by default: no arithmetic and no copy
of the weights; a real CPU pass only when an op has no meta kernel.

The model is left exactly as found: hooks removed, train/eval flags restored,
parameters never moved, cast or written, also when its forward raises.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import itertools
import math
import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from rfkit.analysis import macs, ops, rf, rules, stats
from rfkit.analysis.ops import OpCall
from rfkit.analysis.report import AxisRow, Category, Layer, ModuleCall, Report
from rfkit.analysis.rf import AxisRF
from rfkit.analysis.rules import TensorRF
from rfkit.analysis.devices import parse_device
from rfkit.errors import RfkitError, TraceError
# Shape-preserving ops whose meta kernels are slow Python decompositions (batch_norm is
# 60% of a ResNet-50 trace): on meta their output is just an uninitialised tensor like the input.
_META_SHORTCUT = {"batch_norm", "instance_norm", "group_norm", "layer_norm", "dropout", "dropout2d", "dropout3d",
                  "alpha_dropout", "feature_alpha_dropout", "relu", "relu6", "gelu", "silu", "sigmoid", "tanh",
                  "hardswish", "hardsigmoid", "leaky_relu", "elu", "selu", "celu", "mish", "softplus", "hardtanh"}
# Queries that return no tensor: answered before any bookkeeping.
_METADATA = frozenset({
    torch.Tensor.dim, torch.Tensor.size, torch.Tensor.numel, torch.Tensor.__len__,
    torch.Tensor.is_floating_point, torch.Tensor.is_complex, torch.Tensor.element_size,
    torch.Tensor.shape.__get__, torch.Tensor.dtype.__get__, torch.Tensor.device.__get__,
    torch.Tensor.ndim.__get__, torch.Tensor.is_nested.__get__, torch.Tensor.requires_grad.__get__,
    torch.Tensor.grad_fn.__get__, torch.Tensor.is_cuda.__get__, torch.Tensor.layout.__get__,
})
_BROADCASTING = {"add", "sub", "mul", "div", "maximum", "minimum"}
_ARITH = {"add", "sub", "mul", "truediv", "floordiv", "div", "pow", "and", "or", "xor", "mod", "matmul"}
_SHAPE_ERROR = re.compile(r"shape|size mismatch|Expected .*(size|dim|channels)|cannot be multiplied|"
                          r"Given groups|too small|must match|invalid for input of size|out of range", re.I)


_broadcast_shapes = functools.lru_cache(maxsize=4096)(torch.broadcast_shapes)  # a Python function, per op


@functools.lru_cache(maxsize=4096)
def _op_names(func) -> tuple[str, str]:
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


def _shapes(arg_tensors: list[torch.Tensor], outputs: list[torch.Tensor]) -> tuple[list, list]:
    """An OpCall's in_shapes and out_shapes."""
    return [tuple(t.shape) for t in arg_tensors], [tuple(t.shape) for t in outputs]


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def tensors_in(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            if isinstance(item, torch.Tensor):
                out.append(item)
            elif isinstance(item, (list, tuple, dict)):
                out.extend(tensors_in(item))
        return out
    if isinstance(obj, dict):
        return tensors_in(list(obj.values()))
    return []


def output_tensors(obj) -> list[torch.Tensor]:
    """The tensors a module's output holds: as `tensors_in`, and for an output that is neither a
    tensor nor a list, tuple or dict (a dataclass, a holder, a torch.distributions object) the
    tensors among its attributes. Per module call, never per op."""
    found = tensors_in(obj)
    if found or obj is None or isinstance(obj, (list, tuple, dict, torch.Tensor, int, float, str, bool)):
        return found
    return stats.held_tensors(obj)


def output_shapes(obj, tensors: list[torch.Tensor]) -> tuple[tuple[int, ...], ...]:
    """The output's shapes: each tensor's, and for a distribution the shape of one sample."""
    if isinstance(obj, torch.distributions.Distribution):
        return (tuple(obj.batch_shape + obj.event_shape),)
    return tuple(tuple(t.shape) for t in tensors)


# The hooks' own shape and size queries, kept out of the recorder's op interception.
_BOOKKEEPING = torch._C.DisableTorchFunction
_CONV_DIMS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_ADAPTIVE_AVG_DIMS = {"adaptive_avg_pool1d": 1, "adaptive_avg_pool2d": 2, "adaptive_avg_pool3d": 3}


def _per_axis(value, nd: int, least: int) -> tuple[int, ...] | None:
    values = (value,) * nd if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    ok = len(values) == nd and all(isinstance(v, int) and not isinstance(v, bool) and v >= least for v in values)
    return values if ok else None


def _conv_output(nd: int, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """F.convNd's output on meta from the shape formula, as the meta kernel makes it (contiguous).
    None, and so the kernel itself with its errors, for anything but well-formed arguments."""
    given = dict(zip(_CONV_ARGS, args))
    if not set(kwargs) <= set(_CONV_ARGS[len(args):]):
        return None
    given.update(kwargs)
    x, w, b = given["input"], given.get("weight"), given.get("bias")
    groups = given.get("groups", 1)
    if (not isinstance(w, torch.Tensor) or w.device.type != "meta" or x.dim() != nd + 2 or w.dim() != nd + 2
            or x.dtype != w.dtype or not isinstance(groups, int) or groups < 1
            or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups):
        return None
    if b is not None and (not isinstance(b, torch.Tensor) or b.device.type != "meta" or b.shape != w.shape[:1]):
        return None
    stride, dilation = _per_axis(given.get("stride", 1), nd, 1), _per_axis(given.get("dilation", 1), nd, 1)
    padding = given.get("padding", 0)
    if stride is None or dilation is None:
        return None
    if isinstance(padding, str):
        if padding == "same" and set(stride) == {1}:
            return torch.empty((x.shape[0], w.shape[0], *x.shape[2:]), dtype=x.dtype, device="meta")
        padding = 0 if padding == "valid" else None
    padding = _per_axis(padding, nd, 0) if padding is not None else None
    if padding is None:
        return None
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1
           for n, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation)]
    if any(n <= 0 for n in out):
        return None
    return torch.empty((x.shape[0], w.shape[0], *out), dtype=x.dtype, device="meta")


@functools.lru_cache(maxsize=4096)
def _dense(shape: torch.Size, strides: tuple[int, ...]) -> bool:
    """Non-overlapping and without gaps (contiguous in some order of the dims)."""
    expected = 1
    for size, stride in sorted(zip(shape, strides), key=lambda pair: pair[1]):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def _adaptive_output(nd: int, x: torch.Tensor, rest: tuple, kwargs: dict) -> torch.Tensor | None:
    """F.adaptive_avg_poolNd's output on meta (its meta kernel is a slow Python `mean` for a global
    pool); None, and so the kernel itself with its errors, for anything but well-formed arguments."""
    if len(rest) + len(kwargs) != 1 or kwargs.keys() - {"output_size"} or x.dim() not in (nd + 1, nd + 2):
        return None
    size = rest[0] if rest else kwargs["output_size"]
    sizes = (size,) * nd if isinstance(size, int) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(sizes) != nd or not all(v is None and nd > 1 or isinstance(v, int) and not isinstance(v, bool) and v > 0
                                   for v in sizes) or 0 in x.shape[-nd:]:
        return None
    out = tuple(n if v is None else v for n, v in zip(x.shape[-nd:], sizes))
    return torch.empty((*x.shape[:-nd], *out), dtype=x.dtype, device="meta")


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    """torch.empty_like(x, device="meta") without the Python reference implementation that a meta
    `x` goes through (100x slower): the strides of a non-overlapping, dense `x` (permuted too)
    carried over, as preserve_format does."""
    if not x.is_meta:
        return torch.empty_like(x, device="meta")  # fast from a real device
    strides = x.stride()
    if not _dense(x.shape, strides):
        return torch.empty_like(x, device="meta")  # overlapping or gapped: empty_like's own rule
    return torch.empty_strided(x.shape, strides, dtype=x.dtype, device="meta")


class Recorder(TorchFunctionMode):
    """Intercepts every torch op; ops on tensors with RF state become layers."""

    def __init__(self):
        super().__init__()
        self.states: dict[int, tuple[torch.Tensor, TensorRF]] = {}
        self.layers: list[Layer] = []
        self.modules: list[ModuleCall] = []
        self.stack: list[tuple[str, nn.Module, int, tuple]] = []
        self.counters: dict[tuple[str, str], int] = {}
        self.calls: dict[str, int] = {}
        self.started = 0
        self.paths: dict[int, tuple[str, bool]] = {}
        self.tree: stats.ModuleTree | None = None
        self.warnings: list[str] = []
        self.failed_at: str | None = None
        self.hidden: list[dict] = []  # the states, set aside while a TorchScript module runs

    def seed(self, x: torch.Tensor, spatial: int | None):
        """Track `x`: with RF state over its last `spatial` dims, or (None) as an input whose ops count
        (shapes, MACs) but whose positions the RF is not measured in."""
        if spatial is None:
            self.states[id(x)] = (x, None)
            return
        axes = tuple(AxisRF.input(n) for n in x.shape[x.dim() - spatial:])
        dims = tuple(range(x.dim() - spatial, x.dim()))
        self.states[id(x)] = (x, TensorRF(axes, dims, (False,) * spatial))

    def _touches_state(self, args: tuple) -> bool:
        """Fast check, before any bookkeeping: does an argument (or list item) carry RF state?"""
        states = self.states
        for a in args:
            if isinstance(a, torch.Tensor):
                if id(a) in states:
                    return True
            elif isinstance(a, (list, tuple)):
                if any(isinstance(b, torch.Tensor) and id(b) in states for b in a):
                    return True
        return False

    def tracks(self, t: torch.Tensor) -> bool:
        entry = self.states.get(id(t))
        return entry is not None and entry[0] is t

    def state_of(self, t: torch.Tensor) -> TensorRF | None:
        entry = self.states.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _METADATA:
            return func(*args, **kwargs)
        if not self._touches_state(args) and not (kwargs and self._touches_state(tuple(kwargs.values()))):
            return self._work(func, args, kwargs)
        arg_tensors = tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args)
        stateful = [(t, s, pos) for pos, t in enumerate(arg_tensors) if (s := self.state_of(t)) is not None]
        if not stateful and not any(self.tracks(t) for t in arg_tensors):
            return self._work(func, args, kwargs)
        rule_name, display = _op_names(func)
        try:
            result = self._shortcut(rule_name, display, args, kwargs)
            if result is None:
                result = func(*args, **kwargs)
        except Exception:
            owner = self.stack[-1][0] if self.stack else ""
            shapes = ", ".join(str(tuple(t.shape)) for t in arg_tensors)
            self.failed_at = f"{owner + ': ' if owner else ''}{display} on input {shapes}"
            raise
        outputs = tensors_in(result)
        if not stateful:
            for t in outputs:
                self.states[id(t)] = (t, None)
            if outputs:
                self._record_untracked(OpCall(rule_name, func, args, kwargs, [], *_shapes(arg_tensors, outputs)),
                                       display, arg_tensors, outputs)
            return result
        op = ops.OPS.get(rule_name)
        if not outputs or op is not None and op.passes_rf and len(outputs) == 1 and len(stateful) == 1:
            if outputs:
                self.states[id(outputs[0])] = (outputs[0], stateful[0][1])
            return result
        call = OpCall(rule_name, func, args, kwargs, stateful, *_shapes(arg_tensors, outputs))
        try:
            outcome = rules.rule_for(rule_name)(call)
        except Exception as exc:  # a rule that cannot read these arguments must not break the trace
            outcome = rules.unknown(call)
            outcome.note = f"RF rule for '{rule_name}' failed ({type(exc).__name__}: {exc})"
        self._layer(display, call, outcome, outputs)
        return result

    def _layer(self, display: str, call: OpCall, outcome: rules.Outcome, outputs: list[torch.Tensor]):
        """The outputs take the outcome's states (the first for any beyond them); the op becomes a layer."""
        states = list(outcome.states) + [outcome.states[0]] * (len(outputs) - len(outcome.states))
        for t, s in zip(outputs, states):
            self.states[id(t)] = (t, s)
        inputs = [t for t, _, _ in call.inputs]
        self._record(display, call, outcome, states[0], _nbytes(inputs), _nbytes(outputs))
        self.on_layer(self.layers[-1], inputs, outputs)

    def on_layer(self, layer: Layer, inputs: list[torch.Tensor], outputs: list[torch.Tensor]):
        """Called after each op recorded as a layer, with its position-carrying inputs and its outputs.
        A no-op here: a hook for recorders that need the tensors themselves (rfkit.analysis.erf)."""

    @staticmethod
    def _shortcut(rule_name: str, display: str, args: tuple, kwargs: dict) -> torch.Tensor | None:
        """The output of a shape-preserving or broadcasting op on meta, without its (slow) meta kernel."""
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, torch.Tensor) or x.device.type != "meta":
            return None
        in_place = display.endswith("_") or kwargs.get("inplace") is True
        if rule_name in _META_SHORTCUT:
            return x if in_place else _empty_like(x)
        if rule_name in _CONV_DIMS:
            return _conv_output(_CONV_DIMS[rule_name], args, kwargs)
        if rule_name in _ADAPTIVE_AVG_DIMS:
            return _adaptive_output(_ADAPTIVE_AVG_DIMS[rule_name], x, args[1:], kwargs)
        if rule_name == "linear" and len(args) >= 2 and isinstance(args[1], torch.Tensor) and not kwargs:
            return torch.empty((*x.shape[:-1], args[1].shape[0]), dtype=x.dtype, device="meta")
        if rule_name in _BROADCASTING and len(args) == 2 and not kwargs:
            other = args[1]
            if isinstance(other, torch.Tensor) and other.device.type != "meta":
                return None
            shape = (_broadcast_shapes(x.shape, other.shape)
                     if isinstance(other, torch.Tensor) and other.shape != x.shape else x.shape)
            if in_place:
                return x if shape == x.shape else None
            return torch.empty(shape, dtype=torch.result_type(x, other), device="meta")
        return None

    def _record(self, display: str, call: OpCall, outcome: rules.Outcome, out: TensorRF | None, in_bytes: int,
                out_bytes: int):
        owner, name = self._place(display)
        src = call.state
        rows = []
        for i, a in enumerate(src.axes):
            b = out.axes[i] if out is not None else a
            kern = outcome.kernels.get(i)
            if kern is None and b.n == 1 and a.n > 1 and outcome.rule in (rules.GLOBAL, rules.ATTENTION):
                kern = rules.Kernel(a.n, a.n, 0, 1)
            rows.append(AxisRow(
                k=kern.k if kern else None, s=kern.s if kern else None, p=kern.p if kern else None,
                d=kern.d if kern else None, n_in=a.n, n_out=b.n, r_in=a.r, j_in=a.j, r_out=b.r, j_out=b.j,
                start=b.start, r_min=b.r_min, exact=b.exact))
        if outcome.rule == rules.UNKNOWN or outcome.note:
            self.warnings.append(f"{name}: {outcome.note or 'unknown RF'}")
        in_shapes = tuple(call.in_shapes)
        self.layers.append(Layer(
            index=len(self.layers), name=name, kind=display, op=display, module=owner,
            in_shape=call.in_shape, out_shape=call.out_shape, in_shapes=in_shapes,
            rule=Category(outcome.rule), axes=tuple(rows), note=outcome.note, in_bytes=in_bytes,
            out_bytes=out_bytes, macs=self._macs(call, name)))

    def _macs(self, call: OpCall, name: str) -> int:
        """The op's MACs; a formula that cannot read these arguments counts 0, with a warning."""
        try:
            return macs.count(call)
        except Exception as exc:
            self.warnings.append(f"{name}: MAC formula for '{call.name}' failed ({type(exc).__name__}: {exc}); "
                                 f"counted 0")
            return 0

    def _place(self, display: str) -> tuple[str, str]:
        """(owning module, layer name `[owner.]op#n`) of the next layer, which joins its owner's call."""
        owner = self.stack[-1][0] if self.stack else ""
        key = (owner, display)
        self.counters[key] = self.counters.get(key, 0) + 1
        if self.stack:
            self.stack[-1][5].append(len(self.layers))
        return owner, f"{owner + '.' if owner else ''}{display}#{self.counters[key]}"

    def _work(self, func, args: tuple, kwargs: dict):
        """An op on no traced tensor (a table, a grid or a mask made inside `forward`, or the weights
        alone): run it, and where it multiplies (a formula for it exists) record it as a layer, since
        MACs follow the work wherever its operands come from. Inside compiled TorchScript, nothing."""
        result = func(*args, **kwargs)
        rule_name, display = _op_names(func)
        op = ops.OPS.get(rule_name)
        if op is not None and op.macs is not None and not self.hidden:
            outputs = tensors_in(result)
            arg_tensors = tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args)
            if outputs and arg_tensors:
                self._record_untracked(OpCall(rule_name, func, args, kwargs, [], *_shapes(arg_tensors, outputs)),
                                       display, arg_tensors, outputs)
        return result

    def _record_untracked(self, call: OpCall, display: str, arg_tensors: list, outputs: list):
        """An op on inputs the RF is not measured in: a layer with shapes and MACs but no RF columns."""
        owner, name = self._place(display)
        tracked = [t for t in arg_tensors if self.tracks(t)]
        in_shapes = tuple(call.in_shapes)
        self.layers.append(Layer(
            index=len(self.layers), name=name,
            kind=display, op=display, module=owner, in_shape=tuple((tracked or arg_tensors)[0].shape),
            out_shape=tuple(outputs[0].shape), in_shapes=in_shapes, rule=Category.NO_RF, axes=(),
            in_bytes=_nbytes(tracked), out_bytes=_nbytes(outputs),
            macs=self._macs(call, name)))

    def watch(self, tree: stats.ModuleTree):
        """Name every module of the model; the global hooks ignore modules outside it."""
        self.tree = tree
        self.paths = {id(m): (path, tree.is_leaf[id(m)], isinstance(m, torch.jit.ScriptModule))
                      for path, m in tree.by_path.items()}

    def on_pre(self, module, inputs):
        known = self.paths.get(id(module))
        if known is None:
            return
        path = known[0]
        n = self.calls[path] = self.calls.get(path, 0) + 1
        name = path if n == 1 else f"{path}#{n}"
        with _BOOKKEEPING():
            in_shapes = tuple(tuple(t.shape) for t in tensors_in(inputs))
        self.stack.append((name, module, len(self.layers), in_shapes, self.started, []))
        self.started += 1
        if known[2]:
            # Compiled code runs next: no op of it is the model's own. On meta, the meta kernels'
            # Python decompositions would reach the mode as ops on tracked tensors; with the
            # states set aside none is tracked, and the call becomes one opaque layer after it.
            self.hidden.append(self.states)
            self.states = {}

    def on_post(self, module, inputs, output):
        known = self.paths.get(id(module))
        if known is None:
            return
        is_leaf = known[1]
        with _BOOKKEEPING():
            if known[2]:
                self.states = self.hidden.pop()
                self._opaque(module, inputs, output)
            name, _, first, in_shapes, started, own = self.stack.pop()
            if is_leaf and len(own) == 1:
                layer = self.layers[own[0]]
                layer.name, layer.kind = name, type(module).__name__
                layer.params = sum(stats.numel(p) for _, _, p in self.tree.own[id(module)])
            outs = output_tensors(output)
            state = self.state_of(outs[0]) if outs else None
            self.modules.append(ModuleCall(
                name=name, kind=type(module).__name__, depth=name.count(".") + 1 if name else 0,
                order=len(self.modules) + 1, start=started, is_leaf=is_leaf, in_shapes=in_shapes,
                out_shapes=output_shapes(output, outs),
                layers=tuple(range(first, len(self.layers))), out_rf=state.axes if state else None,
                shown_out=stats.shown_output(output)))

    def _opaque(self, module: torch.jit.ScriptModule, inputs, output):
        """A scripted submodule runs compiled code that no hook or mode sees: when its outputs come
        out untracked, the whole call becomes one layer whose RF is unknown, with a warning,
        rather than a silent gap in the RF (an untracked output would read as no receptive field)."""
        outs = output_tensors(output)
        arg_tensors = tensors_in(inputs)
        stateful = [(t, s, pos) for pos, t in enumerate(arg_tensors) if (s := self.state_of(t)) is not None]
        if not outs or not stateful or any(self.tracks(t) for t in outs):
            return
        call = OpCall("scripted", module, tuple(inputs), {}, stateful, [tuple(t.shape) for t in arg_tensors],
                      [tuple(t.shape) for t in outs])
        outcome = rules.unknown(call)
        outcome.note = (f"compiled TorchScript ({type(module).__name__}): rfkit cannot see its ops, so the RF "
                        f"past it is unknown; trace the nn.Module it was scripted from")
        self._layer("scripted", call, outcome, outs)


# What a forward can register on a module in place (a buffer cached on first call, a submodule
# built lazily, a hook): their contents are restored after the pass, beside the attributes.
_REGISTRIES = ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_forward_hooks",
               "_forward_pre_hooks")


@contextlib.contextmanager
def preserved(tree: stats.ModuleTree):
    """Eval mode (every module's `training` flag) and (global, temporary) hooks for the trace. After
    it, also when the forward raises: hooks removed, every module's attributes rebound as they were
    (the train/eval flag, and any plain attribute the forward rebinds, such as a call counter),
    and its parameters, buffers, submodules and forward hooks as they were (a forward that
    registers a buffer on its first call registers nothing)."""
    saved = [(m, attributes, [(r, r.copy() if r else None) for name in _REGISTRIES
                              if isinstance(r := attributes.get(name), (dict, set))])  # a ScriptModule's: C++ views
             for m, attributes in ((m, m.__dict__.copy()) for m in tree.modules)]
    handles = []
    try:
        for m, _, _ in saved:
            m.__dict__["training"] = False  # what eval() sets, without running train() overrides' side effects
        yield handles
    finally:
        for h in handles:
            h.remove()
        for m, attributes, registries in saved:
            for registry, content in registries:
                if content is None:
                    registry.clear()
                elif len(registry) != len(content) or registry is attributes.get("_modules"):
                    registry.clear()  # an entry added or dropped (a replaced parameter or buffer is
                    registry.update(content)  # put back by `substituted`; a replaced submodule here)
            m.__dict__.clear()
            m.__dict__.update(attributes)


@contextlib.contextmanager
def substituted(tree: stats.ModuleTree, stand_in):
    """Every parameter and buffer replaced, for the pass, by `stand_in(tensor)` (one per tensor, so
    tied weights stay tied), and put back after, also when the forward raises. The forward then
    never writes the user's tensors (a buffer it increments, a cache it fills). Swapping the
    modules' own entries costs a fraction of torch.func.functional_call's walk by name."""
    made: dict[int, torch.Tensor] = {}
    held = [(store, name, t) for m in tree.modules for store in (m._parameters, m._buffers)
            for name, t in store.items() if t is not None and not nn.parameter.is_lazy(t)]  # lazy: no data
    try:
        for store, name, t in held:
            copy_ = made.get(id(t))
            if copy_ is None:
                copy_ = made[id(t)] = stand_in(t)
            store[name] = copy_
        yield
    finally:
        for store, name, t in held:
            store[name] = t


def model_dtype(model: nn.Module) -> torch.dtype:
    t = next((t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()), None)
    return t.dtype if t is not None else torch.get_default_dtype()


def _model_device(model: nn.Module) -> torch.device:
    t = next(itertools.chain(model.parameters(), model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def stand_in_for(device: torch.device):
    """Free uninitialised tensors on meta, copies on a real device."""
    if device.type == "meta":
        return _empty_like
    return lambda t: t.detach().to(device, copy=True)


@dataclass
class Inputs:
    """The model's inputs for one pass: positional and keyword arguments (tensors, or lists, tuples
    and dicts holding them, nested as the forward wants them), a name per tensor, and which tensor
    the RF is measured in (None when none has spatial dims)."""

    args: tuple
    kwargs: dict
    names: list[str]
    rf_index: int | None

    @property
    def tensors(self) -> list[torch.Tensor]:
        return [t for t in pytree.tree_leaves((self.args, self.kwargs)) if isinstance(t, torch.Tensor)]

    @property
    def rf_tensor(self) -> torch.Tensor | None:
        return self.tensors[self.rf_index] if self.rf_index is not None else None

    def map(self, fn) -> "Inputs":
        args, kwargs = pytree.tree_map_only(torch.Tensor, fn, (self.args, self.kwargs))
        return Inputs(args, kwargs, self.names, self.rf_index)


def _run(tree: stats.ModuleTree, inputs: Inputs, device: torch.device, spatial: int, name: str) -> Report:
    recorder = Recorder()
    recorder.watch(tree)
    inputs = inputs.map(lambda t: t.to(device) if t.device != device else t)
    with preserved(tree) as handles:
        handles.append(nn.modules.module.register_module_forward_pre_hook(recorder.on_pre))
        handles.append(nn.modules.module.register_module_forward_hook(recorder.on_post))
        for i, t in enumerate(inputs.tensors):
            recorder.seed(t, spatial if i == inputs.rf_index else None)
        try:
            with torch.no_grad(), substituted(tree, stand_in_for(device)), recorder:
                output = tree.model(*inputs.args, **inputs.kwargs)
        except Exception as exc:
            if recorder.hidden:  # raised inside a TorchScript module
                recorder.states = recorder.hidden[0]
            partial = _report(recorder, tree, inputs, device, name, output=None)
            where = recorder.failed_at or (recorder.stack[-1][0] if recorder.stack else "")
            where = f"{name}.{where}" if where and not where.startswith(name) else where or f"{name}.forward"
            hint = "" if inputs.tensors else " (the input holds no tensor: pass the tensors the forward takes)"
            raise TraceError(f"forward failed at {where}: {type(exc).__name__}: {_first_line(exc)}{hint}",
                             partial=partial, cause=exc) from exc
    return _report(recorder, tree, inputs, device, name, output)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _report(recorder: Recorder, tree: stats.ModuleTree, inputs: Inputs, device, name, output) -> Report:
    outs = output_tensors(output)
    states = [s for t in outs if (s := recorder.state_of(t)) is not None]
    if not states and inputs.rf_index is not None:
        states = [s for _, s in reversed(recorder.states.values()) if s is not None][:1]
    if states:
        n_axes = len(states[0].axes)
        merged = tuple(rf.union([s.axes[i] for s in states], states[0].axes[i].n).rf for i in range(n_axes))
        dims = states[0].dims
    else:
        merged, dims = (), ()
    unique = [p for _, _, p in tree.below(tree.model)]
    tensors = inputs.tensors
    shown = inputs.rf_tensor if inputs.rf_index is not None else tensors[0] if tensors else None
    return Report(model_name=name, input_shape=tuple(shown.shape) if shown is not None else (),
                  layers=recorder.layers, modules=recorder.modules,
                  module_stats=stats.module_rows(tree, recorder.modules, recorder.layers), output=merged,
                  output_dims=dims, output_shape=shapes[0] if (shapes := output_shapes(output, outs)) else (),
                  device=device.type, total_params=sum(stats.numel(p) for p in unique),
                  total_trainable_params=sum(stats.numel(p) for p in unique if p.requires_grad),
                  param_bytes=sum(stats.numel(p) * p.element_size() for p in unique if stats.numel(p)),
                  input_bytes=sum(t.numel() * t.element_size() for t in tensors),
                  input_shapes=tuple(tuple(t.shape) for t in tensors), input_names=tuple(inputs.names),
                  rf_input=inputs.names[inputs.rf_index] if inputs.rf_index is not None else None,
                  torchinfo=stats.torchinfo_summary(tree, recorder.modules, tensors),
                  warnings=list(dict.fromkeys(recorder.warnings)))


def _sizes(input_size) -> list[tuple[int, ...]]:
    """input_size as a list of sizes: (C, H, W) is one input, [(C, H, W), (D,)] several."""
    if isinstance(input_size, (list, tuple)) and input_size and all(isinstance(v, (list, tuple, torch.Size))
                                                                     for v in input_size):
        sizes = [tuple(v) for v in input_size]
    elif isinstance(input_size, (list, tuple, torch.Size)):
        sizes = [tuple(input_size)]
    else:
        raise RfkitError(f"input_size {input_size!r}: pass (C, H, W) or a list of sizes, one per input")
    for size in sizes:
        if not all(isinstance(v, int) and not isinstance(v, bool) or isinstance(v, torch.SymInt) for v in size):
            raise RfkitError(f"input size {size}: sizes must be whole numbers, e.g. (1, 28, 28)")
        if any(v <= 0 for v in size):
            raise RfkitError(f"input size {size} has a non-positive entry; sizes must be positive")
        if math.prod(size) >= 2 ** 62:
            raise RfkitError(f"input size {size} has more elements than a tensor can hold; check the sizes")
    return sizes


def _dtypes(dtypes, n: int, default: torch.dtype) -> list[torch.dtype]:
    if dtypes is None:
        return [default] * n
    listed = list(dtypes) if isinstance(dtypes, (list, tuple)) else [dtypes]
    if not all(isinstance(d, torch.dtype) for d in listed):
        raise RfkitError(f"dtypes {dtypes!r}: pass torch dtypes, e.g. [torch.float32, torch.long]")
    if len(listed) == 1:
        listed *= n
    if len(listed) != n:
        raise RfkitError(f"{len(listed)} dtypes for {n} inputs: give one dtype per input")
    return listed


def _forward_names(model: nn.Module, n: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input{i}" for i in range(n)]


def _tensor_names(arg_names: list[str], args: tuple, kwargs: dict) -> list[str]:
    """A name per tensor, in `Inputs.tensors` order: the forward's parameter or the keyword, then the
    path inside a container (`batch['image']`)."""
    tops = list(arg_names) + list(kwargs)
    return [tops[path[1].idx] + pytree.keystr(path[2:]) if path[0].idx == 0 else path[1].key + pytree.keystr(path[2:])
            for path, leaf in pytree.tree_leaves_with_path((args, kwargs)) if isinstance(leaf, torch.Tensor)]


def _inputs(model: nn.Module, input_size, input, dtypes, batch_size: int, rf_input) -> Inputs:
    if input is not None:
        if isinstance(input, torch.Tensor):
            args, kwargs = (input,), {}
        elif isinstance(input, dict):
            args, kwargs = (), dict(input)
        elif isinstance(input, (list, tuple)):
            args, kwargs = tuple(input), {}
        else:
            raise RfkitError(f"input of type {type(input).__name__}: pass a tensor, a tuple of arguments or a dict "
                             f"of keyword arguments (tensors, or lists, tuples and dicts of tensors)")
        names = _tensor_names(_forward_names(model, len(args)), args, kwargs)  # none: a forward of no tensor
    else:
        if input_size is None:
            raise RfkitError("no input size: pass input_size=(C, H, W) or input=tensor")
        sizes = _sizes(input_size)
        kinds = _dtypes(dtypes, len(sizes), model_dtype(model))
        args = tuple(torch.zeros((batch_size, *size), dtype=d, device="meta") for size, d in zip(sizes, kinds))
        kwargs, names = {}, _forward_names(model, len(args))
    tensors = Inputs(args, kwargs, names, None).tensors
    if isinstance(rf_input, str):
        if rf_input not in names:
            raise RfkitError(f"rf_input={rf_input!r} names no input; inputs: {', '.join(names)}")
        rf_index = names.index(rf_input)
    elif rf_input is not None:
        if not isinstance(rf_input, int) or not -len(tensors) <= rf_input < len(tensors):
            raise RfkitError(f"rf_input={rf_input!r}: pass an input index below {len(tensors)} or one of "
                             f"{', '.join(names)}")
        rf_index = rf_input % len(tensors)
    else:
        rf_index = next((i for i, t in enumerate(tensors) if t.dim() >= 3 and t.is_floating_point()), None)
    return Inputs(args, kwargs, names, rf_index)


def unwrapped(model: nn.Module) -> tuple[nn.Module, str | None]:
    """The module inside torch.compile's, DataParallel's and DistributedDataParallel's wrappers."""
    notes = []
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, nn.Module) and type(model).__name__ == "OptimizedModule":
            notes.append("torch.compile wrapper")
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            inner = model.module
            notes.append(f"{type(model).__name__} wrapper")
        else:
            break
        model = inner
    return model, f"traced the module inside its {' and '.join(notes)}" if notes else None


def _has_lazy(tree: stats.ModuleTree) -> bool:
    return any(isinstance(m, nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params()
               for m in tree.modules)


# device="auto" runs a real CPU pass below this many (input elements x parameters): there the
# CPU kernels beat meta's per-op Python (benchmarks/analysis.py measures both sides).
AUTO_CPU_LIMIT = 10**9
# A meta pass that fails falls back to a real CPU pass only for inputs up to this size: a huge
# input with a genuine error (wrong channels) must not try to allocate gigabytes.
FALLBACK_INPUT_LIMIT = 64 * 2**20


def _auto_device(tree: stats.ModuleTree, inputs: Inputs) -> str:
    """CPU for small passes whose weights live on the CPU, else meta."""
    if _model_device(tree.model).type != "cpu" or any(t.device.type not in ("cpu", "meta") for t in inputs.tensors):
        return "meta"
    cost = sum(t.numel() for t in inputs.tensors) * tree.numel(tree.model)
    return "cpu" if cost <= AUTO_CPU_LIMIT else "meta"


def _real(inputs: Inputs, device: torch.device) -> Inputs:
    return inputs.map(lambda t: torch.zeros(t.shape, dtype=t.dtype, device=device) if t.device.type == "meta" else t)


def trace(model: nn.Module, input_size=None, *, input=None, dtypes=None, device: str = "auto",
          batch_size: int = 1, spatial: int | None = None, rf_input: int | str | None = None) -> Report:
    """Trace `model` on inputs of `input_size` ((C, H, W), or a list of sizes for several inputs; `dtypes`
    one per input, e.g. torch.long for token ids) or on the tensors `input` (a tensor, a tuple of
    tensors, or a dict of tensors passed as keyword arguments).

    The RF is measured in one input: `rf_input` (index or name; default the first floating input with
    spatial dims); shapes, params and MACs cover the whole model. `spatial` is the number of trailing
    spatial dims of that input (default: all dims after batch and channel).
    `device`: "meta" (no arithmetic, no weight copies), a real device, or "auto": meta, except a real
    CPU pass where that is faster (small models whose weights are on the CPU). On meta, an op with no
    meta kernel makes the trace fall back to a real CPU pass, said in `Report.fallback`. Every path
    gives the same report, and none writes the model's tensors: real passes run on copies.
    """
    if not isinstance(model, nn.Module):
        raise RfkitError(f"expected an nn.Module, got {type(model).__name__}")
    device = parse_device(device, "device=")
    model, wrapper_note = unwrapped(model)
    name = stats.kind_of(model)
    inputs = _inputs(model, input_size, input, dtypes, batch_size, rf_input)
    rf_tensor = inputs.rf_tensor
    spatial = max(rf_tensor.dim() - 2, 0) if spatial is None and rf_tensor is not None else spatial or 0
    notes = [wrapper_note] if wrapper_note else []
    tree = stats.ModuleTree(model)
    if _has_lazy(tree):
        model = _initialised_copy(model, inputs)
        tree = stats.ModuleTree(model)
        notes.append("lazy modules initialised on a private copy (your model is left uninitialised)")
    target = torch.device(_auto_device(tree, inputs) if device == "auto" else device)
    if target.type != "meta":
        report = _run(tree, _real(inputs, target), target, spatial, name)
        if device == "auto":
            notes.append("a real CPU pass: faster than meta at this size")
        report.device_note = "; ".join(notes) or None
        return report
    try:
        report = _run(tree, inputs.map(lambda t: t.to("meta")), target, spatial, name)
        report.device_note = "; ".join(notes) or None
        return report
    except TraceError as err:
        too_big = sum(t.numel() * t.element_size() for t in inputs.tensors) > FALLBACK_INPUT_LIMIT
        if err.cause is None or _SHAPE_ERROR.search(str(err.cause)) or _model_device(model).type == "meta" \
                or too_big:
            raise  # a genuine error, or no weights for a real pass, or an input too big to try one
        reason = str(err)
    report = _run(tree, _real(inputs, torch.device("cpu")), torch.device("cpu"), spatial, name)
    report.fallback = f"meta pass failed ({reason}); traced with a real CPU pass"
    report.device_note = "; ".join(notes) or None
    return report


def _initialised_copy(model: nn.Module, inputs: Inputs) -> nn.Module:
    """A deep copy whose lazy modules one real CPU pass has initialised (the user's stays as it was, and so
    does the global random state the initialisation draws from)."""
    fresh = {id(b): type(b)(b.requires_grad, b.device, b.dtype) for b in model.buffers() if nn.parameter.is_lazy(b)}
    twin = copy.deepcopy(model, fresh).cpu()  # torch's UninitializedBuffer (LazyBatchNorm) cannot deep-copy itself
    real = _real(inputs, torch.device("cpu")).map(lambda t: t.cpu())
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            twin.eval()(*real.args, **real.kwargs)
    except Exception as exc:
        raise TraceError(f"initialising the lazy modules of {type(model).__name__} failed: "
                         f"{type(exc).__name__}: {_first_line(exc)}", cause=exc) from exc
    return twin
