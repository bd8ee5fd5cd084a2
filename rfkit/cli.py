"""The `rfkit` command: a thin layer over the Python API. Every command turns
rfkit's own errors (and any other exception) into one line on stderr and a
non-zero exit; RFKIT_DEBUG=1 shows the traceback instead."""
from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

import rfkit
from rfkit import render
from rfkit.errors import RfkitError, TraceError
from rfkit.loading import load

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Exact receptive-field and architecture analysis for PyTorch models.")
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

MODEL_HELP = ("zoo.MnistNet_2, pkg.module:Attr, torchvision.models.resnet18 or path/to/file.py:Net "
              "(a class, no-argument factory or instance)")
SIZE_HELP = "input size C,H,W (zoo networks know theirs)"


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


def fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def guarded(command):
    """One line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except RfkitError as exc:
            if os.environ.get("RFKIT_DEBUG"):
                raise
            raise fail(str(exc), exc.exit_code) from None
        except Exception as exc:
            if os.environ.get("RFKIT_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise fail(f"{type(exc).__name__}: {first} (RFKIT_DEBUG=1 shows the traceback)", 1) from None

    return wrapper


def version_callback(value: bool):
    if value:
        console.print(f"rfkit {rfkit.__version__}")
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
    input_size: Optional[str] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    all_rows: bool = typer.Option(False, "--all", help="Show every traced op, not only those that change RF."),
    fmt: TableFormat = typer.Option(TableFormat.rich, "--format", "-f", help="rich, markdown, json or csv."),
    device: str = typer.Option("auto", "--device",
                               help="meta (no compute, no weight copies), cpu, cuda, or auto (the faster)."),
):
    """Print the RF/jump table (n_in, k, s, p, n_out, r_in, j_in, r_out, j_out) per spatial axis."""
    loaded = load(model, input_size)
    try:
        report = rfkit.trace(loaded.model, loaded.input_size, device=device)
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
    input_size: Optional[str] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    style: SummaryStyle = typer.Option(SummaryStyle.rich, "--style", "-s",
                                       help="rich, torchsummary (1.5.1, byte for byte) or torchinfo (1.8 layout)."),
    depth: int = typer.Option(3, "--depth", "-d", min=0, help="Deepest module level shown (rich, torchinfo)."),
    fmt: SummaryFormat = typer.Option(SummaryFormat.text, "--format", "-f", help="text (the style) or json."),
):
    """Per-module shapes, parameters (each tensor once), MACs, memory and RF columns."""
    from rfkit import summaries

    loaded = load(model, input_size)
    report = rfkit.trace(loaded.model, loaded.input_size)
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
    input_size: Optional[str] = typer.Option(None, "--input-size", "-i", help=SIZE_HELP),
    enlarge: bool = typer.Option(True, help="Grow the input so a central output's RF is not clipped."),
):
    """Check the traced RF against gradients: float64, positive weights, linear activations."""
    from rfkit.verify import verify as run_verify

    loaded = load(model, input_size)
    result = run_verify(loaded.model, loaded.input_size, enlarge=enlarge)
    console.print(render.verify_table(result, loaded.name))
    if not result.ok:
        raise fail("traced and measured receptive fields differ", 1)


@app.command("zoo")
@guarded
def zoo_list():
    """List the zoo: documented networks, their seeds, sizes and documented results."""
    import zoo

    t = Table(title="rfkit zoo: networks documented in the course seeds", header_style="bold cyan")
    for col, just in (("name", "left"), ("seed", "left"), ("input", "left"), ("dataset", "left"),
                      ("params (doc)", "right"), ("params (model)", "right"), ("", "center"),
                      ("best test acc (doc)", "right")):
        t.add_column(col, justify=just)
    for name in zoo.names():
        card = zoo.card(name)
        model = zoo.create(name)
        counted = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        ok = "[green]=[/]" if counted == card.params else "[red]![/]"
        r = card.results
        acc = f"{r.best_test_acc:.2f}% (epoch {r.best_test_epoch})" if r.best_test_acc is not None else "-"
        t.add_row(f"zoo.{name}", card.seed, "x".join(map(str, card.input_size)), card.dataset,
                  f"{card.params:,}", f"{counted:,}", ok, acc)
    console.print(t)


def main():
    app()
