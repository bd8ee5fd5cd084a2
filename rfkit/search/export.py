"""A trial as a standalone Python file: `class Net(nn.Module)` with its layers spelled
out and the recipe it was trained with (the built-in space), or a factory that
rebuilds it from the user's space at the trial's point."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rfkit.output.render import per_axis


def rebuild(space_spec: str, point: dict, dataset: str):
    """The network a space builds at `point` (a trial's params), seeded as its trial was not: the caller
    seeds (rfkit train does)."""
    import optuna

    from rfkit.search.space import resolve_space

    function, _ = resolve_space(space_spec)
    trial = optuna.trial.FixedTrial(point)
    trial.set_user_attr("dataset", dataset)
    return function(trial)


def title(settings, record: dict) -> str:
    test = record["test_acc"][-1] if record["test_acc"] else None
    acc = (f"best validation accuracy {record['best_acc']:.2f}% in {settings.epochs} epochs"
           f"{f', test {test:.2f}% at the last' if test is not None else ''}") if record["best_acc"] is not None \
        else "not trained to the end"
    return (f"Trial {record['number']} of the rfkit design study {settings.study!r} (space {settings.space}, "
            f"{settings.dataset}): {record['params']:,} parameters, {record['macs']:,} MACs, RF "
            f"{per_axis(tuple(record['rf']))}, {acc}.")


def export_source(settings, trial, record: dict) -> str:
    from rfkit.analysis.tracing import trace
    from rfkit.search import space as spaces

    model = rebuild(settings.space, trial.params, settings.dataset)
    if isinstance(model, spaces.DesignedNet):
        report = trace(model, model.input_size, device="meta")
        notes = {layer.name: f"{'x'.join(map(str, layer.out_shape[-2:]))}, RF {per_axis(layer.r_out)}"
                 for layer in report.rf_layers()}
        recipe = replace(model.recipe, epochs=settings.epochs)
        return spaces.source(model.arch, recipe, settings.dataset, title(settings, record), notes)
    spec = settings.space
    if ":" in spec and spec.split(":")[0].endswith(".py"):
        path, attr = spec.rsplit(":", 1)
        spec = f"{Path(path).resolve()}:{attr}"
    return f'''"""{title(settings, record)}

Exported by `rfkit design`: `Net()` rebuilds the network from the space at the trial's point.
Train it with `rfkit train THIS_FILE.py:Net --dataset {settings.dataset}`.
"""
from rfkit.search.export import rebuild

SPACE = {spec!r}
POINT = {dict(trial.params)!r}


def Net():
    return rebuild(SPACE, POINT, {settings.dataset!r})
'''
