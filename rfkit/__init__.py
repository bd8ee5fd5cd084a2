"""rfkit: exact receptive-field and architecture analysis for PyTorch models."""
from rfkit.errors import ModelLoadError, RfkitError, TraceError
from rfkit.analysis.rules import register_rule
from rfkit.analysis.report import Layer, Report
from rfkit.analysis.tracing import trace
from rfkit.api import CheckResult, FitResult, Summary, check, fit, summary

__version__ = "0.1.0"

__all__ = ["trace", "summary", "check", "fit", "Report", "Layer", "Summary", "CheckResult", "FitResult",
           "register_rule", "RfkitError", "TraceError", "ModelLoadError", "__version__"]
