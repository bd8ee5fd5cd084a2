"""What a person watches during `rfkit train` and `rfkit.fit`: a progress bar per
epoch (loss, accuracy, samples/s; rich in a terminal, an HTML <progress> in a
notebook), a seed-like log line per epoch, and the closing panel that sets
measured results beside the documented ones, with the theoretical RF and the best
checkpoint's effective RF."""
from __future__ import annotations

import time

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rfkit.output import html
from rfkit.output.erf import ratio_text, share_text
from rfkit.output.render import per_axis, plain


def start_text(config) -> str:
    """The line a run starts with: its recipe, loader, compile setting, device and directory."""
    return (f"{config.name} on {config.dataset}: {config.epochs} epochs, batch {config.batch_size}, "
            f"{config.optimizer} {config.optimizer_kwargs}, schedule "
            f"{config.schedule['name'] if config.schedule else 'none'}, {config.loader} loader, "
            f"{'torch.compile (the first epoch compiles), ' if config.compile else ''}{config.device_label()}; "
            f"run directory {config.run_dir}")


class SilentReporter:
    """Progress that shows nothing: the trainer's reporter when nobody watches (`progress=False`, a
    design trial), so the loop calls its reporter without asking whether there is one."""

    def start_run(self, config):
        pass

    def interrupted(self, text: str):
        pass

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int):
        pass

    def batch(self, step: int, seen: int, loss_sum, correct):
        pass

    def end_epoch(self):
        pass

    def epoch_line(self, row: dict, epochs: int):
        pass


class RichReporter:
    """Progress for the Trainer. Loss and accuracy are read back every `every` batches
    (a host sync), never per batch."""

    def __init__(self, console: Console, every: int = 50, err_console: Console | None = None):
        self.console, self.every = console, every
        self.err_console = err_console or Console(stderr=True)
        self.progress = None

    def start_run(self, config):
        self.console.print(plain(start_text(config)), highlight=False, soft_wrap=True)

    def interrupted(self, text: str):
        self.err_console.print(f"[yellow]interrupted[/] {plain(text)}", highlight=False, soft_wrap=True)

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int):
        self.progress = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=self.console,
                                 transient=True)
        self.task = self.progress.add_task("train", total=steps, stats="")
        self.started = time.perf_counter()
        self.progress.start()

    def batch(self, step: int, seen: int, loss_sum, correct):
        stats = None
        if step % self.every == 0:
            rate = seen / max(time.perf_counter() - self.started, 1e-9)
            stats = f"loss {loss_sum.item() / seen:.4f}  acc {100 * correct.item() / seen:.2f}%  {rate:,.0f} samples/s"
        self.progress.update(self.task, completed=step, **({"stats": stats} if stats else {}))

    def end_epoch(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def epoch_line(self, row: dict, epochs: int):
        self.console.print(epoch_text(row, epochs), highlight=False)


def epoch_text(row: dict, epochs: int) -> str:
    return (f"Epoch {row['epoch']:>3}/{epochs}  lr {row['lr']:.4e}  train loss {row['train_loss']:.4f} "
            f"acc {row['train_acc']:.2f}%  test loss {row['test_loss']:.4f} acc {row['test_acc']:.2f}%  "
            f"{row['samples_per_s']:,.0f} samples/s  {row['seconds']:.1f}s")


def in_notebook() -> bool:
    """A Jupyter kernel (notebook, lab, Colab, VS Code): outputs there can be HTML, updated in place."""
    import sys

    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules


class NotebookReporter:
    """Progress in a notebook without widgets: one HTML output (epoch lines so far and a
    <progress> bar) updated in place through an IPython display handle, every `every` batches."""

    def __init__(self, every: int = 50):
        from IPython.display import HTML, display

        self.every, self.html_type = every, HTML
        self.log: list[str] = []
        self.label = ""
        self.handle = display(HTML(html.progress(0, 0, "")), display_id=True)

    def start_run(self, config):
        self.log.append(start_text(config))
        self._show()

    def interrupted(self, text: str):
        self.log.append(f"interrupted {text}")
        self._show()

    def _show(self, done: int = 0, total: int = 0, stats: str = ""):
        self.handle.update(self.html_type(html.progress(done, total, self.label, stats, self.log)))

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int):
        self.label, self.steps, self.started = f"epoch {epoch}/{epochs}", steps, time.perf_counter()
        self._show(0, steps)

    def batch(self, step: int, seen: int, loss_sum, correct):
        if step % self.every == 0 or step == self.steps:
            rate = seen / max(time.perf_counter() - self.started, 1e-9)
            self._show(step, self.steps, f"loss {loss_sum.item() / seen:.4f}  acc {100 * correct.item() / seen:.2f}%  "
                                         f"{rate:,.0f} samples/s")

    def end_epoch(self):
        self._show()

    def epoch_line(self, row: dict, epochs: int):
        self.log.append(epoch_text(row, epochs))
        self._show()


def final_panel(config, result, card, report, checks) -> Panel:
    """Measured beside documented, and the static analysis, in one panel."""
    t = Table(box=box.SIMPLE, show_header=True, header_style="bold cyan")
    t.add_column("")
    t.add_column("measured (this run)", justify="right")
    t.add_column("documented (seed)", justify="right")
    best, final = result.best, result.final
    doc = card.results if card else None
    t.add_row("best test accuracy",
              f"{best['test_acc']:.2f}% (epoch {best['epoch']})" if best else "-",
              f"{doc.best_test_acc:.2f}% (epoch {doc.best_test_epoch})" if doc and doc.best_test_acc else "-")
    t.add_row("final test accuracy", f"{final['test_acc']:.2f}% (epoch {final['epoch']})" if final else "-",
              f"{doc.test_acc[max(doc.test_acc)]:.2f}% (epoch {max(doc.test_acc)})" if doc and doc.test_acc else "-")
    t.add_row("best train accuracy", f"{max(m['train_acc'] for m in result.metrics):.2f}%" if best else "-",
              f"{doc.best_train_acc:.2f}%" if doc and doc.best_train_acc else "-")
    targets = card.targets if card else None
    if targets and targets.min_test_acc is not None and result.metrics:
        window = [m for m in result.metrics if m["epoch"] <= (targets.within_epochs or config.epochs)]
        met = any(m["test_acc"] >= targets.min_test_acc for m in window)
        t.add_row(f"target >= {targets.min_test_acc}% within {targets.within_epochs} epochs",
                  "[green]met[/]" if met else "[red]not met[/]", plain("; ".join(targets.text)))
    t.add_row("params", f"{report.params:,}", f"{card.documented.params:,}" if card else "-")
    t.add_row("RF at output / entering first global op",
              f"{per_axis(report.rf)} / {per_axis(report.rf_before_global) if report.first_global else '-'}", "")
    if result.erf is not None:
        t.add_row(f"ERF area ratio (best.pt, {result.erf['samples']} test images)", ratio_text(result.erf),
                  plain(f"layer {result.erf['layer']}"))
        t.add_row("ERF mass inside the theoretical RF", share_text(result.erf["in_rf_share"]),
                  "erf.png, erf.json")
    elif result.erf_note:
        t.add_row("effective RF", "-", plain(result.erf_note))
    if checks:
        status = "[green]pass[/]" if all(c.passed for c in checks) else "[red]FAIL[/]"
        t.add_row("budget", status, plain(", ".join(f"{c.name} {c.limit}" for c in checks)))
    footer = (f"{config.name} on {config.dataset}, {config.loader} loader, "
              f"{'torch.compile, ' if config.compile else ''}{config.device_label()}, "
              f"{len(result.metrics)} epoch(s) - run directory {result.run_dir}")
    return Panel(t, title=f"[bold]{plain(config.name)}: results[/]", subtitle=plain(footer), box=box.ROUNDED)
