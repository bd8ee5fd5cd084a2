"""PNG figures drawn from numbers already computed (matplotlib figures without pyplot: no
backend switch and no global figure state, so a notebook's inline plots keep working): the
effective receptive field (`plot_erf`, from an ErfResult or its `to_dict()`, so
rfkit.analysis.erf needs no matplotlib) and accuracy against parameters over run
directories (`plot_runs`). Files are written atomically (temporary file, rename).

ERF, 2-D: the map as a log-scale heatmap, the theoretical RF box as a rectangle, the
centre pixel marked, and optionally the input image beside it. 1-D: the map as a
profile with the box shaded (and the input signal below when given).
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _numbers(result) -> dict:
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    if data.get("schema") != "rfkit.erf/1":
        raise ValueError(f"expected an rfkit.erf/1 result, got schema {data.get('schema')!r}")
    return data


def _reduce(image, spatial: int, mode: str) -> np.ndarray:
    """A batch (N, C, *spatial), one sample (C, *spatial) or (*spatial) -> (C, *spatial)."""
    a = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float64)
    if a.ndim == spatial + 2:  # a batch
        a = a.mean(axis=0) if mode == "mean" else a[0]
    if a.ndim == spatial:
        a = a[None]
    return a  # (C, *spatial)


def _summary(data: dict) -> str:
    ratios = ", ".join(f"{t}: {v:.3f}" for t, v in data["area_ratio"].items())
    share = data["in_rf_share"]
    share_text = "n/a" if share is None else f"{share:.4f}"
    rf = "x".join("?" if r is None else f"{r:g}" for r in data["rf"])
    return (f"theoretical RF {rf}, ERF mass inside it {share_text}\n"
            f"area ratio (share of the input holding mass t): {ratios}")


def save(fig, path: Path):
    """`fig` to the PNG `path` via a temporary file (a reader never sees half a PNG)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def plot_erf(result, path, *, image=None, image_mode: str = "mean", title: str | None = None) -> Path:
    """Draw the ERF of `result` (ErfResult or its to_dict()) to the PNG `path`.

    `image`: the inputs (a batch, reduced by `image_mode` "mean" or "first", or one sample)
    shown beside the map. Returns the path.
    """
    data = _numbers(result)
    m = np.asarray(data["map"], dtype=np.float64)
    title = title or f"ERF of {data['layer']} ({data['samples']} samples)"
    shown = None
    if image is not None:
        shown = _reduce(image, m.ndim, image_mode)
        if shown.shape[1:] != m.shape:
            raise ValueError(f"image of spatial shape {shown.shape[1:]} does not match the map's {m.shape}")
    if m.ndim == 1:
        fig = _profile(m, data, shown, image_mode)
    elif m.ndim == 2:
        fig = _heatmap(m, data, shown, image_mode)
    else:
        raise ValueError(f"only 1-D and 2-D maps are drawn, got {m.ndim}-D")
    fig.suptitle(f"{title}\n{_summary(data)}", fontsize=9)
    save(fig, Path(path))
    return Path(path)


def _heatmap(m: np.ndarray, data: dict, shown, image_mode: str):
    cols = 2 if shown is not None else 1
    fig = Figure(figsize=(4.8 * cols, 5.0), layout="constrained")
    axes = fig.subplots(1, cols, squeeze=False)
    ax = axes[0, 0]
    positive = m[m > 0]
    vmax = float(positive.max())
    vmin = max(float(positive.min()), vmax * 1e-8)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="black")
    im = ax.imshow(np.ma.masked_less_equal(m, 0), cmap=cmap, norm=LogNorm(vmin=vmin, vmax=vmax),
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of gradient mass (log)")
    box = data["rf_box"]
    if all(b is not None for b in box):
        (r0, r1), (c0, c1) = box
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor="cyan",
                               linewidth=1.5, linestyle="--", label="theoretical RF"))
        ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    h, w = m.shape
    ax.plot([w // 2], [h // 2], marker="+", color="cyan", markersize=8)
    ax.set(title="effective RF (|gradient|)", xlabel="W", ylabel="H")
    if shown is not None:
        img_ax = axes[0, 1]
        if shown.shape[0] == 3:
            rgb = shown.transpose(1, 2, 0)
            lo, hi = rgb.min(), rgb.max()
            img_ax.imshow((rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb), interpolation="nearest")
        else:
            img_ax.imshow(shown.mean(axis=0), cmap="gray", interpolation="nearest")
        if all(b is not None for b in box):
            (r0, r1), (c0, c1) = box
            img_ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                                       edgecolor="cyan", linewidth=1.5, linestyle="--"))
        img_ax.set(title=f"input ({'mean of the samples' if image_mode == 'mean' else 'first sample'})",
                   xlabel="W", ylabel="H")
    return fig


def _profile(m: np.ndarray, data: dict, shown, image_mode: str):
    rows = 2 if shown is not None else 1
    fig = Figure(figsize=(7, 2.8 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)
    ax = axes[0, 0]
    x = np.arange(len(m))
    box = data["rf_box"][0]
    if box is not None:
        ax.axvspan(box[0] - 0.5, box[1] + 0.5, color="tab:cyan", alpha=0.25, label="theoretical RF")
    ax.plot(x, m, marker=".", color="tab:purple", label="ERF")
    ax.axvline(len(m) // 2, color="grey", linewidth=0.8, linestyle=":")
    ax.set(ylabel="share of gradient mass", title="effective RF (|gradient|)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if shown is not None:
        sig = axes[1, 0]
        for c, channel in enumerate(shown):
            sig.plot(x, channel, linewidth=0.8, label=f"channel {c}" if len(shown) > 1 else None)
        if box is not None:
            sig.axvspan(box[0] - 0.5, box[1] + 0.5, color="tab:cyan", alpha=0.25)
        sig.set(ylabel="input", title=f"input ({'mean of the samples' if image_mode == 'mean' else 'first sample'})")
        sig.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("L")
    return fig


def plot_runs(rows, path, *, title: str | None = None) -> Path:
    """Best test accuracy against parameters, one labelled point per run, coloured by the ERF area
    ratio at t = 0.5 (grey: no erf.json). `rows`: RunRow-like objects (rfkit.train.runs)."""
    shown = [r for r in rows if r.params is not None and r.best_test_acc is not None]
    if not shown:
        raise ValueError("no run has both a parameter count and a test accuracy to plot")
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    known = [r for r in shown if r.erf_area_50 is not None]
    if known:
        points = ax.scatter([r.params for r in known], [r.best_test_acc for r in known],
                            c=[100 * r.erf_area_50 for r in known], cmap="viridis", s=60, edgecolors="black",
                            linewidths=0.5, zorder=3)
        fig.colorbar(points, ax=ax, label="ERF area ratio at t = 0.5 (% of the input)")
    missing = [r for r in shown if r.erf_area_50 is None]
    if missing:
        ax.scatter([r.params for r in missing], [r.best_test_acc for r in missing], color="lightgrey", s=60,
                   edgecolors="black", linewidths=0.5, zorder=3, label="no erf.json")
        ax.legend(fontsize=7, loc="lower right")
    for r in shown:
        ax.annotate(Path(r.run_dir).name, (r.params, r.best_test_acc), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    if max(r.params for r in shown) > 20 * min(r.params for r in shown):
        ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel="best test accuracy (%)",
           title=title or f"{len(shown)} run(s): accuracy against parameters")
    ax.grid(alpha=0.3)
    save(fig, Path(path))
    return Path(path)


def plot_front(data: dict, path) -> Path:
    """A design study (`rfkit.design/1`): best validation accuracy against parameters for every trained
    trial (complete, and pruned at the accuracy it had), the Pareto front joined, the parameter budget
    as a line; infeasible trials as crosses on the bottom edge at their parameter count. Beside it, the
    front close up: the trials within a point of accuracy of it, where the whole study's scale (a
    pruned trial at 60%, a rejection at 30,000 parameters) would squeeze it into a corner."""
    trials = data["trials"]
    trained = [t for t in trials if t["best_acc"] is not None]
    front = sorted((t for t in trials if t["number"] in set(data["front"])), key=lambda t: t["params"])
    fig = Figure(figsize=(11, 4.8) if front else (7.5, 4.8), layout="constrained")
    axes = fig.subplots(1, 2 if front else 1, squeeze=False)[0]
    limit = data["constraints"].get("max_params")
    for ax in axes:
        for state, style in (("complete", dict(color="tab:blue", s=28)), ("pruned", dict(color="lightgrey", s=18))):
            shown = [t for t in trained if t["state"] == state]
            if shown:
                ax.scatter([t["params"] for t in shown], [t["best_acc"] for t in shown],
                           label=f"{state} ({len(shown)})", edgecolors="black", linewidths=0.4, zorder=3, **style)
        if front:
            ax.plot([t["params"] for t in front], [t["best_acc"] for t in front], color="tab:orange", marker="o",
                    label="Pareto front", zorder=4)
        if limit is not None:
            ax.axvline(limit, color="tab:red", linestyle="--", linewidth=1, label=f"--max-params {limit:,}")
        ax.grid(alpha=0.3)
    whole = axes[0]
    low = min((t["best_acc"] for t in trained), default=90.0)
    infeasible = [t for t in trials if t["state"] == "infeasible" and t["params"] is not None]
    if infeasible:
        whole.scatter([t["params"] for t in infeasible], [low] * len(infeasible), marker="x", color="tab:red",
                      label=f"rejected by the trace ({len(infeasible)})", zorder=2)
    whole.set(xlabel="parameters", ylabel=f"best validation accuracy (%), {data['epochs']} epochs",
              title=f"rfkit design {data['study']}: {len(trials)} trial(s)")
    if whole.get_legend_handles_labels()[0]:
        whole.legend(fontsize=7, loc="lower right")
    if front:
        close = axes[1]
        floor = min(t["best_acc"] for t in front) - 1.0
        near = [t for t in trained if t["best_acc"] >= floor]
        top = max(t["best_acc"] for t in front)
        right = max([t["params"] for t in near] + ([limit] if limit is not None else []))
        close.set_xlim(min(t["params"] for t in near) * 0.95, right * 1.03)
        close.set_ylim(floor, top + 0.15 * (top - floor))
        for i, t in enumerate(front):  # labels above and below the line in turn: neighbours do not collide
            close.annotate(f"{t['number']}: {t['best_acc']:.2f}%", (t["params"], t["best_acc"]), ha="center",
                           textcoords="offset points", xytext=(0, 8 if i % 2 else -14), fontsize=7)
        close.set(xlabel="parameters", title="the front close up (trial: best validation accuracy)")
    save(fig, Path(path))
    return Path(path)
