"""What a trace produces, as plain data: layers (one per traced op, per-axis RF
columns), module calls, per-module statistics and the report that holds them.
Nothing here runs a model; renderers read these objects and nothing else."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from rfkit.analysis import rf
from rfkit.analysis.rf import AxisRF

AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _no_views():
    raise RuntimeError("a Report displays itself through rfkit.output; import rfkit first")


# The module that renders a Report (rfkit.output.views), given by `import rfkit`: analysis never
# imports the output layer, which sits above it.
views = _no_views


class Category(str, Enum):
    """What an op does to receptive fields (the rule's category)."""

    KERNEL = "kernel"
    GLOBAL = "global"
    POINTWISE = "pointwise"
    MERGE = "merge"
    RESHAPE = "reshape"
    SELECT = "select"
    RESAMPLE = "resample"
    ATTENTION = "attention"
    UNKNOWN = "unknown"
    NO_RF = "no-rf"  # an op on inputs the RF is not measured in (a second input's branch)

    def __str__(self) -> str:
        return self.value


class Measured:
    """A report's measurement (a tuple per axis or an int) that remembers its report,
    so that a failed `assert report.rf == (28, 28)` can print the table behind it."""

    report = None
    what = ""

    @classmethod
    def of(cls, value, report: "Report", what: str):
        kind = _MeasuredTuple if isinstance(value, tuple) else _MeasuredInt
        out = kind(value)
        out.report, out.what = report, what
        return out


class _MeasuredTuple(Measured, tuple):
    pass


class _MeasuredInt(Measured, int):
    pass


@dataclass(unsafe_hash=True)  # hashable (users compare axes with set()); not frozen: a frozen __init__ costs 2x
class AxisRow:
    """One layer along one spatial axis: the columns of an RF table."""

    k: int | None
    s: rf.Number | None
    p: rf.Number | None
    d: int | None
    n_in: int
    n_out: int
    r_in: rf.Number | None
    j_in: rf.Number
    r_out: rf.Number | None
    j_out: rf.Number
    start: rf.Number
    r_min: rf.Number | None
    exact: bool


@dataclass
class Layer:
    """One traced op. `name` is the module path for the single op of a leaf
    module, else `[owner.]F.op#n`; per-axis columns are tuples (one per axis)."""

    index: int
    name: str
    kind: str
    op: str
    module: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    rule: Category
    axes: tuple[AxisRow, ...]
    note: str = ""
    in_bytes: int = 0
    out_bytes: int = 0
    params: int = 0  # parameters of the leaf module this op is (0 for functional ops)
    macs: int = 0  # multiply-accumulates of the op (rfkit.analysis.macs)

    def _col(self, column: str) -> tuple:
        return tuple(getattr(a, column) for a in self.axes)

    def __getattr__(self, column: str):
        if column in AxisRow.__dataclass_fields__:
            return self._col(column)
        raise AttributeError(column)

    @property
    def changes_rf(self) -> bool:
        return self.rule == Category.KERNEL or any(
            (a.r_in, a.j_in) != (a.r_out, a.j_out) or a.n_in != a.n_out for a in self.axes)


@dataclass
class ModuleCall:
    """One call of one module: what torchinfo and torchsummary print a row for."""

    name: str
    kind: str
    depth: int
    order: int  # completion order (torchsummary numbers rows so)
    start: int  # call order (torchinfo lists rows so)
    is_leaf: bool
    in_shapes: tuple[tuple[int, ...], ...]
    out_shapes: tuple[tuple[int, ...], ...]
    layers: tuple[int, ...]  # indices of the ops traced inside this call
    out_rf: tuple[AxisRF, ...] | None
    shown_out: tuple[tuple[int, ...], int]  # torchinfo's view of the output: (shape, bytes per element)


@dataclass(unsafe_hash=True)
class ModuleStats:
    """One module call as summaries print it, with the numbers each summary convention needs
    (collected during the trace, so that no renderer reads the model)."""

    call: ModuleCall
    params: int  # own parameters first seen here (recurse=False)
    shared: int  # own parameters already counted at an earlier module
    trainable: int
    total_params: int  # this module's subtree, each tensor once
    macs: int  # every op run inside this call
    is_container: bool  # Sequential or ModuleList: torchsummary prints no row for them
    weight_bias_params: int  # torchsummary's count: numel of `weight` and `bias` only
    weight_trainable: bool  # torchsummary asks the weight alone


@dataclass(unsafe_hash=True)
class TorchinfoRow:
    """One row of torchinfo 1.8's summary list: a module call, or a never-called ancestor
    (ModuleList, ModuleDict, a skipped parent) that torchinfo inserts above its members.
    Numbers follow torchinfo's conventions (rfkit.analysis.stats.torchinfo_summary)."""

    kind: str  # class name ("Linear" also for a LazyLinear, materialised by then)
    depth: int  # torchinfo's depth: the module's last place in the module tree
    index: int  # the "-idx" of "depth-idx": a running count per depth over the whole list
    shape: tuple[int, ...]  # output shape shown; () prints "--" (never called, 0-dim, no tensor)
    params: int  # the subtree's parameters, each tensor once per module, pruned weights by mask
    trainable: int
    leftover: int  # params not in any (non-recursive) descendant row's count; may be negative
    is_leaf: bool  # no child modules at all (a module tree property, not what ran)
    recursive: bool  # the module already had a row


@dataclass(frozen=True)
class TorchinfoSummary:
    """torchinfo 1.8's rows and totals, kept so that `--style torchinfo` reproduces its text.
    Its totals are not rfkit's: shared weights count once per module, a negative leftover
    hides a root's own parameters, attention counts no mult-adds (docs/summaries.md)."""

    rows: tuple[TorchinfoRow, ...]
    total_params: int
    trainable_params: int
    mult_adds: int
    input_bytes: int  # sys.getsizeof of each input's storage: its bytes plus the storage object
    forward_backward_bytes: int  # 2 x output bytes of every leaf row with parameters
    param_bytes: int  # parameters of non-recursive leaf rows only


@dataclass
class Report:
    """What one trace found: plain data. Totals are stored at trace time, never recomputed from the model."""

    model_name: str
    input_shape: tuple[int, ...]
    layers: list[Layer]
    modules: list[ModuleCall]
    module_stats: list[ModuleStats]
    output: tuple[AxisRF, ...]
    output_dims: tuple[int | None, ...]
    output_shape: tuple[int, ...]
    device: str
    total_params: int
    total_trainable_params: int
    param_bytes: int
    input_bytes: int  # every input's bytes
    torchinfo: TorchinfoSummary  # torchinfo 1.8's rows and totals, for --style torchinfo
    input_shapes: tuple[tuple[int, ...], ...] = ()  # every input, positional then keyword
    input_names: tuple[str, ...] = ()
    rf_input: str | None = None  # the input the RF is measured in (input_shape is its shape)
    fallback: str | None = None
    device_note: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def params(self) -> int:
        """Parameters, each tensor counted once (shared and tied weights too)."""
        return Measured.of(self.total_params, self, "params")

    @property
    def trainable_params(self) -> int:
        return Measured.of(self.total_trainable_params, self, "trainable params")

    @property
    def macs(self) -> int:
        return Measured.of(sum(layer.macs for layer in self.layers), self, "MACs")

    @property
    def training_activation_bytes(self) -> int:
        """Every op output kept for the backward pass: an upper bound of training activation memory."""
        return sum(layer.out_bytes for layer in self.layers)

    @property
    def inference_activation_bytes(self) -> int:
        """The largest single op's inputs plus outputs: the least an inference pass must hold at once."""
        return max((layer.in_bytes + layer.out_bytes for layer in self.layers), default=0)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES.get(len(self.output), tuple(f"x{i}" for i in range(len(self.output))))

    @property
    def rf(self) -> tuple:
        return Measured.of(tuple(a.r for a in self.output), self, "RF")

    @property
    def jump(self) -> tuple:
        return Measured.of(tuple(a.j for a in self.output), self, "jump")

    @property
    def start(self) -> tuple:
        return Measured.of(tuple(a.start for a in self.output), self, "start")

    @property
    def spatial_size(self) -> tuple[int, ...]:
        return tuple(self.input_shape[len(self.input_shape) - len(self.output):])

    @property
    def coverage(self) -> tuple:
        """Share of the input, per axis, that the output's RF covers (RF clipped to the image)."""
        return tuple(_covered(a, n) for a, n in zip(self.output, self.spatial_size))

    @property
    def first_global(self) -> Layer | None:
        """The first op that erases position (global pooling, flatten + Linear, attention)."""
        return next((l for l in self.layers if l.rule in (Category.GLOBAL, Category.ATTENTION)), None)

    @property
    def rf_before_global(self) -> tuple | None:
        """RF per axis entering the first global op: what a unit sees while position still exists."""
        layer = self.first_global
        return layer.r_in if layer is not None else None

    def __repr__(self) -> str:
        return views().report_repr(self)

    def __str__(self) -> str:
        """The RF table exactly as `rfkit table` prints it (plain text)."""
        return views().report_text(self)

    def _repr_html_(self) -> str:
        return views().report_html(self)

    def _repr_markdown_(self) -> str:
        """Seed 002's markdown RF table (`rfkit table --format markdown`), for frontends that prefer it."""
        return views().report_markdown(self)

    def to_dict(self, all_rows: bool = False) -> dict:
        """The `rfkit.table/1` document (docs/json-schema.md); `all_rows`: every op, not only RF-changing ones."""
        return views().report_dict(self, all_rows)

    def to_json(self, all_rows: bool = False) -> str:
        """What `rfkit table --format json` prints."""
        return views().report_json(self, all_rows)

    def to_pandas(self, all_rows: bool = False):
        """A DataFrame of the CSV schema: one row per layer and spatial axis (needs `rfkit[pandas]`)."""
        return views().report_pandas(self, all_rows)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers: {', '.join(l.name for l in self.layers[:12])}...")

    def rf_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.changes_rf]


def _covered(a: AxisRF, n: int) -> float | None:
    """Fraction of the n input pixels (centres 0..n-1) inside the RF of output position 0."""
    if a.r is None:
        return None
    lo, hi = max(math.ceil(a.lo), 0), min(math.floor(a.hi), n - 1)
    return max(hi - lo + 1, 0) / n


