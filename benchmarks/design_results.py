"""The README's "Designed by rfkit" tables, from the files the search and benchmarks/reproduce.py
write: each design of benchmarks/designs/ beside MnistNet_3 (parameters, MACs and RF traced from
the code; test accuracy from benchmarks/results/NAME.json, seeds 1, 2 and 3), what each study
of the search cost (benchmarks/results/design_mnist*/cost.json), and a network's RF table and
summary as `rfkit table -f markdown` and `rfkit summary --style torchsummary` print them.

    python benchmarks/design_results.py [--network SPEC]

tests/test_results.py checks that the README holds exactly these tables.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling zoo_results, also when loaded by path
from zoo_results import mean_std  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DESIGNS = ROOT / "benchmarks" / "designs"
SEEDS = (1, 2, 3)
STUDIES = {"design_mnist_first": "first study (stopped: it showed three faults of the tool, since fixed)",
           "design_mnist": "the study that found the designs"}


def _row(label: str, report, results: Path) -> str:
    runs = [r for r in json.loads(results.read_text())["runs"] if r["seed"] in SEEDS]
    best, final = [r["best"] for r in runs], [r["final"] for r in runs]
    return (f"| {label} | {report.total_params:,} | {report.macs:,} | {report.rf[0]} | {mean_std(best)} | "
            f"{mean_std(final)} | {', '.join(str(r['seed']) for r in runs)} |")


def designs() -> list[Path]:
    return sorted(DESIGNS.glob("*.py"))


def comparison() -> str:
    """Each design beside the hand design, smallest first: traced numbers, and the best and final test
    accuracy of 15-epoch runs (mean ± std over seeds 1, 2, 3)."""
    import rfkit
    import zoo
    from rfkit.loading import load

    lines = ["| network | params | MACs | RF | best test (mean ± std) | final test (mean ± std) | seeds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    reports = {path: rfkit.trace(load(f"{path}:Net").model, (1, 28, 28), device="meta") for path in designs()}
    for path in sorted(reports, key=lambda path: reports[path].total_params):
        lines.append(_row(f"`{path.relative_to(ROOT)}`", reports[path], RESULTS / f"{path.stem}.json"))
    hand = rfkit.trace(zoo.create("MnistNet_3"), (1, 28, 28), device="meta")
    lines.append(_row("`zoo.MnistNet_3` (by hand)", hand, RESULTS / "MnistNet_3.json"))
    return "\n".join(lines)


def cost() -> str:
    """Trials sampled, rejected by the trace before any training, pruned, run to the end, failed
    (killed by a session's end); CPU hours (each trial's wall time times its threads)."""
    lines = ["| study | sampled | rejected by the trace | pruned | run to the end | failed | CPU hours |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, label in STUDIES.items():
        c = json.loads((RESULTS / name / "cost.json").read_text())
        lines.append(f"| {label} (`benchmarks/results/{name}/`) | {c['sampled']} | {c['infeasible']} | {c['pruned']} | "
                     f"{c['complete']} | {c['failed']} | {c['cpu_hours']:.1f} |")
    return "\n".join(lines)


def tables(spec: str) -> str:
    """The network's RF table and torchsummary-style summary, as the CLI prints them (`rfkit audit
    --doc README.md --section NAME` checks them against the code)."""
    from rfkit.analysis.tracing import trace
    from rfkit.loading import load
    from rfkit.output import render, summaries

    loaded = load(spec)
    report = trace(loaded.model, loaded.input_size, device="meta")
    return f"{render.rf_markdown(report)}\n```text\n{summaries.torchsummary_text(report)}```"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", help="print this network's RF table and summary instead")
    args = parser.parse_args()
    print(tables(args.network) if args.network else f"{comparison()}\n\n{cost()}")


if __name__ == "__main__":
    main()
