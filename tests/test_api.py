"""The notebook API: rfkit.trace's Report, rfkit.summary, rfkit.check and rfkit.fit, as text
(equal to the CLI's output), as HTML (parsed back: headers and values) and as data."""
import base64
import html
import json
import subprocess
import sys
import textwrap
from html.parser import HTMLParser

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import rfkit
import zoo
from rfkit.cli import app
from rfkit.errors import InputSizeError, MissingExtraError, RfkitError
from rfkit.output.render import SEED_COLUMNS

runner = CliRunner()

# seed 002's documented RF table of MnistNet_2 (n_in, k, s, p, n_out, r_in, j_in, r_out, j_out), as test_cli
SEED_002_ROWS = [
    ["28", "3", "1", "0", "26", "1", "1", "3", "1"],
    ["26", "3", "1", "0", "24", "3", "1", "5", "1"],
    ["24", "1", "1", "0", "24", "5", "1", "5", "1"],
    ["24", "2", "2", "0", "12", "5", "1", "6", "2"],
    ["12", "3", "1", "0", "10", "6", "2", "10", "2"],
    ["10", "3", "1", "0", "8", "10", "2", "14", "2"],
    ["8", "3", "1", "0", "6", "14", "2", "18", "2"],
    ["6", "6", "6", "0", "1", "18", "2", "28", "12"],
    ["1", "1", "1", "0", "1", "28", "12", "28", "12"],
]
VOID = {"br", "img", "hr", "meta", "input", "col", "wbr"}


class Tables(HTMLParser):
    """Every <table> of an HTML fragment as {caption, headers, rows} (cell text, unescaped), every <pre>'s
    text and every <img>'s src; fails on a closing tag that does not match the open one."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.tables, self.pres, self.images, self.text, self.stack = [], [], [], [], []
        self.cell = self.pre = self.caption = None
        self.feed(source)
        self.close()
        assert not self.stack, f"unclosed tags {self.stack}"

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            return
        self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": "", "headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.row = []
        elif tag in ("td", "th", "pre", "caption"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        text = "".join(self.cell or [])
        if tag == "th":
            self.tables[-1]["headers"].append(text.strip())
        elif tag == "td":
            self.row.append(text.strip())
        elif tag == "tr" and self.row:
            self.tables[-1]["rows"].append(self.row)
        elif tag == "pre":
            self.pres.append(text)
        elif tag == "caption":
            self.tables[-1]["caption"] = text
        if tag in ("td", "th", "pre", "caption"):
            self.cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def cli(*args) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def mnistnet2():
    return rfkit.trace(zoo.MnistNet_2(), (1, 28, 28))


# --- Report ------------------------------------------------------------------------------------------


def test_report_repr_is_one_short_line(mnistnet2):
    documented = zoo.card("MnistNet_2").documented.params
    assert repr(mnistnet2) == (f"Report(MnistNet_2, input 1x28x28, {len(mnistnet2.layers)} layers, RF 28, "
                               f"{documented:,} params)")
    assert "\n" not in repr(mnistnet2) and len(repr(mnistnet2)) < 100


def test_report_text_is_the_cli_table(mnistnet2, tmp_path):
    assert str(mnistnet2) == cli("table", "zoo.MnistNet_2")
    path = tmp_path / "rect.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Conv2d(1, 2, (3, 5), stride=(1, 2)), nn.ReLU(), nn.Conv2d(2, 2, 3, dilation=2))
    """))
    namespace = {}
    exec(path.read_text(), namespace)
    report = rfkit.trace(namespace["Net"](), (1, 20, 30))
    assert str(report) == cli("table", f"{path}:Net", "-i", "1,20,30")
    assert "\x1b[" not in str(report)


def test_report_html_is_the_rf_table(mnistnet2):
    parsed = Tables(mnistnet2._repr_html_())
    (table,) = parsed.tables
    assert table["caption"].startswith("Receptive field of MnistNet_2  (input 1x28x28")
    assert table["headers"] == ["#", "layer", "kind", *SEED_COLUMNS, "start"]
    assert [row[3:12] for row in table["rows"]] == SEED_002_ROWS
    assert [row[1] for row in table["rows"]][-2:] == ["gap", "block4.0"]
    assert "output RF 28" in parsed.all_text and "RF entering the first global op (gap): 18" in parsed.all_text
    assert "<script" not in mnistnet2._repr_html_()


def test_html_escapes_user_strings():
    model = nn.Sequential()
    model.add_module("<b>x&y</b>", nn.Conv2d(1, 2, 3))
    report = rfkit.trace(model, (1, 8, 8))
    report.model_name = "<i>Net</i> & co"
    source = report._repr_html_()
    assert "<b>" not in source and "<i>" not in source
    (table,) = Tables(source).tables
    assert table["caption"].startswith("Receptive field of <i>Net</i> & co")
    assert table["rows"][0][1] == "<b>x&y</b>"


def test_report_markdown_json_and_dict_equal_the_cli(mnistnet2):
    assert mnistnet2._repr_markdown_() == cli("table", "zoo.MnistNet_2", "-f", "markdown")
    assert mnistnet2.to_json() == cli("table", "zoo.MnistNet_2", "-f", "json")
    assert mnistnet2.to_json(all_rows=True) == cli("table", "zoo.MnistNet_2", "-f", "json", "--all")
    data = mnistnet2.to_dict()
    assert data["schema"] == "rfkit.table/1" and data["output"]["rf"] == [28, 28]
    assert len(mnistnet2.to_dict(all_rows=True)["layers"]) == len(mnistnet2.layers)


def test_report_to_pandas_is_the_csv_schema(mnistnet2):
    df = mnistnet2.to_pandas()
    header = cli("table", "zoo.MnistNet_2", "-f", "csv").splitlines()[0].split(",")
    assert list(df.columns) == header
    for axis in ("H", "W"):
        rows = df[df["axis"] == axis]
        assert rows["r_out"].tolist() == [int(r[7]) for r in SEED_002_ROWS]
        assert rows["j_out"].tolist() == [int(r[8]) for r in SEED_002_ROWS]
    assert len(mnistnet2.to_pandas(all_rows=True)) == 2 * len(mnistnet2.layers)


def test_to_pandas_without_pandas_names_the_extra(mnistnet2, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    for call in (mnistnet2.to_pandas, rfkit.summary(zoo.MnistNet_2()).to_pandas):
        with pytest.raises(MissingExtraError) as err:
            call()
        assert "pip install rfkit[pandas]" in str(err.value) and "\n" not in str(err.value)
        assert isinstance(err.value, ImportError) and isinstance(err.value, RfkitError)


# --- summary ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style, depth", [("rich", 3), ("rich", 1), ("torchinfo", 3), ("torchinfo", 1),
                                          ("torchsummary", 3)])
def test_summary_text_is_the_cli_summary(style, depth):
    shown = rfkit.summary(zoo.MnistNet_2(), style=style, depth=depth)
    assert str(shown) == cli("summary", "zoo.MnistNet_2", "--style", style, "--depth", str(depth))
    assert "\n" not in repr(shown) and repr(shown).startswith("Summary(MnistNet_2, ")


@pytest.mark.parametrize("style", ["torchinfo", "torchsummary"])
def test_summary_layouts_display_as_exact_pre_blocks(style):
    shown = rfkit.summary(zoo.MnistNet_2(), style=style)
    parsed = Tables(shown._repr_html_())
    assert parsed.tables == [] and parsed.pres == [str(shown)]
    assert f"Total params: {zoo.card('MnistNet_2').documented.params:,}" in parsed.pres[0]


def test_rich_summary_displays_as_a_table():
    model = zoo.MnistNet_2()
    parsed = Tables(rfkit.summary(model)._repr_html_())
    (table,) = parsed.tables
    assert table["headers"] == ["module", "kind", "output shape", "params", "MACs", "r_out", "j_out"]
    rows = {row[0]: row for row in table["rows"]}
    assert rows["gap"][1:] == ["AdaptiveAvgPool2d", "1x16x1x1", "0", "-", "28", "12"]
    conv = model.block1[0]
    assert rows["block1"][1] == "Sequential"
    first_conv = table["rows"][1]
    assert first_conv[:4] == ["0", "Conv2d", "1x8x26x26", f"{conv.weight.numel():,}"]
    # MACs of a 3x3 conv, 1 -> 8 channels, 26x26 outputs: an independent count
    assert first_conv[4] == f"{26 * 26 * 8 * 9:,}"
    assert f"params {zoo.card('MnistNet_2').documented.params:,}" in parsed.all_text


def test_summary_json_and_pandas():
    shown = rfkit.summary(zoo.MnistNet_2())
    assert shown.to_json() == cli("summary", "zoo.MnistNet_2", "-f", "json")
    assert shown.to_dict()["schema"] == "rfkit.summary/1"
    df = shown.to_pandas()
    model = zoo.MnistNet_2()
    assert df["params"].sum() == sum(p.numel() for p in model.parameters())
    assert df.set_index("name").loc["block1.0", "macs"] == 26 * 26 * 8 * 9


def test_summary_bad_arguments_are_one_line():
    for kwargs, needle in ((dict(style="keras"), "choose one of rich, torchsummary, torchinfo"),
                           (dict(depth=-1), "depth")):
        with pytest.raises(RfkitError, match=needle):
            rfkit.summary(zoo.MnistNet_2(), **kwargs)
    with pytest.raises(InputSizeError, match=r"pass input_size=\(C, H, W\)"):
        rfkit.summary(nn.Conv2d(1, 1, 3))


# --- check ---------------------------------------------------------------------------------------------


def test_check_passes_and_displays_as_a_table():
    result = rfkit.check(zoo.MnistNet_2(), max_params=8_000, min_rf=28)
    assert result and result.passed and result.failed == []
    assert str(result) == cli("check", "zoo.MnistNet_2", "--max-params", "8000", "--min-rf", "28")
    (table,) = Tables(result._repr_html_()).tables
    assert table["headers"] == ["check", "measured", "limit", "", "hint"]
    assert table["rows"] == [["params", "7,416", "<= 8,000", "pass", ""], ["RF at output", "28", ">= 28", "pass", ""]]
    assert result.to_dict() == json.loads(cli("check", "zoo.MnistNet_2", "--max-params", "8000", "--min-rf", "28",
                                              "-f", "json"))
    assert repr(result) == "CheckResult(MnistNet_2: pass, params 7,416 <= 8,000; RF at output 28 >= 28)"


def test_check_fails_falsy_with_hints():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    result = rfkit.check(net, (1, 28, 28), min_rf=28, max_params=100)
    assert not result and [c.name for c in result.failed] == ["params", "RF at output"]
    rows = Tables(result._repr_html_()).tables[0]["rows"]
    assert rows[0][:4] == ["params", f"{sum(p.numel() for p in net.parameters()):,}", "<= 100", "FAIL"]
    assert rows[1][:4] == ["RF at output", "5", ">= 28", "FAIL"] and rows[1][4].startswith("short by 23")
    assert result.to_dict()["passed"] is False
    assert result.to_pandas()["passed"].tolist() == [False, False]


def test_check_uses_the_card_targets_and_rejects_bad_limits():
    assert [c.name for c in rfkit.check(zoo.MnistNet_2()).checks] == ["params"]  # card: under 8,000
    with pytest.raises(RfkitError, match="unknown budget limit.*max_parms"):
        rfkit.check(zoo.MnistNet_2(), max_parms=10)
    with pytest.raises(RfkitError, match="no budget for Conv2d"):
        rfkit.check(nn.Conv2d(1, 1, 3), (1, 8, 8))


# --- fit -----------------------------------------------------------------------------------------------


class Net(nn.Module):
    """A model as a notebook cell defines it (its class lives in __main__)."""

    __module__ = "__main__"

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


def test_fit_a_notebook_model_then_resume_from_python(mnist_dir, tmp_path):
    torch.manual_seed(0)
    model = Net()
    run = tmp_path / "run"
    result = rfkit.fit(model, dataset="mnist", epochs=1, batch_size=32, data_dir=mnist_dir, run_dir=run,
                       device="cpu", progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "<notebook>:Net" and config["name"] == "Net" and config["optimizer"] == "SGD"
    assert result.metrics == json.loads((run / "metrics.json").read_text()) and len(result.metrics) == 1
    assert result.run_dir == run and result.model is model and result.best == result.final == result.metrics[0]
    final = result.final["test_acc"]
    for row in ("best test accuracy", "final test accuracy"):
        (line,) = [line for line in str(result).splitlines() if row in line]
        assert f"{final:.2f}% (epoch 1)" in line
    assert "\n" not in repr(result) and f"best test acc {final:.2f}% (epoch 1)" in repr(result)

    parsed = Tables(result._repr_html_())
    rows = {row[0]: row for row in parsed.tables[0]["rows"]}
    assert rows["best test accuracy"][1] == rows["final test accuracy"][1] == f"{final:.2f}% (epoch 1)"
    assert rows["params"][1] == f"{sum(p.numel() for p in Net().parameters()):,}"
    # 3x3 (RF 3), 3x3 stride 2 (RF 5, jump 2, 28 -> 26 -> 12), global pool over 12: 5 + 11 * 2 = 27
    assert rows["RF at output / entering first global op"][1] == "27 / 5"
    (src,) = parsed.images
    assert base64.b64decode(src.split(",", 1)[1]) == (run / "curves.png").read_bytes()
    assert html.escape(str(run)) in result._repr_html_()
    assert list(result.to_pandas()["test_acc"]) == [final]

    cli_resume = runner.invoke(app, ["train", "--resume", str(run)])
    assert cli_resume.exit_code == 2 and "Traceback" not in cli_resume.output
    assert f"rfkit.fit(model, resume={str(run)!r})" in cli_resume.output
    assert len(cli_resume.output.strip().splitlines()) == 1

    resumed = rfkit.fit(Net(), resume=run, epochs=2, progress=False)
    assert [m["epoch"] for m in resumed.metrics] == [1, 2]
    assert resumed.metrics[0] == result.metrics[0]
    assert json.loads((run / "metrics.json").read_text()) == resumed.metrics

    class Other(Net):
        pass

    with pytest.raises(RfkitError, match="is a run of Net"):
        rfkit.fit(Other(), resume=run, epochs=3, progress=False)
    with pytest.raises(RfkitError, match=r"cannot change it \(only epochs= and device= can\)"):
        rfkit.fit(Net(), resume=run, lr=0.1, progress=False)


def test_fit_a_zoo_network_uses_its_card(mnist_dir, tmp_path):
    card = zoo.card("MnistNet_3")
    result = rfkit.fit(zoo.MnistNet_3(), epochs=1, data_dir=mnist_dir, run_dir=tmp_path / "z", device="cpu",
                       progress=False)
    config = json.loads((tmp_path / "z" / "config.json").read_text())
    assert config["model"] == "zoo.MnistNet_3" and config["dataset"] == card.dataset.lower()
    assert (config["optimizer"], config["batch_size"]) == (card.recipe.optimizer, card.recipe.batch_size)
    assert config["epochs"] == 1
    rows = {row[0]: row for row in Tables(result._repr_html_()).tables[0]["rows"]}
    assert rows["best test accuracy"][2] == f"{card.results.best_test_acc:.2f}% (epoch {card.results.best_test_epoch})"
    assert rows["params"][1:] == [f"{card.documented.params:,}"] * 2


def test_fit_needs_a_dataset_for_a_model_without_card(tmp_path):
    with pytest.raises(RfkitError) as err:
        rfkit.fit(Net(), epochs=1, run_dir=tmp_path / "none", progress=False)
    assert "Net is not a zoo network: pass dataset= (mnist," in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "none").exists()


def test_notebook_reporter_updates_one_html_output(monkeypatch):
    import IPython.display

    from rfkit.train import progress

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=False: Handle())
    reporter = progress.NotebookReporter(every=5)
    reporter.start_epoch(1, 2, 10, 320)
    reporter.batch(5, 160, torch.tensor(80.0), torch.tensor(40))
    assert '<progress value="5" max="10"' in shown[-1] and "loss 0.5000  acc 25.00%" in shown[-1]
    reporter.batch(7, 224, torch.tensor(80.0), torch.tensor(40))
    assert len(shown) == 2  # read back every 5 batches only (and at the last)
    reporter.end_epoch()
    row = dict(epoch=1, lr=0.01, train_loss=0.5, train_acc=25.0, test_loss=0.4, test_acc=30.0, samples_per_s=100.0,
               seconds=3.2)
    reporter.epoch_line(row, 2)
    assert "<progress" not in shown[-1] and "Epoch   1/2  lr 1.0000e-02" in shown[-1]
    assert not progress.in_notebook()


def test_import_rfkit_stays_light():
    code = ("import sys, rfkit; print(sorted(m for m in ('pandas', 'matplotlib', 'rfkit.train', 'IPython', 'rich', "
            "'torchvision', 'zoo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


class _TwoBranch(nn.Module):
    """A forward taking one dict: a vector branch and an image branch."""

    def __init__(self):
        super().__init__()
        self.fa = nn.Linear(3, 4)
        self.fb = nn.Conv2d(1, 4, 3)

    def forward(self, batch):
        return self.fa(batch["a"]) + self.fb(batch["img"]).mean((2, 3))


def test_summary_and_check_take_the_input_tensors():
    batch = ({"a": torch.rand(2, 3), "img": torch.rand(2, 1, 10, 10)},)
    shown = rfkit.summary(_TwoBranch(), input=batch)
    assert shown.report.params == 3 * 4 + 4 + 9 * 4 + 4 and shown.report.rf_input == "batch['img']"
    assert "Conv2d" in str(rfkit.summary(_TwoBranch(), input=batch, style="torchinfo"))
    assert rfkit.check(_TwoBranch(), input=batch, max_params=100)
    assert not rfkit.check(_TwoBranch(), input=batch, max_params=10)
