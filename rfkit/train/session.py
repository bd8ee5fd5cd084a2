"""The one path from a model and its options to a finished run. `rfkit train`,
`rfkit.fit` and every `rfkit design` trial call `configure` then `run`: one rule
for what a resumed run may change, one start (nothing written before every check
has passed), one loop, one Ctrl-C message. Side concerns come in as objects that
are always there: a reporter (progress; `SilentReporter` shows none) and
callbacks (called after every epoch; a design trial's pruner is one)."""
from __future__ import annotations

import logging
from pathlib import Path

from rfkit.errors import RfkitError
from rfkit.train import trainer as training
from rfkit.train.config import TrainConfig, load_config, make_config, resolve_device
from rfkit.train.progress import SilentReporter

# what a run's config.json fixes: a resumed run keeps these (only epochs and device may change)
FIXED_ON_RESUME = ("dataset", "data_dir", "run_dir", "batch_size", "lr", "seed", "loader", "compile", "amp",
                   "threads", "val")


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def configure(spec: str, name: str, card, *, resume=None, device: str = "auto", epochs: int | None = None,
              recipe=None, default_dataset: str | None = None, spell=cli_flag, **options) -> TrainConfig:
    """A new run's config: the card's recipe (else `recipe`), with each of `options` given (not None) in
    its place; or, with `resume=RUN_DIR`, that run's config.json, where only `epochs` and `device` may
    change. `spell(option)` is how the caller's user writes an option (a flag, a keyword)."""
    if resume is None:
        return make_config(spec, name, card, device=device, epochs=epochs, recipe=recipe,
                           default_dataset=default_dataset, **{k: v for k, v in options.items() if v is not None})
    fixed = [spell(k) for k in FIXED_ON_RESUME if options.get(k) is not None]
    if fixed:
        raise RfkitError(f"{spell('resume')} {resume} continues the run as its config.json says: "
                         f"{', '.join(fixed)} cannot change it (only {spell('epochs')} and {spell('device')} can); "
                         f"start a new run instead")
    return load_config(Path(resume), epochs=epochs, device=resolve_device(device) if device != "auto" else None)


def run(config: TrainConfig, model, *, reporter=None, resume: bool = False, callbacks=(), splits=None,
        figures: bool = True, resume_command: str = "") -> tuple[training.Trainer, training.RunResult]:
    """Start (or resume) the run and train it to the end. On Ctrl-C the reporter says how far it got and
    `resume_command` (how this caller resumes it), and KeyboardInterrupt goes on to the caller."""
    reporter = reporter if reporter is not None else SilentReporter()
    trainer = training.start(config, model, reporter, resume=resume, callbacks=callbacks, splits=splits)
    if config.compile and trainer.device.type == "cpu":  # torch's note on CUDA_HOME, when it builds CPU kernels
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    reporter.start_run(config)
    try:
        return trainer, trainer.run(figures)
    except KeyboardInterrupt:
        done = len(trainer.metrics)
        reporter.interrupted(f"after {done} complete epoch(s); last.pt holds epoch {done}. Resume with: "
                             f"{resume_command}")
        raise
