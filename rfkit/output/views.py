"""How a Report shows itself (its repr, text, HTML, markdown, JSON, DataFrame): the
renderers a Report's display methods call, wired in by `import rfkit` so that the
analysis layer never imports this one."""
from __future__ import annotations

import io

from rfkit.errors import optional_import
from rfkit.output import html, render


def report_repr(report) -> str:
    rf = render.per_axis(report.rf) if report.output else "-"
    return (f"Report({report.model_name}, input {'x'.join(map(str, report.input_shape[1:]))}, "
            f"{len(report.layers)} layers, RF {rf}, {report.total_params:,} params)")


def report_text(report) -> str:
    return render.text(render.rf_table(report))


def report_html(report) -> str:
    return html.block(html.from_rich(render.rf_table(report)))


def report_markdown(report) -> str:
    return render.rf_markdown(report)


def report_dict(report, all_rows: bool) -> dict:
    return render.report_dict(report, all_rows)


def report_json(report, all_rows: bool) -> str:
    return render.rf_json(report, all_rows)


def report_pandas(report, all_rows: bool):
    pd = optional_import("pandas", "pandas")
    return pd.read_csv(io.StringIO(render.rf_csv(report, all_rows)))
