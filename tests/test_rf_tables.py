"""Traced RF tables against the seeds' tables and against tables derived by hand."""
import pytest

import rfkit
import zoo
from zoo.registry import RFRow


def rows(name):
    report = rfkit.trace(zoo.create(name), zoo.card(name).input_size)
    for layer in report.rf_layers():
        assert len(set(layer.axes)) == 1, "square nets: both axes agree"
    return [RFRow(*(getattr(layer.axes[0], c) for c in ("n_in", "k", "s", "p", "n_out", "r_in", "j_in",
                                                         "r_out", "j_out")))
            for layer in report.rf_layers()], report


def test_mnistnet_1_matches_seed_plus_the_left_out_1x1():
    got, report = rows("MnistNet_1")
    seed = list(zoo.card("MnistNet_1").documented.rf_rows)
    left_out = RFRow(5, 1, 1, 0, 5, 20, 2, 20, 2)
    assert got == seed[:-1] + [left_out] + seed[-1:]
    assert report.rf == (28, 28)


@pytest.mark.parametrize("name", ["MnistNet_2", "MnistNet_3"])
def test_gap_nets_match_seed_plus_gap_and_classifier(name):
    got, report = rows(name)
    gap = RFRow(6, 6, 6, 0, 1, 18, 2, 28, 12)  # the seeds' convention: GAP over 6x6 at jump 2, 18 -> 28
    head = RFRow(1, 1, 1, 0, 1, 28, 12, 28, 12)
    assert got == list(zoo.card(name).documented.rf_rows) + [gap, head]
    assert report.rf_before_global == (18, 18)
    assert report.first_global.name == "gap"


def test_s5net_functional_max_pools_and_flatten_linear():
    got, report = rows("S5Net")
    assert got == [
        RFRow(28, 3, 1, 0, 26, 1, 1, 3, 1),
        RFRow(26, 3, 1, 0, 24, 3, 1, 5, 1),
        RFRow(24, 2, 2, 0, 12, 5, 1, 6, 2),  # F.max_pool2d in forward
        RFRow(12, 3, 1, 0, 10, 6, 2, 10, 2),
        RFRow(10, 3, 1, 0, 8, 10, 2, 14, 2),
        RFRow(8, 2, 2, 0, 4, 14, 2, 16, 4),
        RFRow(4, 4, 4, 0, 1, 16, 4, 28, 16),  # view(-1, 4096) + Linear: a kernel over all 4 positions
    ]
    names = [l.name for l in report.rf_layers()]
    assert names == ["conv1", "conv2", "F.max_pool2d#1", "conv3", "conv4", "F.max_pool2d#2", "fc1"]


def test_s6net_padded_convs_and_avgpool_head():
    got, report = rows("S6Net")
    assert got == [
        RFRow(28, 3, 1, 1, 28, 1, 1, 3, 1),
        RFRow(28, 2, 2, 0, 14, 3, 1, 4, 2),
        RFRow(14, 3, 1, 1, 14, 4, 2, 8, 2),
        RFRow(14, 2, 2, 0, 7, 8, 2, 10, 4),
        RFRow(7, 3, 1, 1, 7, 10, 4, 18, 4),
        RFRow(7, 3, 1, 1, 7, 18, 4, 26, 4),
        RFRow(7, 2, 2, 0, 3, 26, 4, 30, 8),
        RFRow(3, 3, 3, 0, 1, 30, 8, 46, 24),
    ]
    assert report.rf_before_global == (30, 30)


def test_ultimusnet_reaches_7_of_32_before_global_pool():
    got, report = rows("UltimusNet")
    assert got == [
        RFRow(32, 3, 1, 0, 30, 1, 1, 3, 1),
        RFRow(30, 3, 1, 0, 28, 3, 1, 5, 1),
        RFRow(28, 3, 1, 0, 26, 5, 1, 7, 1),
        RFRow(26, 26, 26, 0, 1, 7, 1, 32, 26),
    ]
    assert report.rf_before_global == (7, 7)
    assert report.rf == (32, 32)


@pytest.mark.parametrize("name", [n for n in zoo.names() if n != "S6Net"])
def test_unpadded_nets_centre_their_output_rf_on_the_image(name):
    report = rfkit.trace(zoo.create(name), zoo.card(name).input_size)
    n = zoo.card(name).input_size[-1]
    assert report.start == ((n - 1) / 2, (n - 1) / 2)
    assert report.coverage == (1.0, 1.0)


def test_s6net_rf_is_off_centre():
    # by hand: conv p1 -> 0; pool -> 0.5; conv p1 -> 0.5; pool -> 1.5; convs p1 -> 1.5;
    # pool 7 -> 3 (floor drops the last row) -> 3.5; AvgPool2d(3) at jump 8 -> 11.5
    report = rfkit.trace(zoo.create("S6Net"), (1, 28, 28))
    assert report.start == (11.5, 11.5)
    assert report.coverage == (1.0, 1.0)  # [-11, 34] still covers 0..27
