"""Every output format, byte for byte, for the zoo, resnet18 and a residual/concat toy, as a user sees it
from the CLI (`pytest --update-golden` rewrites the files; review the diff in the commit)."""
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zoo
from rfkit.cli import app

TOY = f"{Path(__file__).with_name('golden_models.py')}:ResidualConcat"
MODELS = {**{name: ["zoo." + name] for name in zoo.names()},
          "resnet18": ["torchvision.models.resnet18", "-i", "3,224,224"],
          "ResidualConcat": [TOY, "-i", "3,32,32"]}
FORMATS = {
    "table.txt": ["table"], "table.md": ["table", "-f", "markdown"], "table.json": ["table", "-f", "json"],
    "table.csv": ["table", "-f", "csv"], "summary.txt": ["summary"],
    "summary-torchsummary.txt": ["summary", "--style", "torchsummary"],
    "summary-torchinfo.txt": ["summary", "--style", "torchinfo"], "summary.json": ["summary", "-f", "json"],
}


@pytest.mark.parametrize("model", MODELS)
def test_every_format_matches_its_golden_file(model, golden):
    runner = CliRunner()
    for suffix, command in FORMATS.items():
        result = runner.invoke(app, [command[0], *MODELS[model], *command[1:]])
        assert result.exit_code == 0, result.output
        golden(f"{model}.{suffix}", result.output.replace(str(Path(__file__).parent), "<tests>"))
