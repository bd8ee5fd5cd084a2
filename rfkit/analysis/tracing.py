"""Tracing: one forward pass of the model under the recorder (recorder.py), on the `meta` device
by default (no arithmetic, no copy of the weights), or a real device where that is faster or an
op has no meta kernel; the recorder's layers and module calls read back into a `Report`.

The model is left exactly as found (model_state.py): hooks removed, train/eval flags restored,
parameters never moved, cast or written, also when its forward raises.
"""
from __future__ import annotations

import copy
import re

import torch
import torch.nn as nn

from rfkit.analysis import rf, stats
from rfkit.analysis.devices import parse_device
from rfkit.analysis.inputs import Inputs, model_inputs
from rfkit.analysis.model_state import _model_device, model_dtype, stand_in_for
from rfkit.analysis.recorder import Recorder, output_shapes, output_tensors, recording
from rfkit.analysis.report import Report
from rfkit.errors import RfkitError, TraceError

_SHAPE_ERROR = re.compile(r"shape|size mismatch|Expected .*(size|dim|channels)|cannot be multiplied|"
                          r"Given groups|too small|must match|invalid for input of size|out of range", re.I)



def _run(tree: stats.ModuleTree, inputs: Inputs, device: torch.device, spatial: int, name: str) -> Report:
    recorder = Recorder()
    inputs = inputs.map(lambda t: t.to(device) if t.device != device else t)
    for i, t in enumerate(inputs.tensors):
        recorder.seed(t, spatial if i == inputs.rf_index else None)
    try:
        with torch.no_grad(), recording(recorder, tree, stand_in_for(device)):
            output = tree.model(*inputs.args, **inputs.kwargs)
    except Exception as exc:
        if recorder.hidden:  # raised inside a TorchScript module
            recorder.states = recorder.hidden[0]
        partial = _report(recorder, tree, inputs, device, name, output=None)
        where = recorder.failed_at or (recorder.stack[-1].name if recorder.stack else "")
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
    inputs = model_inputs(model, input_size, input, dtypes, batch_size, rf_input, model_dtype(model))
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
