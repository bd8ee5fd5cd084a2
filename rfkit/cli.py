"""The `rfkit` command: a thin layer over the Python API. Every command turns
rfkit's own errors (and any other exception), and click's usage errors, into
one line on stderr and a non-zero exit (2: bad input; 1: the model's forward
failed, a check failed, or training diverged); RFKIT_DEBUG=1 shows the
traceback instead. Every string a user sees passes `say` or `render.plain`,
so brackets in names, paths and messages print as written."""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

try:  # typer >= 0.2x runs on its own copy of click
    from typer._click.exceptions import UsageError
    from typer._click.globals import get_current_context
except ImportError:  # older typer runs on click itself
    from click import UsageError, get_current_context

import rfkit
from rfkit.output import render
from rfkit.output.render import plain
from rfkit.analysis.devices import parse_device
from rfkit.errors import RfkitError, TraceError, one_line
from rfkit.loading import load, parse_dtypes, parse_ints


class _OneLineUsageErrors(TyperGroup):
    """click's usage errors (a flag's value of the wrong type, a missing argument, an unknown command)
    as one line naming the fix, exit 2, like rfkit's own."""

    def parse_args(self, ctx, args):
        with self._one_line(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with self._one_line(ctx):
            return super().invoke(ctx)

    @staticmethod
    @contextlib.contextmanager
    def _one_line(ctx):
        try:
            yield
        except UsageError as exc:
            if os.environ.get("RFKIT_DEBUG") or type(exc).__name__ == "NoArgsIsHelpError":
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            message = " ".join(exc.format_message().split())
            raise fail(f"{message} (see {where} --help)", 2) from None


app = typer.Typer(cls=_OneLineUsageErrors, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Exact receptive-field and architecture analysis for PyTorch models.")
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

MODEL_HELP = ("zoo.MnistNet_2, pkg.module:Attr, torchvision.models.resnet18 or path/to/file.py:Net "
              "(a class, no-argument factory or instance)")
SIZE_HELP = "input size C,H,W; repeat it for a model with several inputs (zoo networks know theirs)"
DTYPE_HELP = "input dtype, e.g. long for token ids; one for all inputs or one per --input-size"
TRACE_DEVICE_HELP = "Where to trace: meta (no compute, no weight copies), cpu, cuda[:N], or auto (the faster)."


class SummaryStyle(str, Enum):
    rich = "rich"
    torchsummary = "torchsummary"
    torchinfo = "torchinfo"


class SummaryFormat(str, Enum):
    text = "text"
    json = "json"


class TableFormat(str, Enum):
    rich = "rich"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def say(text: str, *, err: bool = False, tag: str = ""):
    """Print user-facing text exactly as written: `text` (names, paths, messages) is escaped, never read
    as markup; `tag` is rfkit's own markup before it ("[bold red]error:[/]")."""
    (err_console if err else console).print(f"{tag} {plain(text)}" if tag else plain(text), highlight=False,
                                            soft_wrap=True)


def fail(message: str, code: int) -> typer.Exit:
    say(message, err=True, tag="[bold red]error:[/]")
    return typer.Exit(code)


def _plain_help(command):
    """Help text shown as written: typer reads docstrings and option help as rich markup, which would
    swallow '[tool.rfkit]'."""
    if typer.core.HAS_RICH and app.rich_markup_mode == "rich":
        command.__doc__ = plain(command.__doc__) if command.__doc__ else command.__doc__
        for param in inspect.signature(command).parameters.values():
            info = param.default
            if isinstance(info, typer.models.ParameterInfo) and info.help:
                info.help = plain(info.help)
    return command


def guarded(command):
    """One line and an exit code instead of a traceback; help text as written."""

    @_plain_help
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:  # what was interrupted has said so (a run: how to resume it)
            raise typer.Exit(130) from None
        except RfkitError as exc:
            if os.environ.get("RFKIT_DEBUG"):
                raise
            raise fail(str(exc), exc.exit_code) from None
        except Exception as exc:
            if os.environ.get("RFKIT_DEBUG"):
                raise
            raise fail(f"{one_line(exc)} (RFKIT_DEBUG=1 shows the traceback)", 1) from None

    return wrapper


def version_callback(value: bool):
    if value:
        say(f"rfkit {rfkit.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                 help="Print the version and exit."),
):
    """rfkit: receptive fields, shapes, parameters and budgets, traced from the model itself."""


def emit(text: str):
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
@guarded
def table(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[list[str]] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    dtype: Optional[list[str]] = typer.Option(None, "--dtype", help=DTYPE_HELP),
    all_rows: bool = typer.Option(False, "--all", help="Show every traced op, not only those that change RF."),
    fmt: TableFormat = typer.Option(TableFormat.rich, "--format", "-f", help="rich, markdown, json or csv."),
    device: str = typer.Option("auto", "--device", help=TRACE_DEVICE_HELP),
):
    """Print the RF/jump table (n_in, k, s, p, n_out, r_in, j_in, r_out, j_out) per spatial axis."""
    device, dtypes = parse_device(device), parse_dtypes(dtype)
    loaded = load(model, input_size)
    try:
        report = rfkit.trace(loaded.model, loaded.input_size, dtypes=dtypes, device=device)
    except TraceError as exc:
        if exc.partial is not None and exc.partial.layers and fmt == TableFormat.rich:
            exc.partial.model_name = loaded.name
            console.print(render.rf_table(exc.partial, all_rows=True))
        raise
    report.model_name = loaded.name
    if fmt == TableFormat.rich:
        console.print(render.rf_table(report, all_rows))
    else:
        emit({TableFormat.markdown: render.rf_markdown, TableFormat.json: render.rf_json,
              TableFormat.csv: render.rf_csv}[fmt](report, all_rows))


@app.command()
@guarded
def summary(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[list[str]] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    dtype: Optional[list[str]] = typer.Option(None, "--dtype", help=DTYPE_HELP),
    style: SummaryStyle = typer.Option(SummaryStyle.rich, "--style", "-s",
                                       help="rich, torchsummary (1.5.1, byte for byte) or torchinfo (1.8 layout)."),
    depth: int = typer.Option(3, "--depth", "-d", min=0, help="Deepest module level shown (rich, torchinfo)."),
    fmt: SummaryFormat = typer.Option(SummaryFormat.text, "--format", "-f", help="text (the style) or json."),
    device: str = typer.Option("auto", "--device", help=TRACE_DEVICE_HELP),
):
    """Per-module shapes, parameters (each tensor once), MACs, memory and RF columns."""
    from rfkit.output import summaries

    device, dtypes = parse_device(device), parse_dtypes(dtype)
    loaded = load(model, input_size)
    report = rfkit.trace(loaded.model, loaded.input_size, dtypes=dtypes, device=device)
    report.model_name = loaded.name
    if fmt == SummaryFormat.json:
        emit(summaries.summary_json(report))
    elif style == SummaryStyle.rich:
        console.print(summaries.rich_summary(report, depth))
    elif style == SummaryStyle.torchsummary:
        emit(summaries.torchsummary_text(report))
    else:
        emit(summaries.torchinfo_text(report, depth))


@app.command()
@guarded
def verify(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[list[str]] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    enlarge: bool = typer.Option(True, help="Grow the input so a central output's RF is not clipped."),
):
    """Check the traced RF against gradients: float64, positive weights, linear activations."""
    from rfkit.checks.verify import verify as run_verify

    loaded = load(model, input_size)
    result = run_verify(loaded.model, loaded.input_size, enlarge=enlarge)
    console.print(render.verify_table(result, loaded.name))
    if not result.ok:
        raise fail("traced and measured receptive fields differ", 1)


def _rf_option(text: Optional[str]):
    """'28' -> 28 (every axis); '28,32' -> (28, 32)."""
    if text is None:
        return None
    values = parse_ints(text, "--min-rf", "an integer or a per-axis list (e.g. 28,32)")
    return values[0] if len(values) == 1 else values


@app.command()
@guarded
def check(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[list[str]] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    dtype: Optional[list[str]] = typer.Option(None, "--dtype", help=DTYPE_HELP),
    max_params: Optional[int] = typer.Option(None, help="Most parameters (each tensor once)."),
    max_trainable_params: Optional[int] = typer.Option(None, help="Most trainable parameters."),
    max_macs: Optional[int] = typer.Option(None, help="Most multiply-accumulates per forward pass."),
    max_activation_mb: Optional[float] = typer.Option(None, help="Most training activation memory, MiB."),
    min_rf: Optional[str] = typer.Option(None, help="Least RF: 28 (every axis) or 28,32 (per axis)."),
    rf_layer: Optional[str] = typer.Option(None, help="Layer where --min-rf is measured (default: output)."),
    min_coverage: Optional[float] = typer.Option(None, help="Least share of the input the RF covers "
                                                            "entering the first global op (0-1)."),
    max_overshoot: Optional[int] = typer.Option(None, help="Most kernel layers whose input RF already "
                                                           "exceeds the input."),
    max_depth: Optional[int] = typer.Option(None, help="Most conv/linear/attention layers."),
    budget_file: Optional[Path] = typer.Option(None, "--budget", help="TOML file of limits."),
    fmt: SummaryFormat = typer.Option(SummaryFormat.text, "--format", "-f", help="text or json."),
    device: str = typer.Option("auto", "--device", help=TRACE_DEVICE_HELP),
):
    """Check a budget: card targets, then [tool.rfkit] in pyproject.toml, then --budget, then flags.

    Parameter limits alone are counted from the model: no --input-size, no forward pass.
    Exit code 0 when every check passes, 1 when any fails.
    """
    from rfkit.checks import budget as budgets

    device, dtypes = parse_device(device), parse_dtypes(dtype)
    loaded = load(model, input_size, need_size=False)
    names = [model, loaded.name, type(loaded.model).__name__, f"zoo.{loaded.name}"]
    limits = budgets.resolve(names, loaded.card, Path("pyproject.toml"), budget_file, max_params=max_params,
                             max_trainable_params=max_trainable_params, max_macs=max_macs,
                             max_activation_mb=max_activation_mb, min_rf=_rf_option(min_rf), rf_layer=rf_layer,
                             min_coverage=min_coverage, max_overshoot=max_overshoot, max_depth=max_depth)
    if not limits.active or set(limits.active) == {"rf_layer"}:
        raise RfkitError(f"no budget for {model}: give limits (--max-params 8000, --min-rf 28, ...), "
                         f"--budget FILE.toml or [tool.rfkit.budgets.\"{model}\"] in pyproject.toml")
    if budgets.needs_trace(limits):
        report = rfkit.trace(loaded.model, loaded.require_size(), dtypes=dtypes, device=device)
        report.model_name = loaded.name
        checks = budgets.evaluate(report, limits)
    else:
        checks = budgets.evaluate_params(loaded.model, limits)
    if fmt == SummaryFormat.json:
        emit(render.checks_json(loaded.name, checks))
    else:
        console.print(render.checks_table(loaded.name, checks))
    if not budgets.passed(checks):
        raise typer.Exit(1)


@app.command()
@guarded
def audit(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[list[str]] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    doc: Optional[Path] = typer.Option(None, "--doc", help="README or markdown file to audit (default: "
                                                          "the zoo card's documented tables)."),
    section: Optional[str] = typer.Option(None, "--section", help="Only the markdown section whose heading "
                                                                  "names this (default: the model's name)."),
    fmt: SummaryFormat = typer.Option(SummaryFormat.text, "--format", "-f", help="text or json."),
):
    """List every discrepancy between documented tables and the traced model (exit 1 if any)."""
    from rfkit.checks import audit as audits

    loaded = load(model, input_size)
    report = rfkit.trace(loaded.model, loaded.input_size)
    report.model_name = loaded.name
    if doc is not None:
        try:
            text = doc.read_text(encoding="utf-8")
        except OSError as exc:
            raise RfkitError(f"cannot read --doc {doc}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise RfkitError(f"--doc {doc} is not UTF-8 text; name a README or markdown file") from None
        name = section or loaded.name
        try:
            text = audits.section(text, name)
        except KeyError:
            if section:
                raise RfkitError(f"{doc} has no heading mentioning {section!r}") from None
        documented = audits.from_text(text)
    elif loaded.card is not None:
        documented = loaded.card.documented
    else:
        raise RfkitError(f"{model} is not a zoo network: pass --doc README.md")
    found = audits.audit(documented, report)
    if fmt == SummaryFormat.json:
        emit(render.audit_json(loaded.name, found))
    else:
        console.print(render.audit_table(loaded.name, found))
    if found:
        raise typer.Exit(1)


def _given(param: str) -> bool:
    """Whether the running command's `param` was typed on the command line (not left at its default)."""
    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(param) if ctx is not None else None
    return source is not None and source.name == "COMMANDLINE"


class Loader(str, Enum):
    fast = "fast"
    torchvision = "torchvision"


@app.command()
@guarded
def train(
    model: Optional[str] = typer.Argument(None, help=MODEL_HELP + " (omit with --resume)"),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    epochs: Optional[int] = typer.Option(None, help="Default: the card's recipe."),
    batch_size: Optional[int] = typer.Option(None, help="Default: the card's recipe."),
    lr: Optional[float] = typer.Option(None, help="Learning rate (OneCycle: max_lr). Default: the recipe's."),
    seed: int = typer.Option(1, help="Seed for initialisation, shuffling, augmentation and dropout."),
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion-mnist, cifar10 or imagefolder "
                                                     "(zoo networks know theirs)."),
    data_dir: Optional[Path] = typer.Option(None, help="Where the data lives (default $RFKIT_DATA or "
                                                       "~/.cache/rfkit/data)."),
    run_dir: Optional[Path] = typer.Option(None, help="Where the run is written (default runs/NAME-TIME)."),
    resume: Optional[Path] = typer.Option(None, help="Continue the run in this directory."),
    loader: Loader = typer.Option(Loader.fast, help="fast (device-resident) or torchvision (the seeds')."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile",
                                           help="torch.compile the training step. Default: on for a CPU run of a "
                                                "zoo network whose card records it faster compiled, where a C++ "
                                                "compiler is found; off elsewhere."),
    amp: Optional[str] = typer.Option(None, help="bf16 autocast."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for the run (default: torch's, recorded in "
                                                     "config.json; a seed repeats a CPU run only with the same "
                                                     "count)."),
):
    """Train with the documented recipe and set measured accuracy beside the documentation."""
    import torch

    from rfkit.api import closing_analysis
    from rfkit.train import config as train_config
    from rfkit.train import progress, session

    train_config.check_flags(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, amp=amp, threads=threads)
    device = parse_device(device, meta=False)
    given = {name: value for name, value in dict(batch_size=batch_size, lr=lr, seed=seed, dataset=dataset,
                                                 data_dir=data_dir, run_dir=run_dir, loader=loader.value,
                                                 compile=compile, amp=amp, threads=threads).items()
             if _given(name)}
    if resume is None and model is None:
        raise RfkitError("give a MODEL to train, or --resume RUN_DIR")
    if resume is not None:
        config = session.configure(model, "", None, resume=resume, device=device, epochs=epochs, **given)
        train_config.check_cli_resumable(config, resume)
        if model is not None and model != config.model:
            raise RfkitError(f"--resume {resume} trains {config.model}, not {model}: drop MODEL")
        model = config.model
    torch.manual_seed(config.seed if resume is not None else seed)  # the initialisation is part of the run
    loaded = load(model, need_size=False)
    if resume is None:
        config = session.configure(model, loaded.name, loaded.card, device=device, epochs=epochs,
                                   recipe=loaded.recipe, default_dataset=loaded.dataset,
                                   **{**given, "seed": seed, "loader": loader.value})
    trainer, result = session.run(config, loaded.model, reporter=progress.RichReporter(console, err_console=err_console),
                                  resume=resume is not None,
                                  resume_command=f"rfkit train --resume {config.run_dir}")
    report, checks = closing_analysis(trainer, loaded.card, loaded.input_size)
    console.print(progress.final_panel(config, result, loaded.card, report, checks))


@app.command("design")
@guarded
def design_command(
    space: str = typer.Argument(..., help="The built-in space (mnist), or a define-by-run function of an Optuna "
                                          "trial returning an nn.Module: my_space.py:space or pkg.module:space."),
    dataset: str = typer.Option("mnist", help="mnist, fashion-mnist, cifar10 or imagefolder."),
    max_params: Optional[int] = typer.Option(None, help="Most parameters (each tensor once), as rfkit check."),
    max_macs: Optional[int] = typer.Option(None, help="Most multiply-accumulates per forward pass."),
    min_rf: Optional[str] = typer.Option(None, help="Least RF at the output: 28 (every axis) or 28,32 (per axis)."),
    trials: int = typer.Option(20, help="The study's total: re-running completes it to this many."),
    timeout: Optional[float] = typer.Option(None, help="Stop starting trials after this many seconds."),
    epochs: int = typer.Option(15, help="Epochs each candidate trains (the objective: validation accuracy then)."),
    storage: Optional[str] = typer.Option(None, help="Any Optuna storage URL (default: sqlite:///OUT/study.db); "
                                                     "postgresql://... to work on one study from several machines."),
    study: Optional[str] = typer.Option(None, help="Study name (default: the space's)."),
    workers: int = typer.Option(1, help="Worker processes on this machine (threads split between them)."),
    out: Optional[Path] = typer.Option(None, help="Where design.json, trials.csv, front.png and the exported "
                                                  ".py files go (default runs/design/STUDY)."),
    seed: int = typer.Option(1, help="Seed for the sampler and every candidate's training."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
    data_dir: Optional[Path] = typer.Option(None, help="Where the data lives (default $RFKIT_DATA or "
                                                       "~/.cache/rfkit/data)."),
    val: int = typer.Option(10_000, help="Training images held out (the last ones) to select on."),
    threads: Optional[int] = typer.Option(None, help="CPU threads per worker (default: the cores split between "
                                                     "the workers)."),
    start: Optional[list[str]] = typer.Option(None, help="A point to try first (repeatable): a documented "
                                                         "network (MnistNet_3) or a .json file of parameter "
                                                         "values, one point or a list."),
):
    """Search a space for the best network under a budget: constraints decided by the exact trace before
    any training, candidates trained by rfkit's trainer and pruned on validation accuracy, on Optuna."""
    from rfkit.search.progress import RichProgress

    result = rfkit.design(space, dataset=dataset, max_params=max_params, max_macs=max_macs, min_rf=_rf_option(min_rf),
                          trials=trials, timeout=timeout, epochs=epochs, storage=storage, study=study, workers=workers,
                          out=out, seed=seed, device=parse_device(device, meta=False), data_dir=data_dir, val=val,
                          threads=threads, start=start or (), progress=RichProgress(console))
    console.print(result._table())
    say(f"wrote {result.out / 'design.json'}, trials.csv, front.png" +
        (f" and best.py (trial {result.best['number']}): rfkit train {result.out / 'best.py'}:Net"
         if result.best else ""))


@app.command("zoo")
@guarded
def zoo_list():
    """List the zoo: documented networks, their seeds, sizes and documented results."""
    import zoo

    t = Table(title="rfkit zoo: networks documented in the course seeds", header_style="bold cyan")
    from rfkit.checks import budget as budgets

    for col, just in (("name", "left"), ("seed", "left"), ("input", "left"), ("dataset", "left"),
                      ("params (doc)", "right"), ("params (model)", "right"), ("", "center"),
                      ("best test acc (doc)", "right"), ("budget (documented)", "left")):
        t.add_column(col, justify=just)
    for name in zoo.names():
        card = zoo.card(name)
        model = zoo.create(name)
        counted = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        ok = "[green]=[/]" if counted == card.documented.params else "[red]![/]"
        r = card.results
        acc = f"{r.best_test_acc:.2f}% (epoch {r.best_test_epoch})" if r.best_test_acc is not None else "-"
        limits = budgets.resolve([f"zoo.{name}", name], card)
        if limits.active:
            checks = budgets.evaluate(rfkit.trace(model, card.input_size), limits)
            status = ", ".join(f"{c.name} {c.limit}" for c in checks)
            status = f"[green]pass[/] ({status})" if budgets.passed(checks) else f"[red]FAIL[/] ({status})"
        else:
            status = "[dim]none documented[/]"
        t.add_row(f"zoo.{name}", card.seed[:3], "x".join(map(str, card.input_size)), card.dataset,
                  f"{card.documented.params:,}", f"{counted:,}", ok, acc, status)
    console.print(t)


class ErfFormat(str, Enum):
    rich = "rich"
    json = "json"


@app.command("erf")
@guarded
def erf_command(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[str] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP + "; random inputs"),
    layer: Optional[str] = typer.Option(None, help="Layer name from `rfkit table --all` (default: the tensor "
                                                   "entering the first global op, else the output)."),
    dataset: Optional[str] = typer.Option(None, help="mnist, fashion-mnist, cifar10 or imagefolder: real test "
                                                     "images (default: random normal inputs)."),
    data_dir: Optional[Path] = typer.Option(None, help="Where the data lives (default: the run's, then "
                                                       "$RFKIT_DATA or ~/.cache/rfkit/data)."),
    samples: Optional[int] = typer.Option(None, help="Inputs averaged (default 256 test images, or 32 random)."),
    checkpoint: Optional[Path] = typer.Option(None, help="best.pt/last.pt, a state_dict, or a run directory "
                                                         "(its best.pt); default: the initialisation."),
    out: Optional[Path] = typer.Option(None, help="Write erf.png and erf.json into this directory."),
    fmt: ErfFormat = typer.Option(ErfFormat.rich, "--format", "-f", help="rich (a panel) or json."),
    device: str = typer.Option("cpu", help="Where the gradient pass runs: cpu (float64) or cuda[:N] (the "
                                           "model's dtype)."),
):
    """Effective receptive field (Luo et al. 2016): where the centre unit's input gradient actually lies,
    beside its theoretical RF; the model's initialisation or trained weights."""
    from rfkit.output import erf as erf_out
    from rfkit.output.plots import plot_erf
    from rfkit.train import checkpoints, data
    from rfkit.train import config as train_config

    device = parse_device(device, meta=False)
    device = "cpu" if device == "auto" else device
    loaded = load(model, input_size, need_size=dataset is None)
    weights = "initialisation"
    run_config = None
    if checkpoint is not None:
        file = checkpoints.load_weights(loaded.model, checkpoint)
        weights = str(file)
        if (file.parent / "config.json").is_file():
            run_config = train_config.load_config(file.parent)
    images = None
    if dataset is not None:
        config = train_config.make_config(model, loaded.name, loaded.card, dataset=dataset, device="cpu",
                                          data_dir=data_dir or (run_config.data_dir if run_config else None))
        transforms = run_config.test_transforms if run_config and run_config.dataset == dataset else \
            config.test_transforms
        images = data.test_images(dataset, Path(config.data_dir), 256 if samples is None else samples, transforms)
        if input_size is not None and tuple(images.shape[1:]) != loaded.input_size:
            raise RfkitError(f"--input-size {input_size} differs from the {dataset} images' size "
                             f"{','.join(map(str, images.shape[1:]))}; leave it out with --dataset")
        inputs, described = images, f"first {len(images)} {dataset} test images"
    else:
        inputs, described = loaded.input_size, "random normal inputs (seed 0)"
    result = rfkit.erf(loaded.model, inputs, layer, samples=samples, device=device)
    numbers = {**result.to_dict(), "model": loaded.name, "inputs": described, "weights": weights}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "erf.json").write_text(erf_out.erf_json(numbers))
        plot_erf(numbers, out / "erf.png", image=images,
                 title=f"{loaded.name} ({'trained: ' + file.parent.name + '/' + file.name if checkpoint else 'initialisation'}): "
                       f"ERF of {result.layer}")
    if fmt == ErfFormat.json:
        emit(erf_out.erf_json(numbers))
    else:
        console.print(erf_out.erf_panel(numbers))
        if out is not None:
            console.print(render.plain(f"wrote {out / 'erf.png'} and {out / 'erf.json'}"), highlight=False)


@app.command("runs")
@guarded
def runs_command(
    run_dirs: Optional[list[Path]] = typer.Argument(None, help="Run directories, or folders of them "
                                                               "(default: all under runs/)."),
    fmt: TableFormat = typer.Option(TableFormat.rich, "--format", "-f", help="rich, markdown, json or csv."),
    plot: Optional[Path] = typer.Option(None, help="Also draw accuracy against params (ERF as colour) to this PNG."),
):
    """One table over run directories: params, MACs, theoretical and effective RF, accuracy, speed."""
    from rfkit.output import runs as runs_out

    rows = rfkit.runs(run_dirs)
    if fmt == TableFormat.rich:
        console.print(runs_out.runs_table(rows))
    else:
        emit({TableFormat.markdown: runs_out.runs_markdown, TableFormat.json: runs_out.runs_json,
              TableFormat.csv: runs_out.runs_csv}[fmt](rows))
    if plot is not None:
        from rfkit.output.plots import plot_runs

        try:
            plot_runs(rows, plot)
        except ValueError as exc:
            raise RfkitError(f"--plot {plot}: {exc}") from None
        (console if fmt == TableFormat.rich else err_console).print(render.plain(f"wrote {plot}"), highlight=False)


def main():
    app()
