"""The zoo reproduces its seeds: totals, every summary row, forward shapes, LR schedules."""
import pytest
import torch
import torch.nn as nn
import torchinfo

import zoo

NAMES = zoo.names()


def test_all_seven_networks_registered():
    assert NAMES == ["S5Net", "S5NetBias", "S6Net", "MnistNet_1", "MnistNet_2", "MnistNet_3", "UltimusNet"]


@pytest.mark.parametrize("name", NAMES)
def test_params_equal_documented_total(name):
    model = zoo.create(name)
    assert sum(p.numel() for p in model.parameters()) == zoo.card(name).documented.params


@pytest.mark.parametrize("name", NAMES)
def test_forward_at_documented_input_size(name):
    card = zoo.card(name)
    out = zoo.create(name).eval()(torch.randn(3, *card.input_size))
    assert out.shape == (3, 48 if name == "UltimusNet" else 10)  # UltimusNet: the seed's run returned its 48 pooled features


def torchsummary_rows(model: nn.Module, input_size):
    """torchsummary 1.5.1's rows, rebuilt: every module but Sequential/ModuleList/the model
    itself, numbered in forward-completion order, batch shown as -1 (it runs batch 2)."""
    rows, hooks = [], []

    def hook(module, inputs, output):
        n = len(rows) + 1
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((f"{type(module).__name__}-{n}", (-1, *output.shape[1:]), params))

    for m in model.modules():
        if not isinstance(m, (nn.Sequential, nn.ModuleList)) and m is not model:
            hooks.append(m.register_forward_hook(hook))
    model.eval()(torch.zeros(2, *input_size))
    for h in hooks:
        h.remove()
    return rows


def torchinfo_rows(model: nn.Module, input_size):
    stats = torchinfo.summary(model, input_size=(1, *input_size), verbose=0, depth=8)
    cells = [(l, l.num_params_to_str(False).strip()) for l in stats.summary_list if l.depth > 0]
    return [(f"{l.class_name}: {l.depth}-{l.depth_index}", tuple(l.output_size),
             None if cell == "--" else int(cell.replace(",", ""))) for l, cell in cells]


@pytest.mark.parametrize("name", NAMES)
def test_every_summary_row_matches_seed(name):
    card = zoo.card(name)
    model = zoo.create(name)
    if card.documented.summary_style == "torchsummary":
        got = torchsummary_rows(model, card.input_size)
        want = [(r.layer, r.shape, r.params) for r in card.documented.summary_rows]
    else:
        got = torchinfo_rows(model, card.input_size)
        want = [(r.layer, r.shape, r.params) for r in card.documented.summary_rows]
    assert got == want


def test_cards_hold_seed_tables():
    assert len(zoo.card("S6Net").documented.summary_rows) == 20
    assert len(zoo.card("UltimusNet").documented.summary_rows) == 25
    assert len(zoo.card("MnistNet_2").documented.summary_rows) == 27
    assert zoo.card("MnistNet_1").documented.rf_rows[-1].r_out == 28
    assert zoo.card("MnistNet_2").documented.summary_title == "MnistNet_4"


def _lr_at_epoch_starts(card, epochs):
    recipe = card.recipe
    param = nn.Parameter(torch.zeros(1))
    opt = getattr(torch.optim, recipe.optimizer)([param], **recipe.optimizer_kwargs)
    sched = getattr(torch.optim.lr_scheduler, recipe.schedule.name)(opt, **recipe.schedule.kwargs)
    steps = recipe.schedule.kwargs.get("steps_per_epoch", 1) if recipe.schedule.per == "batch" else 1
    lrs = {}
    for epoch in range(1, epochs + 1):
        lrs[epoch] = opt.param_groups[0]["lr"]
        for _ in range(steps):
            opt.step()
            sched.step()
    return lrs


@pytest.mark.parametrize("name", [n for n in NAMES if zoo.card(n).results.logged_lr])
def test_recipe_reproduces_logged_learning_rates(name):
    card = zoo.card(name)
    lrs = _lr_at_epoch_starts(card, card.recipe.epochs)
    for epoch, logged in card.results.logged_lr.items():
        # StepLR lines print 5 significant digits ("3.1688e-02"); OneCycle lines print full floats
        tol = 1e-12 if card.recipe.schedule.name == "OneCycleLR" else 5e-5
        assert lrs[epoch] == pytest.approx(logged, rel=tol), f"epoch {epoch}"


def test_onecycle_recipe_pins_all_24_logged_values():
    card = zoo.card("UltimusNet")
    assert len(card.results.logged_lr) == 24
    assert card.recipe.schedule.kwargs["final_div_factor"] == 1000


# UltimusNet's readings, head and stem options: tests/test_ultimus.py


@pytest.mark.parametrize("name", NAMES)
def test_card_records_recipe_and_inferences(name):
    card = zoo.card(name)
    assert card.recipe.epochs > 0 and card.recipe.batch_size > 0
    assert card.recipe.inferred, "every seed leaves something to infer; the card must say what"
    assert card.seed.endswith(".txt")
