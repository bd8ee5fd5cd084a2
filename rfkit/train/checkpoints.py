"""Trained weights into a model: `rfkit train`'s best.pt/last.pt, a run directory
(its best.pt) or a bare state_dict, read with `weights_only=True` and never written.
Every way a checkpoint can fail to fit (missing, unreadable, another architecture)
is one line naming the file and what differs."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from rfkit.errors import RfkitError, one_line


def resolve(path: str | Path) -> Path:
    """The checkpoint file `path` names: the file itself, or a run directory's best.pt."""
    path = Path(path)
    if path.is_dir():
        best = path / "best.pt"
        if not best.is_file():
            raise RfkitError(f"no best.pt in {path} (a run directory has one after its first epoch); "
                             f"pass --checkpoint FILE.pt")
        return best
    if not path.is_file():
        raise RfkitError(f"checkpoint {path} does not exist")
    return path


def state_dict(path: str | Path) -> tuple[Path, dict]:
    """(file, state_dict) of a checkpoint: the "model" entry of an rfkit checkpoint, or the dict itself."""
    file = resolve(path)
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle of arbitrary objects, not a torch file at all
        raise RfkitError(f"cannot read checkpoint {file} ({one_line(exc)[:200]})") from None
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RfkitError(f"checkpoint {file} holds no state_dict (expected rfkit train's best.pt/last.pt "
                         f"or torch.save(model.state_dict()))")
    return file, state


def _listed(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def load_weights(model: nn.Module, path: str | Path) -> Path:
    """Copy the checkpoint's weights into `model` (in place); the file read is returned."""
    file, state = state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = ([f"missing {_listed(missing)}"] if missing else []) + \
                ([f"unexpected {_listed(unexpected)}"] if unexpected else []) + \
                ([f"shapes differ (checkpoint vs model): {_listed(shapes, 2)}"] if shapes else [])
        raise RfkitError(f"checkpoint {file} does not fit {type(model).__name__} (another architecture?): "
                         f"{'; '.join(parts)}")
    model.load_state_dict(state)
    return file
