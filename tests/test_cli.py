"""The `rfkit` command as a user runs it: formats, exit codes, one-line errors."""
import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from rfkit.cli import app

runner = CliRunner()


def rfkit_cmd(*args):
    """The installed console entry point, in a fresh process, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "rfkit", *args], capture_output=True, text=True, timeout=120)


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).output.startswith("rfkit ")
    for cmd in ([], ["table"], ["zoo"], ["verify"]):
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_markdown_reproduces_seed_002_rows():
    out = runner.invoke(app, ["table", "zoo.MnistNet_2", "--format", "markdown"]).output.splitlines()
    assert out[0] == "| n_in | k | s | p | n_out | r_in | j_in | r_out | j_out |"
    assert out[2:9] == [
        "| 28 | 3 | 1 | 0 | 26 | 1 | 1 | 3 | 1 |",
        "| 26 | 3 | 1 | 0 | 24 | 3 | 1 | 5 | 1 |",
        "| 24 | 1 | 1 | 0 | 24 | 5 | 1 | 5 | 1 |",
        "| 24 | 2 | 2 | 0 | 12 | 5 | 1 | 6 | 2 |",
        "| 12 | 3 | 1 | 0 | 10 | 6 | 2 | 10 | 2 |",
        "| 10 | 3 | 1 | 0 | 8 | 10 | 2 | 14 | 2 |",
        "| 8 | 3 | 1 | 0 | 6 | 14 | 2 | 18 | 2 |",
    ]
    assert out[9] == "| 6 | 6 | 6 | 0 | 1 | 18 | 2 | 28 | 12 |"


def test_markdown_shows_both_axes_when_they_differ(tmp_path):
    path = tmp_path / "rect.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Conv2d(1, 2, (3, 5), stride=(1, 2)))
    """))
    out = runner.invoke(app, ["table", f"{path}:Net", "-i", "1,20,30", "-f", "markdown"]).output.splitlines()
    assert out[2] == "| 20x30 | 3x5 | 1x2 | 0 | 18x13 | 1 | 1 | 3x5 | 1x2 |"


def test_json_schema():
    data = json.loads(runner.invoke(app, ["table", "zoo.S5Net", "-f", "json"]).output)
    assert data["schema"] == "rfkit.table/1"
    assert data["axes"] == ["H", "W"] and data["output"]["rf"] == [28, 28]
    assert data["output"]["coverage"] == [1.0, 1.0]
    first = data["layers"][0]
    assert first["name"] == "conv1" and first["axes"][0]["r_out"] == 3
    assert set(first["axes"][0]) == {"k", "s", "p", "d", "n_in", "n_out", "r_in", "j_in", "r_out", "j_out",
                                     "start", "r_min", "exact"}
    full = json.loads(runner.invoke(app, ["table", "zoo.S5Net", "-f", "json", "--all"]).output)
    assert len(full["layers"]) > len(data["layers"])


def test_csv_one_row_per_layer_and_axis():
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["table", "zoo.MnistNet_3", "-f", "csv"]).output)))
    assert len(rows) == 2 * 9
    assert rows[0]["axis"] == "H" and rows[1]["axis"] == "W" and rows[-1]["r_out"] == "28"


def test_rich_table_shows_output_rf_and_coverage():
    out = runner.invoke(app, ["table", "zoo.UltimusNet"]).output
    assert "output RF 32" in out and "covers 100%" in out
    assert "RF entering the first global op (gap): 7" in out


def test_zoo_lists_all_seven_with_matching_params():
    out = runner.invoke(app, ["zoo"]).output
    for name in ("S5Net", "S5NetBias", "S6Net", "MnistNet_1", "MnistNet_2", "MnistNet_3", "UltimusNet"):
        assert f"zoo.{name}" in out
    assert out.count("=") >= 7 and "!" not in out


def test_model_forms(tmp_path):
    (tmp_path / "netfile.py").write_text("import torch.nn as nn\nnet = nn.Conv2d(1, 1, 3)\n"
                                         "def build():\n    return nn.Conv2d(1, 1, 5)\n")
    assert "| 1 | 1 | 3 | 1 |" in runner.invoke(app, ["table", f"{tmp_path}/netfile.py:net", "-i", "1,9,9",
                                                       "-f", "markdown"]).output
    assert "| 1 | 1 | 5 | 1 |" in runner.invoke(app, ["table", f"{tmp_path}/netfile.py:build", "-i", "1,9,9",
                                                       "-f", "markdown"]).output
    assert runner.invoke(app, ["table", "zoo:MnistNet_1", "-f", "json"]).exit_code == 0
    assert runner.invoke(app, ["table", "MnistNet_1", "-f", "json"]).exit_code == 0
    tv = runner.invoke(app, ["table", "torchvision.models.resnet18", "-i", "3,64,64", "-f", "json"])
    assert tv.exit_code == 0 and json.loads(tv.output)["layers"][0]["name"] == "conv1"


@pytest.mark.parametrize("args, needle", [
    (["table", "zoo.MnistNet_9"], "closest zoo names: zoo.MnistNet_"),
    (["table", "nosuchpkg.Net", "-i", "1,2,2"], "cannot load MODEL"),
    (["table", "missing/file.py:Net", "-i", "1,28,28"], "does not exist"),
    (["table", "torchvision.models.resnet18"], "--input-size"),
    (["table", "zoo.MnistNet_2", "-i", "1,a,28"], "not C,H,W"),
    (["table", "zoo.MnistNet_2", "-i", "1,,28"], "not C,H,W"),
    (["check", "zoo.MnistNet_3", "--min-rf", "2x"], "--min-rf '2x' is not an integer or a per-axis list"),
    (["check", "zoo.MnistNet_3", "--min-rf", "0"], "needs positive integers"),
])
def test_bad_model_arguments_exit_2_with_one_line(args, needle):
    result = rfkit_cmd(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_input_size_exits_1_naming_the_layer():
    result = rfkit_cmd("table", "zoo.S5Net", "-i", "1,32,32")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "Tensor.view on input (1, 256, 5, 5)" in result.stderr
    assert "conv4" in result.stdout  # the table up to the failing layer


def test_verify_command():
    result = runner.invoke(app, ["verify", "zoo.MnistNet_1"])
    assert result.exit_code == 0 and result.output.count("match") == 2
