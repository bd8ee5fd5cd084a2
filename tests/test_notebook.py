"""examples/quickstart.ipynb, executed top to bottom in a real Jupyter kernel on the real MNIST,
and its outputs checked: the HTML tables are there with the right numbers, the fit states its accuracy."""
import glob
import json
import os
from pathlib import Path

import pytest
import torch.nn as nn

from test_api import Tables

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def test_committed_notebook_has_no_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def _outputs(nb) -> dict:
    return {c.id: c.outputs for c in nb.cells if c.cell_type == "code"}


def _result(outputs, mime="text/html") -> str:
    (result,) = [o for o in outputs if o.output_type == "execute_result"]
    return result.data[mime]


@pytest.fixture(scope="module")
def executed(data_dir, tmp_path_factory):
    """The notebook run in a python3 kernel importing this checkout, in a scratch directory (its runs/)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    work = tmp_path_factory.mktemp("notebook")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "RFKIT_DATA": str(data_dir)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this environment
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=1800,
                                resources={"metadata": {"path": str(work)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nbformat.write(nb, work / "executed.ipynb")
    return nb, work


@pytest.fixture(scope="module")
def net_params(executed):
    """Parameters of the notebook's Net, counted by torch itself from the cell's source."""
    nb, _ = executed
    namespace = {"nn": nn}
    exec(next(c.source for c in nb.cells if c.get("id") == "net"), namespace)
    return sum(p.numel() for p in namespace["Net"]().parameters())


def test_trace_cell_shows_the_rf_table(executed, net_params):
    out = _outputs(executed[0])["trace"]
    assert _result(out, "text/plain") == f"Report(Net, input 1x28x28, 19 layers, RF 28, {net_params:,} params)"
    (table,) = Tables(_result(out)).tables
    assert table["headers"][:3] == ["#", "layer", "kind"] and "r_out" in table["headers"]
    rows = {row[1]: dict(zip(table["headers"], row)) for row in table["rows"]}
    # the notebook's comments, derived by hand: RF 5 after two 3x3, 6 after the pool (jump 2), 18 entering the
    # global pool over 6x6, 18 + 5 * 2 = 28 after it
    assert rows["features.3"]["r_out"] == "5" and rows["features.6"]["r_out"] == "6"
    assert rows["features.16"]["kind"] == "AdaptiveAvgPool2d" and rows["features.16"]["r_in"] == "18"
    assert rows["features.16"]["r_out"] == rows["head"]["r_out"] == "28"
    assert _result(out, "text/markdown").startswith("| n_in | k | s | p | n_out |")
    numbers = _result(_outputs(executed[0])["trace-numbers"], "text/plain")
    assert numbers == f"((28, 28), (18, 18), {net_params})"


def test_summary_cells(executed, net_params):
    outputs = _outputs(executed[0])
    parsed = Tables(_result(outputs["summary"]))
    assert parsed.tables[0]["headers"] == ["module", "kind", "output shape", "params", "MACs", "r_out", "j_out"]
    assert f"params {net_params:,} ({net_params:,} trainable)" in parsed.all_text
    (pre,) = Tables(_result(outputs["summary-torchinfo"])).pres
    assert pre.startswith("=" * 40) and f"Total params: {net_params:,}" in pre


def test_check_cell(executed, net_params):
    (table,) = Tables(_result(_outputs(executed[0])["check"])).tables
    assert [row[:4] for row in table["rows"]] == [["params", f"{net_params:,}", "<= 8,000", "pass"],
                                                  ["RF at output", "28", ">= 28", "pass"]]


def test_fit_cell_states_the_accuracy_of_its_run(executed, net_params):
    nb, work = executed
    out = _outputs(nb)["fit"]
    (run_dir,) = glob.glob(str(work / "runs" / "Net-*"))
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1]
    acc = metrics[0]["test_acc"]
    assert acc > 90  # one epoch of SGD on the real MNIST
    parsed = Tables(_result(out))
    rows = {row[0]: row for row in parsed.tables[0]["rows"]}
    assert rows["best test accuracy"][1] == rows["final test accuracy"][1] == f"{acc:.2f}% (epoch 1)"
    assert rows["params"][1] == f"{net_params:,}"
    assert len(parsed.images) == 1 and parsed.images[0].startswith("data:image/png;base64,")
    progress = [o for o in out if o.output_type == "display_data"]
    assert progress and "Epoch   1/1" in progress[-1].data["text/html"]
    assert f"{acc:.2f}%" in _result(out, "text/plain")
    best, where = _result(_outputs(nb)["fit-numbers"], "text/plain").split(", ", 1)
    assert float(best.strip("(")) == pytest.approx(acc)


def test_every_cell_ran_without_error(executed):
    for cell_id, outputs in _outputs(executed[0]).items():
        assert not [o for o in outputs if o.output_type == "error"], cell_id
    erf = _outputs(executed[0])["erf"]
    printed = "".join(o.text for o in erf if o.output_type == "stream")
    assert "mass inside it 1.0000" in printed  # every gradient lies inside the theoretical RF
    assert any("image/png" in o.get("data", {}) for o in erf)
