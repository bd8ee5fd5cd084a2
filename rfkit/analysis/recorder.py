"""The recorder: a `TorchFunctionMode` that sees every torch op of one forward pass (functional
and tensor ops, `x + y` and `torch.cat` included) and global module hooks that see every module
call. Each tensor derived from the RF input carries a `TensorRF` state; an op on such tensors
becomes a `Layer` (its registry record's RF rule and MAC formula applied), each module call a
`ModuleCall`. Subclasses hear of each layer with its tensors through `on_layer` (rfkit's ERF).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from rfkit.analysis import macs, meta, ops, rules, stats
from rfkit.analysis.model_state import preserved, substituted
from rfkit.analysis.ops import OpCall, op_names
from rfkit.analysis.report import AxisRow, Category, Layer, ModuleCall
from rfkit.analysis.rf import AxisRF
from rfkit.analysis.rules import TensorRF

# Queries that return no tensor: answered before any bookkeeping.
_METADATA = frozenset({
    torch.Tensor.dim, torch.Tensor.size, torch.Tensor.numel, torch.Tensor.__len__,
    torch.Tensor.is_floating_point, torch.Tensor.is_complex, torch.Tensor.element_size,
    torch.Tensor.shape.__get__, torch.Tensor.dtype.__get__, torch.Tensor.device.__get__,
    torch.Tensor.ndim.__get__, torch.Tensor.is_nested.__get__, torch.Tensor.requires_grad.__get__,
    torch.Tensor.grad_fn.__get__, torch.Tensor.is_cuda.__get__, torch.Tensor.layout.__get__,
})


@dataclass
class Frame:
    """A module call in progress: its name (`path` or `path#n` when called again), the module, the
    index of the first layer recorded inside it, its inputs' shapes, its place in call order, and
    the layers it owns directly."""

    name: str
    module: nn.Module
    first: int
    in_shapes: tuple
    started: int
    own: list[int] = field(default_factory=list)


# The hooks' own shape and size queries, kept out of the recorder's op interception.
_BOOKKEEPING = torch._C.DisableTorchFunction


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


class Recorder(TorchFunctionMode):
    """Intercepts every torch op; ops on tensors with RF state become layers."""

    def __init__(self):
        super().__init__()
        self.states: dict[int, tuple[torch.Tensor, TensorRF]] = {}
        self.layers: list[Layer] = []
        self.modules: list[ModuleCall] = []
        self.stack: list[Frame] = []
        self.counters: dict[tuple[str, str], int] = {}
        self.calls: dict[str, int] = {}
        self.started = 0
        self.paths: dict[int, tuple[str, bool, bool]] = {}  # id -> (path, is a leaf, is TorchScript)
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
        rule_name, display = op_names(func)
        op = ops.OPS.get(rule_name)
        try:
            result = meta.shortcut(op, display, args, kwargs)
            if result is None:
                result = func(*args, **kwargs)
        except Exception:
            owner = self.stack[-1].name if self.stack else ""
            shapes = ", ".join(str(tuple(t.shape)) for t in arg_tensors)
            self.failed_at = f"{owner + ': ' if owner else ''}{display} on input {shapes}"
            raise
        outputs = tensors_in(result)
        if not stateful:
            for t in outputs:
                self.states[id(t)] = (t, None)
            if outputs:
                self._record_untracked(rule_name, func, args, kwargs, display, arg_tensors, outputs)
            return result
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
        owner = self.stack[-1].name if self.stack else ""
        key = (owner, display)
        self.counters[key] = self.counters.get(key, 0) + 1
        if self.stack:
            self.stack[-1].own.append(len(self.layers))
        return owner, f"{owner + '.' if owner else ''}{display}#{self.counters[key]}"

    def _work(self, func, args: tuple, kwargs: dict):
        """An op on no traced tensor (a table, a grid or a mask made inside `forward`, or the weights
        alone): run it, and where it multiplies (a formula for it exists) record it as a layer, since
        MACs follow the work wherever its operands come from. Inside compiled TorchScript, nothing."""
        result = func(*args, **kwargs)
        rule_name, display = op_names(func)
        op = ops.OPS.get(rule_name)
        if op is not None and op.macs is not None and not self.hidden:
            outputs = tensors_in(result)
            arg_tensors = tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args)
            if outputs and arg_tensors:
                self._record_untracked(rule_name, func, args, kwargs, display, arg_tensors, outputs)
        return result

    def _record_untracked(self, rule_name: str, func, args: tuple, kwargs: dict, display: str, arg_tensors: list,
                          outputs: list):
        """An op on inputs the RF is not measured in: a layer with shapes and MACs but no RF columns."""
        call = OpCall(rule_name, func, args, kwargs, [], *_shapes(arg_tensors, outputs))
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
        self.stack.append(Frame(name, module, len(self.layers), in_shapes, self.started))
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
            frame = self.stack.pop()
            if is_leaf and len(frame.own) == 1:
                layer = self.layers[frame.own[0]]
                layer.name, layer.kind = frame.name, type(module).__name__
                layer.params = sum(stats.numel(p) for _, _, p in self.tree.own[id(module)])
            outs = output_tensors(output)
            state = self.state_of(outs[0]) if outs else None
            self.modules.append(ModuleCall(
                name=frame.name, kind=type(module).__name__, depth=frame.name.count(".") + 1 if frame.name else 0,
                order=len(self.modules) + 1, start=frame.started, is_leaf=is_leaf, in_shapes=frame.in_shapes,
                out_shapes=output_shapes(output, outs),
                layers=tuple(range(frame.first, len(self.layers))), out_rf=state.axes if state else None,
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


@contextlib.contextmanager
def recording(recorder: Recorder, tree: stats.ModuleTree, stand_in):
    """One forward pass under `recorder` (seed its input tensors first): it names the model's modules,
    its global hooks see every module call and its mode every op, the model's parameters and buffers
    are `stand_in(tensor)` for the pass, and everything about the model is as it was after it, also
    when the forward raises. What rfkit's trace and ERF both run; any recorder subclass can."""
    recorder.watch(tree)
    with preserved(tree) as handles:
        handles.append(nn.modules.module.register_module_forward_pre_hook(recorder.on_pre))
        handles.append(nn.modules.module.register_module_forward_hook(recorder.on_post))
        with substituted(tree, stand_in), recorder:
            yield recorder
