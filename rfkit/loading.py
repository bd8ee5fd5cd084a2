"""Resolving a MODEL argument into a module and its input size.

Accepted forms: `zoo.MnistNet_2` (or just `MnistNet_2`), a dotted path to a
class, factory or instance (`torchvision.models.resnet18`), `pkg.module:Attr`,
and `path/to/file.py:Net`. Classes and factories are called with no arguments.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from rfkit.errors import ModelLoadError, one_line
from rfkit.train.recipe import carried

if TYPE_CHECKING:
    from zoo.registry import Card


@dataclass
class LoadedModel:
    spec: str
    model: nn.Module
    input_size: tuple[int, ...] | list[tuple[int, ...]] | None  # a list for several inputs
    card: Card | None

    @property
    def name(self) -> str:
        return self.card.name if self.card else type(self.model).__name__

    @property
    def recipe(self):
        """The card's training recipe, else the one the model carries (an exported design's), else None."""
        return self.card.recipe if self.card else carried(self.model)[0]

    @property
    def dataset(self) -> str | None:
        return self.card.dataset if self.card else carried(self.model)[1]

    def require_size(self) -> tuple[int, ...]:
        """The input size, or the one-line error that asks for it."""
        if self.input_size is None:
            raise ModelLoadError(f"{self.spec} is not a zoo network: pass --input-size C,H,W (e.g. 3,224,224)")
        return self.input_size


def parse_ints(text: str, flag: str, example: str) -> tuple[int, ...]:
    """'1,28,28' or '1x28x28' -> (1, 28, 28): positive integers, or a one-line error naming `flag`."""
    parts = text.replace("x", ",").replace(" ", "").strip("()[]").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ModelLoadError(f"{flag} {text!r} is not {example}") from None
    if not values or any(v <= 0 for v in values):
        raise ModelLoadError(f"{flag} {text!r} needs positive integers, e.g. {example.split()[-1].strip('()')}")
    return values


def parse_input_size(text: str | list[str] | None) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    """One --input-size as a tuple; several (a model with several inputs) as a list of tuples."""
    texts = [text] if isinstance(text, str) else list(text or [])
    sizes = [parse_ints(t, "--input-size", "C,H,W integers (e.g. 3,224,224)") for t in texts]
    return None if not sizes else sizes[0] if len(sizes) == 1 else sizes


DTYPES = {name: getattr(torch, name) for name in (
    "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
    "int16", "int8", "uint8", "bool")}


def parse_dtypes(names: list[str] | None) -> list[torch.dtype] | None:
    """--dtype values (e.g. long) as torch dtypes, or a one-line error listing the names."""
    if not names:
        return None
    unknown = [n for n in names if n.removeprefix("torch.") not in DTYPES]
    if unknown:
        raise ModelLoadError(f"--dtype {unknown[0]!r} is not a dtype; use one of {', '.join(DTYPES)}")
    return [DTYPES[n.removeprefix("torch.")] for n in names]


def _user_line(exc: BaseException) -> str:
    """' (file.py, line N)': the first frame past rfkit and importlib, i.e. the user's own statement that
    failed (a SyntaxError's message already names its line)."""
    if isinstance(exc, SyntaxError):
        return ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in (__file__, importlib.__file__) or frame.filename.startswith("<frozen"):
            continue
        return f" ({Path(frame.filename).name}, line {frame.lineno})"
    return ""


def _import_failed(what: str, exc: BaseException) -> ModelLoadError:
    if isinstance(exc, SystemExit):
        return ModelLoadError(f"importing {what} failed: it called sys.exit({exc.code!r}) at import time")
    return ModelLoadError(f"importing {what} failed: {one_line(exc)}{_user_line(exc)}")


def _import_module(name: str):
    """importlib.import_module, with the module's own import-time errors named (ImportError kept
    for the caller, which tells a missing module from a broken one)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise
    except (Exception, SystemExit) as exc:
        raise _import_failed(f"module {name}", exc) from exc


def _import_file(path: Path):
    module_name = f"rfkit_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path} as Python: name a .py file (path/to/file.py:Net)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise _import_failed(str(path), exc) from exc
    finally:
        sys.path.remove(str(path.parent.resolve()))
    return module


def _import_dotted(dotted: str):
    """Import the longest importable prefix of `dotted`; return (object, what was tried)."""
    parts = dotted.split(".")
    if not all(p.isidentifier() for p in parts):
        raise ModelLoadError(_not_found(dotted, "not a dotted path of Python names (pkg.module.Net)"))
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = _import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name) and exc.name != module_name:
                raise _import_failed(f"module {module_name}", exc) from exc
            continue
        except ImportError as exc:
            raise _import_failed(f"module {module_name}", exc) from exc
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                raise ModelLoadError(_not_found(dotted, f"module {module_name} has no attribute {attr!r}"))
            obj = getattr(obj, attr)
        return obj
    raise ModelLoadError(_not_found(dotted, f"no importable module in {dotted!r}"))


def _not_found(spec: str, tried: str) -> str:
    import zoo

    close = zoo.registry.closest(spec)
    hint = f"; closest zoo names: {', '.join('zoo.' + c for c in close)}" if close else \
        f"; zoo names: {', '.join(zoo.names())}"
    return f"cannot load MODEL {spec!r}: {tried}{hint}"


def _needs_arguments(obj) -> str | None:
    """Why `obj()` cannot be called without arguments, or None (also when the signature is unknown)."""
    try:
        inspect.signature(obj).bind()
    except TypeError as exc:
        return str(exc)
    except ValueError:
        return None
    return None


def _instantiate(obj, spec: str) -> nn.Module:
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        missing = _needs_arguments(obj)
        if missing is not None:
            raise ModelLoadError(f"{spec} needs arguments to build ({missing}); expose a no-argument "
                                 f"factory and pass that instead")
        try:
            model = obj()
        except (Exception, SystemExit) as exc:
            raise ModelLoadError(f"building {spec} failed: {one_line(exc)}{_user_line(exc)}") from exc
        if isinstance(model, nn.Module):
            return model
        raise ModelLoadError(f"{spec}() returned {type(model).__name__}, not an nn.Module")
    raise ModelLoadError(f"{spec} is a {type(obj).__name__}, not an nn.Module, class or factory")


def resolve(spec: str):
    """The object a MODEL string names (class, factory or module instance)."""
    import zoo

    spec = spec.strip()
    if spec in zoo.names():
        return zoo.entry(spec).builder
    if ":" in spec:
        target, attr = spec.rsplit(":", 1)
        if target.endswith(".py") or "/" in target or "\\" in target:
            path = Path(target)
            if not path.is_file():
                what = "is a directory, not a .py file" if path.is_dir() else "does not exist"
                raise ModelLoadError(_not_found(spec, f"file {target} {what}"))
            module = _import_file(path)
        else:
            if not all(p.isidentifier() for p in target.split(".")):
                raise ModelLoadError(_not_found(spec, f"{target!r} is not a module name (pkg.module:Net)"))
            try:
                module = _import_module(target)
            except ImportError as exc:
                raise ModelLoadError(_not_found(spec, f"cannot import module {target!r} ({exc})")) from exc
        if not hasattr(module, attr):
            raise ModelLoadError(_not_found(spec, f"{target} has no attribute {attr!r}"))
        return getattr(module, attr)
    if "." not in spec:
        raise ModelLoadError(_not_found(spec, "not a zoo name, dotted path, module:Attr or file.py:Attr"))
    return _import_dotted(spec)


def load(spec: str, input_size: str | tuple[int, ...] | None = None, need_size: bool = True) -> LoadedModel:
    """A model and its input size: a zoo card's unless `input_size` overrides it.
    Training passes `need_size=False`: there the data gives the size."""
    import zoo

    obj = resolve(spec)
    card = zoo.card_of(obj) if inspect.isclass(obj) or isinstance(obj, nn.Module) else None
    model = _instantiate(obj, spec)
    card = card or zoo.card_of(model)
    if isinstance(input_size, str) or isinstance(input_size, list) and all(isinstance(t, str) for t in input_size):
        input_size = parse_input_size(input_size)
    size = input_size or (card.input_size if card else carried(model)[2])
    loaded = LoadedModel(spec, model, size if size else None, card)
    if need_size:
        loaded.require_size()
    return loaded
