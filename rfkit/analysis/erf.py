"""Effective receptive field (Luo et al. 2016, "Understanding the Effective
Receptive Field in Deep CNNs"; the measurement RepLKNet's scripts make).

For a layer's output (N, C, *spatial), the unit at the spatial centre (index
n // 2 on every axis that still has positions) is summed over channels; its
gradient w.r.t. the input, in absolute value, summed over input channels and
averaged over the samples, normalised to sum 1, is the ERF map. Samples are
independent in eval mode, so one backward pass of the sum over the batch of
each sample's own centre unit gives every per-sample gradient at once.

The layer's output is captured by the tracer itself (the recorder of
`rfkit.analysis.tracing`, run for real with autograd on, through its `on_layer`
hook): layer names and indices are exactly those of `rfkit.trace`, modules and
functional ops (`F.max_pool2d#1`, `Tensor.add#1`) alike, and the forward stops
as soon as the layer has run.

The model runs in eval mode on detached copies of its parameters and buffers
(`rfkit.analysis.recorder.recording`; float64 on the CPU): it is left exactly as found,
train/eval flags, hooks, `.grad`, `requires_grad` and values, also when its
forward raises.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

from rfkit.analysis import stats, tracing
from rfkit.analysis.model_state import model_dtype
from rfkit.analysis.recorder import Recorder, recording, tensors_in
from rfkit.analysis.report import Category, Layer, Report
from rfkit.errors import RfkitError, TraceError, one_line

SCHEMA = "rfkit.erf/1"
THRESHOLDS = (0.2, 0.3, 0.5, 0.99)
DEFAULT_SAMPLES = 32
_CHUNK = 32  # samples per forward/backward pass


@dataclass(frozen=True, eq=False)
class ErfResult:
    """The ERF of the centre unit of one layer.

    `map`: float64 tensor over the input's spatial axes, sums to 1.
    `area_ratio`: {t: area share} for t in THRESHOLDS: the smallest square (segment in 1-D,
    cube in 3-D) of side 2i + 1 centred on the input's centre pixel (index n // 2 per axis),
    clipped to the image, holding at least t of the map, as a share of the input area.
    `in_rf_share`: share of the map inside `rf_box` (None when an axis's RF is unknown).
    `layer`: the layer's name in the trace (for the default, the op whose output enters the
    first global op; "input of NAME" when that tensor is no traced layer's output).
    `rf_box`: per axis, (first, last) input index of the theoretical RF of the centre unit,
    clipped to the image, rounded outward (None for an axis with unknown RF).
    `rf`: theoretical RF size per axis (None where unknown).
    `samples`: number of input samples N. `input_shape`: (N, C, *spatial).
    """

    map: torch.Tensor
    area_ratio: dict
    in_rf_share: float | None
    layer: str
    rf_box: tuple
    rf: tuple
    samples: int
    input_shape: tuple

    def to_dict(self) -> dict:
        """JSON-ready numbers under the schema "rfkit.erf/1" (docs/json-schema.md)."""
        return {
            "schema": SCHEMA,
            "layer": self.layer,
            "samples": self.samples,
            "input_shape": list(self.input_shape),
            "rf": [_json_number(r) for r in self.rf],
            "rf_box": [None if b is None else [int(b[0]), int(b[1])] for b in self.rf_box],
            "in_rf_share": self.in_rf_share,
            "area_ratio": {_key(t): v for t, v in self.area_ratio.items()},
            "map": self.map.tolist(),
        }


def _key(t: float) -> str:
    return f"{t:g}"


def _json_number(x):
    if x is None:
        return None
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


class _Stop(BaseException):
    """Ends the forward once the layer has run (BaseException: a model's `except Exception` can't swallow it)."""


class _Capture(Recorder):
    """The tracer's recorder, remembering which traced op made each tensor and keeping
    the output (or the first position-carrying input) of the op with index `index`.

    With `want_input`, an input whose positions are folded (the flatten before a Linear)
    is followed back through the ops that folded it, to the last tensor with positions."""

    def __init__(self, index: int | None, want_input: bool):
        super().__init__()
        self.index, self.want_input = index, want_input
        self.captured: torch.Tensor | None = None
        self.made_by: dict[int, tuple[torch.Tensor, int]] = {}
        self.first_input: dict[int, torch.Tensor] = {}

    def producer(self, t: torch.Tensor) -> int | None:
        entry = self.made_by.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def on_layer(self, layer: Layer, inputs: list[torch.Tensor], outputs: list[torch.Tensor]):
        for t in outputs:
            self.made_by[id(t)] = (t, layer.index)
        if self.want_input and inputs:
            self.first_input[layer.index] = inputs[0]
        if layer.index == self.index:
            self.captured = self._unfolded(inputs[0]) if self.want_input else outputs[0]
            raise _Stop

    def _unfolded(self, t: torch.Tensor) -> torch.Tensor:
        while (state := self.state_of(t)) is not None and any(state.folded):
            made = self.producer(t)
            if made is None or made not in self.first_input:
                break
            t = self.first_input[made]
        return t


def _batch(inputs, samples) -> torch.Tensor:
    if samples is not None and int(samples) <= 0:
        raise RfkitError(f"samples must be positive, got {samples}")
    if isinstance(inputs, torch.Tensor):
        x = inputs.detach()
        if samples is not None:
            x = x[:int(samples)]
        if x.dim() < 3:
            raise RfkitError(f"inputs must be a batch (N, C, L) or (N, C, H, W), got shape {tuple(x.shape)}; "
                             f"pass an input size (C, H, W) for random inputs")
        return x if x.is_floating_point() else x.double()
    try:
        size = tuple(int(v) for v in inputs)
    except (TypeError, ValueError):
        raise RfkitError(f"inputs must be a tensor (N, C, ...) or an input size (C, ...), got {inputs!r}") from None
    if len(size) < 2 or any(v <= 0 for v in size):
        raise RfkitError(f"input size {size} must be (C, L) or (C, H, W) with positive entries")
    n = DEFAULT_SAMPLES if samples is None else int(samples)
    return torch.randn((n, *size), generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _target(report: Report, layer: str | None) -> tuple[int | None, bool]:
    """(op index, capture its input rather than its output); index None: the model's output."""
    if layer is None:
        first = report.first_global
        return (first.index, True) if first is not None else (None, False)
    for candidate in report.layers:
        if candidate.name == layer:
            if candidate.rule == Category.NO_RF:
                raise RfkitError(f"layer {layer!r} does not depend on the input the RF is measured in; "
                                 f"pick a layer on its path")
            return candidate.index, False
    names = [l.name for l in report.layers]
    close = difflib.get_close_matches(str(layer), names, n=3)
    shown = list(dict.fromkeys(close + names[:6]))
    raise RfkitError(f"no layer {layer!r} in {report.model_name}; valid names include "
                     f"{', '.join(shown)}{', ...' if len(names) > len(shown) else ''} "
                     f"({len(names)} layers: rfkit table --all lists them)")


def _cast_copy(device: torch.device, dtype: torch.dtype):
    """Detached copies in the pass's dtype: no gradient flows to the model's own tensors, and no
    write reaches them."""
    return lambda t: t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype, copy=True)


def _capture(tree: stats.ModuleTree, x: torch.Tensor, index: int | None,
             want_input: bool) -> tuple[torch.Tensor, _Capture]:
    rec = _Capture(index, want_input)
    rec.seed(x, x.dim() - 2)
    output = None
    try:
        with torch.enable_grad(), recording(rec, tree, _cast_copy(x.device, x.dtype)):
            output = tree.model(x)
    except _Stop:
        pass
    if rec.captured is None:
        if index is not None:
            raise RfkitError(f"op #{index} of the trace did not run in the gradient pass")
        floats = [t for t in tensors_in(output) if t.is_floating_point()]
        if not floats:
            raise RfkitError("the model's output holds no floating-point tensor")
        rec.captured = floats[0]
    return rec.captured, rec


def _centre_index(out: torch.Tensor, state) -> tuple:
    index = [slice(None)] * out.dim()
    for d in state.dims:
        if d is not None:
            index[d] = out.shape[d] // 2
    return tuple(index)


def _box(a, n_in: int) -> tuple[int, int] | None:
    """(first, last) input index of the centre unit's theoretical RF, clipped, rounded outward."""
    if a.r is None:
        return None
    centre = Fraction(a.start) + (a.n // 2) * Fraction(a.j)
    half = Fraction(a.r - 1, 2)
    first, last = math.floor(centre - half), math.ceil(centre + half)
    return max(first, 0), min(last, n_in - 1)


def _area_ratio(m: np.ndarray) -> dict:
    shape = m.shape
    centre = [n // 2 for n in shape]
    reach = max(max(c, n - 1 - c) for c, n in zip(centre, shape))
    out, sums = {}, []
    for i in range(reach + 1):
        window = tuple(slice(max(c - i, 0), min(c + i + 1, n)) for c, n in zip(centre, shape))
        area = math.prod(s.stop - s.start for s in window)
        sums.append((float(m[window].sum()), area))
    total = math.prod(shape)
    for t in THRESHOLDS:
        area = next((a for s, a in sums if s >= t), total)
        out[t] = area / total
    return out


def erf(model: nn.Module, inputs, layer: str | None = None, *, samples: int | None = None,
        device="cpu") -> ErfResult:
    """The effective receptive field of `layer`'s centre unit.

    `inputs`: a batch (N, C, L) / (N, C, H, W) (the first `samples` of it when given), or an
    input size (C, ...) for `samples` (default 32) standard-normal inputs from a fixed seed.
    `layer`: a name from `rfkit.trace(model, input_size).layers`; default: the tensor entering
    the first global op (`report.first_global`), followed back through a flatten/view that
    folded its positions (S5Net: `F.relu#4`, not the view before `fc1`), else the model's output.
    `device`: where the gradient pass runs (float64 on the CPU, the model's dtype elsewhere).
    Raises RfkitError for a bad layer name or input, TraceError when the forward fails.
    """
    if not isinstance(model, nn.Module):
        raise RfkitError(f"expected an nn.Module, got {type(model).__name__}")
    model, _ = tracing.unwrapped(model)  # torch.compile / DataParallel: the names the trace gives
    x = _batch(inputs, samples)
    size = tuple(x.shape[1:])
    report = tracing.trace(model, size)
    index, want_input = _target(report, layer)
    device = torch.device(device)
    dtypes = [torch.float64] if device.type == "cpu" else []
    own = model_dtype(model)
    dtypes += [d for d in (own if own.is_floating_point else torch.float32,) if d not in dtypes]

    total = torch.zeros(size[1:], dtype=torch.float64)
    tree = stats.ModuleTree(model)
    name, axes = None, None
    for chunk in x.split(_CHUNK):
        for k, dtype in enumerate(dtypes):
            xc = chunk.to(device=device, dtype=dtype).requires_grad_(True)
            try:
                out, rec = _capture(tree, xc, index, want_input)
                break
            except RfkitError:
                raise
            except Exception as exc:
                if k + 1 < len(dtypes):
                    continue
                raise TraceError(f"forward failed in the gradient pass: {one_line(exc)}", cause=exc) from exc
        dtypes = [dtype]  # the dtype that ran serves the remaining chunks
        state = rec.state_of(out)
        if state is None:
            raise RfkitError("the chosen tensor carries no position (it does not depend on the input's axes)")
        if any(state.folded):
            raise RfkitError(f"positions are folded (flatten/view) at {_name(report, rec, out, index, want_input)}; "
                             f"pick an earlier layer")
        if name is None:
            name, axes = _name(report, rec, out, index, want_input), state.axes
        target = out[_centre_index(out, state)]
        if not target.requires_grad:
            raise RfkitError(f"{name} does not depend on the input through differentiable ops")
        (grad,) = torch.autograd.grad(target.sum(), xc, allow_unused=True)
        if grad is not None:
            total += grad.detach().abs().sum(dim=1).sum(dim=0).to(device="cpu", dtype=torch.float64)
    mass = float(total.sum())
    if not mass > 0 or not math.isfinite(mass):
        raise RfkitError(f"the gradient of {name}'s centre unit is {'zero' if mass == 0 else 'not finite'} "
                         f"for every sample (dead units?); try other inputs or another layer")
    erf_map = total / mass
    spatial = size[1:]
    boxes = tuple(_box(a, n) for a, n in zip(axes, spatial))
    m = erf_map.numpy()
    share = None
    if all(b is not None for b in boxes):
        share = float(m[tuple(slice(b[0], b[1] + 1) for b in boxes)].sum())
    return ErfResult(map=erf_map, area_ratio=_area_ratio(m), in_rf_share=share, layer=name, rf_box=boxes,
                     rf=tuple(a.r for a in axes), samples=int(x.shape[0]), input_shape=tuple(x.shape))


def _name(report, rec: _Capture, out: torch.Tensor, index: int | None, want_input: bool) -> str:
    if index is not None and not want_input:
        return report.layers[index].name
    made = rec.producer(out)
    if made is not None and made < len(report.layers):
        return report.layers[made].name
    if index is not None:
        return f"input of {report.layers[index].name}"
    return "output"
