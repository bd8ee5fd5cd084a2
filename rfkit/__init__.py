"""rfkit: exact receptive-field and architecture analysis for PyTorch models."""
from rfkit.errors import ModelLoadError, RfkitError, TraceError
from rfkit.analysis.ops import OpCall, register_op
from rfkit.analysis.rules import register_rule
from rfkit.analysis import report as _report_module
from rfkit.analysis.report import Layer, Report
from rfkit.analysis.tracing import trace
from rfkit.analysis.erf import ErfResult, erf
from rfkit.api import CheckResult, FitResult, Summary, check, fit, summary

__version__ = "0.1.0"


def _views():
    from rfkit.output import views

    return views


_report_module.views = _views  # a Report renders itself through rfkit.output, loaded on first display

__all__ = ["trace", "summary", "check", "fit", "erf", "runs", "design", "Report", "Layer", "Summary", "CheckResult",
           "FitResult", "ErfResult", "register_op", "register_rule", "OpCall", "RfkitError", "TraceError", "ModelLoadError", "__version__"]


def runs(paths=None, root="runs"):
    """One row per run directory (rfkit.train.runs.RunRow): params, MACs and RF traced from the run's
    model, accuracy from metrics.json, ERF area ratios from erf.json. `paths`: run directories or folders
    of them (default: all under `root`). Imported on call: training pulls in torchvision."""
    from rfkit.loading import load
    from rfkit.train.runs import collect

    return collect(paths, root, lambda spec: load(spec, need_size=False))


def design(space="mnist", **options):
    """`rfkit design` from Python: search a space under constraints decided by the exact trace, on Optuna;
    returns a DesignResult (a table in a terminal, the front table and plot in a notebook). The keywords
    are rfkit.search.study.design's. Imported on call: it pulls in Optuna and training."""
    from rfkit.search.study import design as run_design

    return run_design(space, **options)
