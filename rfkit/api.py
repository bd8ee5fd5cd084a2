"""The Python API a notebook uses: `summary`, `check` and `fit`, each returning an
object that prints as the CLI's text and displays as HTML in Jupyter (`rfkit.trace`'s
Report does the same). Everything heavy (training, pandas, matplotlib, rich) is
imported inside the functions, so `import rfkit` stays light.

    net = Net()
    rfkit.trace(net, (1, 28, 28))                          # the RF table
    rfkit.summary(net, input_size=(1, 28, 28))             # per-module summary
    assert rfkit.check(net, (1, 28, 28), max_params=8_000, min_rf=28)
    rfkit.fit(net, dataset="mnist", epochs=1)              # the trainer of `rfkit train`
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfkit.errors import InputSizeError, RfkitError, optional_import

if TYPE_CHECKING:
    import torch.nn as nn

    from rfkit.analysis.report import Report
    from rfkit.train.config import TrainConfig

STYLES = ("rich", "torchsummary", "torchinfo")


def traced(model: nn.Module, input_size=None, dtypes=None, input=None) -> Report:
    """`rfkit.trace` with a zoo network's own input size and name (its card's) when it has one.
    `input_size`: (C, H, W), or a list of sizes for a model with several inputs; `dtypes` and
    `input` (the tensors themselves, instead of sizes) as in trace."""
    import zoo
    from rfkit.analysis.tracing import trace

    card = zoo.card_of(model)
    if input is not None:
        report = trace(model, input=input, dtypes=dtypes)
    else:
        size = input_size or (card.input_size if card else None)
        if size is None:
            raise InputSizeError(f"{type(model).__name__} is not a zoo network: pass input_size=(C, H, W) "
                                 f"or input=tensors")
        report = trace(model, size, dtypes=dtypes)
    report.model_name = card.name if card else type(model).__name__
    return report


@dataclass(repr=False)
class Summary:
    """A per-module summary in one of three styles; `str()` is what `rfkit summary --style STYLE` prints."""

    report: Report
    style: str = "rich"
    depth: int = 3

    def _rich(self):
        from rfkit.output import summaries

        return summaries.rich_summary(self.report, self.depth)

    def __str__(self) -> str:
        from rfkit.output import render, summaries

        if self.style == "torchsummary":
            return summaries.torchsummary_text(self.report)
        if self.style == "torchinfo":
            return summaries.torchinfo_text(self.report, self.depth)
        return render.text(self._rich())

    def __repr__(self) -> str:
        r = self.report
        return (f"Summary({r.model_name}, {self.style}, {r.total_params:,} params, "
                f"{sum(layer.macs for layer in r.layers):,} MACs)")

    def _repr_html_(self) -> str:
        from rfkit.output import html

        return html.block(html.from_rich(self._rich()) if self.style == "rich" else html.pre(str(self)))

    def to_dict(self) -> dict:
        """The `rfkit.summary/1` document (docs/json-schema.md)."""
        from rfkit.output import summaries

        return summaries.summary_dict(self.report)

    def to_json(self) -> str:
        """What `rfkit summary --format json` prints."""
        from rfkit.output import summaries

        return summaries.summary_json(self.report)

    def to_pandas(self):
        """One row per module call, the keys of `rfkit.summary/1`'s modules (needs `rfkit[pandas]`)."""
        pd = optional_import("pandas", "pandas")
        return pd.DataFrame(self.to_dict()["modules"])


def summary(model: nn.Module, input_size=None, style: str = "rich", depth: int = 3, dtypes=None,
            input=None) -> Summary:
    """Per-module shapes, params, MACs, memory and RF: `rfkit summary` for a model object.

    `style`: "rich" (rfkit's table), "torchinfo" (torchinfo 1.8's layout) or
    "torchsummary" (torchsummary 1.5.1, byte for byte); `depth`: deepest module level shown;
    `input_size`, `dtypes` and `input` as in `rfkit.trace` (zoo networks know their size).
    """
    if style not in STYLES:
        raise RfkitError(f"style {style!r}: choose one of {', '.join(STYLES)}")
    if depth < 0:
        raise RfkitError(f"depth must be 0 or more, got {depth}")
    return Summary(traced(model, input_size, dtypes, input), style, depth)


@dataclass(repr=False)
class CheckResult:
    """Budget checks of one model: truthy when every check passes."""

    name: str
    checks: list
    report: Report

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list:
        return [c for c in self.checks if not c.passed]

    def __bool__(self) -> bool:
        return self.passed

    def _table(self):
        from rfkit.output import render

        return render.checks_table(self.name, self.checks)

    def __str__(self) -> str:
        from rfkit.output import render

        return render.text(self._table())

    def __repr__(self) -> str:
        shown = "; ".join(f"{c.name} {c.measured} {c.limit}" for c in self.checks)
        return f"CheckResult({self.name}: {'pass' if self.passed else 'FAIL'}, {shown})"

    def _repr_html_(self) -> str:
        from rfkit.output import html

        return html.block(html.from_rich(self._table()))

    def to_dict(self) -> dict:
        """The `rfkit.check/1` document."""
        from rfkit.output import render

        return render.checks_dict(self.name, self.checks)

    def to_json(self) -> str:
        """What `rfkit check --format json` prints."""
        from rfkit.output import render

        return render.checks_json(self.name, self.checks)

    def to_pandas(self):
        """One row per check: name, measured, limit, passed, hint (needs `rfkit[pandas]`)."""
        pd = optional_import("pandas", "pandas")
        return pd.DataFrame(self.to_dict()["checks"])


def check(model: nn.Module, input_size=None, *, dtypes=None, input=None, **limits) -> CheckResult:
    """Check a budget: a zoo card's documented targets, then the keyword limits of
    `rfkit.checks.budget.Budget` (max_params=, max_trainable_params=, max_macs=,
    max_activation_mb=, min_rf= (int or per-axis tuple), rf_layer=, min_coverage=,
    max_overshoot=, max_depth=), as `rfkit check` does. `input_size`, `dtypes` and `input` as in
    `rfkit.trace`."""
    from rfkit.checks import budget as budgets

    unknown = sorted(set(limits) - set(budgets.LIMITS))
    if unknown:
        raise RfkitError(f"unknown budget limit(s) {', '.join(unknown)}; known: {', '.join(budgets.LIMITS)}")
    report = traced(model, input_size, dtypes, input)
    import zoo

    card = zoo.card_of(model)
    name = report.model_name
    budget = budgets.resolve([name, f"zoo.{name}"], card, **limits)
    if not budget.active or set(budget.active) == {"rf_layer"}:
        raise RfkitError(f"no budget for {name}: give limits, e.g. rfkit.check(model, input_size, max_params=8000, "
                         f"min_rf=28)")
    return CheckResult(name, budgets.evaluate(report, budget), report)


def closing_analysis(trainer, card, input_size=None) -> tuple[Report, list]:
    """After training: the trained model's trace and its budget checks (card targets), for the final panel."""
    from rfkit.analysis.tracing import trace
    from rfkit.checks import budget as budgets

    report = trace(trainer.model, input_size or trainer.loader.input_size)
    report.model_name = trainer.config.name
    limits = budgets.resolve([trainer.config.model, trainer.config.name], card)
    return report, budgets.evaluate(report, limits) if limits.active else []


@dataclass(repr=False)
class FitResult:
    """A finished run: `.metrics` (one dict per epoch, as metrics.json), `.best`, `.final`,
    `.run_dir`, the trained `.model`, its `.report`; displays the final panel and the curves."""

    config: TrainConfig
    run: Any  # rfkit.train.trainer.RunResult: metrics, best, final, the best checkpoint's ERF
    model: Any
    report: Report
    card: Any = None
    checks: list = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def metrics(self) -> list[dict]:
        return self.run.metrics

    @property
    def best(self) -> dict | None:
        return self.run.best

    @property
    def final(self) -> dict | None:
        return self.run.final

    def _panel(self):
        from rfkit.train import progress

        return progress.final_panel(self.config, self.run, self.card, self.report, self.checks)

    def __str__(self) -> str:
        from rfkit.output import render

        return render.text(self._panel())

    def __repr__(self) -> str:
        best, final = self.best, self.final
        acc = (f"best test acc {best['test_acc']:.2f}% (epoch {best['epoch']}), final {final['test_acc']:.2f}%"
               if best else "no epoch finished")
        return (f"FitResult({self.config.name} on {self.config.dataset}, {len(self.metrics)} epoch(s), {acc}, "
                f"run {self.run_dir})")

    def _repr_html_(self) -> str:
        from rfkit.output import html

        curves = self.run_dir / "curves.png"
        image = html.png(curves.read_bytes(), "learning curves") if curves.is_file() else ""
        return html.block(html.from_rich(self._panel()), image)

    def to_pandas(self):
        """The per-epoch metrics (metrics.csv) as a DataFrame (needs `rfkit[pandas]`)."""
        pd = optional_import("pandas", "pandas")
        return pd.DataFrame(self.metrics)


def _reporter(progress):
    from rfkit.train import progress as reporters

    if progress is False or progress is None:
        return reporters.SilentReporter()
    if progress is not True and progress != "auto":
        return progress  # a reporter object of the user's
    if reporters.in_notebook():
        return reporters.NotebookReporter()
    from rich.console import Console

    return reporters.RichReporter(Console())


def fit(model: nn.Module, dataset: str | None = None, *, epochs: int | None = None, batch_size: int | None = None,
        lr: float | None = None, seed: int | None = None, device: str = "auto", data_dir=None, run_dir=None,
        loader: str = "fast", compile: bool | None = None, amp: str | None = None, threads: int | None = None,
        val: int | None = None, resume=None, progress=True) -> FitResult:
    """Train `model` (built in the notebook, zoo or not) with the trainer of `rfkit train`.

    A zoo network trains on its card's recipe and dataset, a model that carries a recipe (an
    `rfkit design` export) on its own; any keyword given takes the recipe's place. `seed`: 1 unless
    given; `val=N` holds the last N training images out and measures them each epoch. Any other model needs `dataset` ("mnist", "fashion-mnist", "cifar10",
    "imagefolder") and trains with SGD (lr 0.01, momentum 0.9), batch 128, 10 epochs unless
    told otherwise. The model is trained in place (moved to `device`); its initial weights are
    the ones it has. `resume=RUN_DIR` continues an interrupted run (`epochs=` may extend it).
    `threads`: the CPU threads the run uses (default: torch's current count); config.json records
    it, because a CPU run repeats bit for bit for its seed only with the same count.
    `compile`: torch.compile the training step (default: where measured faster, see
    `rfkit.train.config.default_compile`).
    `progress`: True (a bar: HTML in a notebook, rich in a terminal), False, or a reporter.
    """
    import torch.nn as nn

    import zoo
    from rfkit.train import config as train_config
    from rfkit.train import session
    from rfkit.train.recipe import carried

    if not isinstance(model, nn.Module):
        raise RfkitError(f"fit needs an nn.Module, got {type(model).__name__}")
    if amp not in (None, "bf16"):
        raise RfkitError(f"amp={amp!r}: only 'bf16' is supported")
    card = zoo.card_of(model)
    name = card.name if card else type(model).__name__
    recipe, home_dataset, _ = carried(model)
    options = dict(dataset=dataset, batch_size=batch_size, lr=lr, data_dir=data_dir, run_dir=run_dir,
                   threads=threads, compile=compile, val=val, amp=amp)
    if resume is None:
        if card is None and dataset is None and home_dataset is None:
            from rfkit.train import data

            raise RfkitError(f"{name} is not a zoo network: pass dataset= ({', '.join(data.DATASETS)})")
        spec = f"zoo.{card.name}" if card else train_config.python_spec(model)
        config = session.configure(spec, name, card, device=device, epochs=epochs, recipe=recipe,
                                   default_dataset=home_dataset, seed=1 if seed is None else seed, loader=loader,
                                   **options)
    else:
        config = session.configure("", name, card, resume=resume, device=device, epochs=epochs,
                                   spell=lambda key: f"{key}=", seed=seed, **options)
        if config.name != name:
            raise RfkitError(f"resume={str(resume)!r} is a run of {config.name} ({config.model}); got a {name}")
    try:
        trainer, run = session.run(config, model, reporter=_reporter(progress), resume=resume is not None,
                                   resume_command=f"rfkit.fit(model, resume={config.run_dir!r})")
    except RuntimeError as exc:  # load_state_dict: the model does not match the checkpoint
        if resume is None:
            raise
        first = str(exc).strip().splitlines()[0]
        raise RfkitError(f"resume={str(resume)!r}: the model does not match the run's checkpoint ({first})") from None
    report, checks = closing_analysis(trainer, card, card.input_size if card else None)
    return FitResult(config, run, trainer.model, report, card, checks)
