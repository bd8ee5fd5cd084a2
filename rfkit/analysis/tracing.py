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
import functools
import itertools
import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from rfkit.analysis import macs, rf, rules, stats
from rfkit.analysis.report import AxisRow, Category, Layer, ModuleCall, Report
from rfkit.analysis.rf import AxisRF
from rfkit.analysis.rules import OpCall, TensorRF
from rfkit.errors import TraceError
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


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _tensors(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            if isinstance(item, torch.Tensor):
                out.append(item)
            elif isinstance(item, (list, tuple, dict)):
                out.extend(_tensors(item))
        return out
    if isinstance(obj, dict):
        return _tensors(list(obj.values()))
    return []


class _Recorder(TorchFunctionMode):
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
        self.warnings: list[str] = []
        self.failed_at: str | None = None

    def seed(self, x: torch.Tensor, spatial: int):
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

    def state_of(self, t: torch.Tensor) -> TensorRF | None:
        entry = self.states.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _METADATA or not self._touches_state(args) and not (kwargs and self._touches_state(tuple(kwargs.values()))):
            return func(*args, **kwargs)
        arg_tensors = _tensors(args) + _tensors(kwargs) if kwargs else _tensors(args)
        stateful = [(t, s, pos) for pos, t in enumerate(arg_tensors) if (s := self.state_of(t)) is not None]
        if not stateful:
            return func(*args, **kwargs)
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
        outputs = _tensors(result)
        if not outputs or rule_name in rules.IDENTITY and len(outputs) == 1 and len(stateful) == 1:
            if outputs:
                self.states[id(outputs[0])] = (outputs[0], stateful[0][1])
            return result
        call = OpCall(rule_name, func, args, kwargs, stateful,
                      [tuple(t.shape) for t in arg_tensors], [tuple(t.shape) for t in outputs])
        try:
            outcome = rules.rule_for(rule_name)(call)
        except Exception as exc:  # a rule that cannot read these arguments must not break the trace
            outcome = rules.unknown(call)
            outcome.note = f"RF rule for '{rule_name}' failed ({type(exc).__name__}: {exc})"
        states = list(outcome.states) + [outcome.states[0]] * (len(outputs) - len(outcome.states))
        for t, s in zip(outputs, states):
            if s is not None:
                self.states[id(t)] = (t, s)
        self._record(display, call, outcome, states[0], _nbytes([t for t, _, _ in stateful]), _nbytes(outputs))
        self.on_layer(self.layers[-1], [t for t, _, _ in stateful], outputs)
        return result

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
            return x if in_place else torch.empty_like(x)
        if rule_name == "linear" and len(args) >= 2 and isinstance(args[1], torch.Tensor) and not kwargs:
            return torch.empty((*x.shape[:-1], args[1].shape[0]), dtype=x.dtype, device="meta")
        if rule_name in _BROADCASTING and len(args) == 2 and not kwargs:
            other = args[1]
            if isinstance(other, torch.Tensor) and other.device.type != "meta":
                return None
            shape = torch.broadcast_shapes(x.shape, other.shape) if isinstance(other, torch.Tensor) else x.shape
            if in_place:
                return x if shape == x.shape else None
            return torch.empty(shape, dtype=torch.result_type(x, other), device="meta")
        return None

    def _record(self, display: str, call: OpCall, outcome: rules.Outcome, out: TensorRF | None, in_bytes: int,
                out_bytes: int):
        owner = self.stack[-1][0] if self.stack else ""
        key = (owner, display)
        self.counters[key] = self.counters.get(key, 0) + 1
        name = f"{owner + '.' if owner else ''}{display}#{self.counters[key]}"
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
        if self.stack:
            self.stack[-1][5].append(len(self.layers))
        in_shapes = tuple(call.in_shapes)
        self.layers.append(Layer(
            index=len(self.layers), name=name, kind=display, op=display, module=owner,
            in_shape=call.in_shape, out_shape=call.out_shape, in_shapes=in_shapes,
            rule=Category(outcome.rule), axes=tuple(rows), note=outcome.note, in_bytes=in_bytes,
            out_bytes=out_bytes, macs=macs.count(call.name, in_shapes, call.out_shape)))

    def watch(self, model: nn.Module):
        """Name every module of `model`; the global hooks ignore modules outside it."""
        self.paths = {id(m): (path, next(m.children(), None) is None) for path, m in model.named_modules()}

    def on_pre(self, module, inputs):
        known = self.paths.get(id(module))
        if known is None:
            return
        path = known[0]
        n = self.calls[path] = self.calls.get(path, 0) + 1
        name = path if n == 1 else f"{path}#{n}"
        self.stack.append((name, module, len(self.layers), tuple(tuple(t.shape) for t in _tensors(inputs)),
                           self.started, []))
        self.started += 1

    def on_post(self, module, inputs, output):
        known = self.paths.get(id(module))
        if known is None:
            return
        is_leaf = known[1]
        name, _, first, in_shapes, started, own = self.stack.pop()
        if is_leaf and len(own) == 1:
            layer = self.layers[own[0]]
            layer.name, layer.kind = name, type(module).__name__
            layer.params = sum(p.numel() for p in module.parameters(recurse=False))
        outs = _tensors(output)
        state = self.state_of(outs[0]) if outs else None
        self.modules.append(ModuleCall(
            name=name, kind=type(module).__name__, depth=name.count(".") + 1 if name else 0,
            order=len(self.modules) + 1, start=started, is_leaf=is_leaf, in_shapes=in_shapes,
            out_shapes=tuple(tuple(t.shape) for t in outs),
            layers=tuple(range(first, len(self.layers))), out_rf=state.axes if state else None))


@contextlib.contextmanager
def _preserved(model: nn.Module):
    """Eval mode and (global, temporary) hooks for the trace; every module's flag restored and
    the hooks removed after, also when the forward raises."""
    modes = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        model.eval()
        yield handles
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode


def _model_dtype(model: nn.Module) -> torch.dtype:
    t = next((t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()), None)
    return t.dtype if t is not None else torch.get_default_dtype()


def _model_device(model: nn.Module) -> torch.device:
    t = next(itertools.chain(model.parameters(), model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def _stand_ins(model: nn.Module, device: torch.device) -> dict[str, torch.Tensor]:
    """Parameters and buffers on `device`: free on meta, copies elsewhere."""
    tensors = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers(remove_duplicate=False))}
    if device.type == "meta":
        return {k: torch.empty_like(v, device="meta") for k, v in tensors.items()}
    return {k: v.detach().to(device) for k, v in tensors.items()}


def _run(model: nn.Module, x: torch.Tensor, device: torch.device, spatial: int, name: str) -> Report:
    recorder = _Recorder()
    recorder.watch(model)
    direct = _model_device(model) == device
    stand_ins = None if direct else _stand_ins(model, device)
    x = x.to(device) if x.device != device else x
    with _preserved(model) as handles:
        handles.append(nn.modules.module.register_module_forward_pre_hook(recorder.on_pre))
        handles.append(nn.modules.module.register_module_forward_hook(recorder.on_post))
        recorder.seed(x, spatial)
        try:
            with torch.no_grad(), recorder:
                if direct:
                    output = model(x)
                else:
                    output = torch.func.functional_call(model, stand_ins, (x,), strict=False)
        except Exception as exc:
            partial = _report(recorder, model, x, device, name, output=None)
            where = recorder.failed_at or (recorder.stack[-1][0] if recorder.stack else name)
            raise TraceError(f"forward failed at {where}: {type(exc).__name__}: {_first_line(exc)}",
                             partial=partial, cause=exc) from exc
    return _report(recorder, model, x, device, name, output)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _report(recorder: _Recorder, model, x, device, name, output) -> Report:
    states = [s for t in _tensors(output) if (s := recorder.state_of(t)) is not None]
    if not states:
        states = [next(reversed(recorder.states.values()))[1]] if recorder.states else []
    if states:
        n_axes = len(states[0].axes)
        merged = tuple(rf.union([s.axes[i] for s in states], states[0].axes[i].n).rf for i in range(n_axes))
        dims = states[0].dims
    else:
        merged, dims = (), ()
    unique = stats.unique_params(model)
    return Report(model_name=name, input_shape=tuple(x.shape), layers=recorder.layers, modules=recorder.modules,
                  module_stats=stats.module_rows(model, recorder.modules, recorder.layers), output=merged,
                  output_dims=dims, output_shape=tuple(outs[0].shape) if (outs := _tensors(output)) else (),
                  device=device.type, total_params=sum(p.numel() for p in unique),
                  total_trainable_params=sum(p.numel() for p in unique if p.requires_grad),
                  param_bytes=sum(p.numel() * p.element_size() for p in unique),
                  input_bytes=x.numel() * x.element_size(), warnings=list(dict.fromkeys(recorder.warnings)))


def _input(model: nn.Module, input_size, input, batch_size: int) -> torch.Tensor:
    if input is not None:
        return input
    if input_size is None:
        raise TraceError("no input size: pass input_size=(C, H, W) or input=tensor")
    size = tuple(int(v) for v in input_size)
    if any(v <= 0 for v in size):
        raise TraceError(f"input size {size} has a non-positive entry")
    return torch.zeros((batch_size, *size), dtype=_model_dtype(model), device="meta")


# device="auto" runs a real CPU pass below this many (input elements x parameters): there the
# CPU kernels beat meta's per-op Python (benchmarks/analysis.py measures both sides).
AUTO_CPU_LIMIT = 10**9


def _auto_device(model: nn.Module, x: torch.Tensor) -> str:
    """CPU for small passes whose weights already live on the CPU (no copy), else meta."""
    if _model_device(model).type != "cpu" or x.device.type not in ("cpu", "meta"):
        return "meta"
    cost = x.numel() * sum(p.numel() for p in model.parameters())
    return "cpu" if cost <= AUTO_CPU_LIMIT else "meta"


def trace(model: nn.Module, input_size=None, *, input: torch.Tensor | None = None, device: str = "auto",
          batch_size: int = 1, spatial: int | None = None) -> Report:
    """Trace `model` on an input of `input_size` (C, H, W) (or the tensor `input`).

    `device`: "meta" (no arithmetic, no weight copies), a real device, or
    "auto": meta, except a real CPU pass where that is faster (tiny tensors,
    weights already on the CPU). `spatial` is the number of trailing spatial
    dims (default: all dims after batch and channel). On meta, an op with no
    meta kernel makes the trace fall back to a real CPU pass, said in
    `Report.fallback`. Every path gives the same report.
    """
    if not isinstance(model, nn.Module):
        raise TraceError(f"expected an nn.Module, got {type(model).__name__}")
    x = _input(model, input_size, input, batch_size)
    spatial = max(x.dim() - 2, 0) if spatial is None else spatial
    name = type(model).__name__
    target = torch.device(_auto_device(model, x) if device == "auto" else device)
    if target.type != "meta":
        real = torch.zeros(x.shape, dtype=x.dtype, device=target) if x.device.type == "meta" else x
        report = _run(model, real, target, spatial, name)
        if device == "auto":
            report.device_note = "a real CPU pass: faster than meta at this size (weights already on the CPU)"
        return report
    try:
        return _run(model, x.to("meta") if x.device.type != "meta" else x, target, spatial, name)
    except TraceError as err:
        if err.cause is None or _SHAPE_ERROR.search(str(err.cause)) or _model_device(model).type == "meta":
            raise  # a genuine error, or a model on meta that has no weights for a real pass
        reason = str(err)
    real = x if x.device.type != "meta" else torch.zeros(x.shape, dtype=x.dtype)
    report = _run(model, real, torch.device("cpu"), spatial, name)
    report.fallback = f"meta pass failed ({reason}); traced with a real CPU pass"
    return report
