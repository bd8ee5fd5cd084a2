"""What a person watches during `rfkit design`: one line per finished trial and a bar
for the study (trials finished of the study's total)."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rfkit.output.design import trial_line
from rfkit.output.render import plain


class RichProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.bar = None

    def start(self, settings, done: int):
        self.console.print(plain(f"rfkit design {settings.study}: space {settings.space}, {settings.dataset}, "
                                 f"{settings.epochs} epochs, {settings.workers} worker(s) x {settings.threads} "
                                 f"thread(s), constraints {settings.constraints or 'none'}; {done} of "
                                 f"{settings.trials} trials already done; storage in {settings.out}"),
                           highlight=False, soft_wrap=True)
        self.bar = Progress(TextColumn("study"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=self.console, transient=True)
        self.task = self.bar.add_task("study", total=settings.trials, completed=done)
        self.bar.start()

    def trial(self, record: dict):
        self.console.print(plain(trial_line(record)), highlight=False, soft_wrap=True)
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
