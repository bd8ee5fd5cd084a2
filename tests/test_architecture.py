"""The package's shape: every module imports on its own, imports run one way
(cli -> checks/train/output -> analysis), there is no import cycle, and rfkit
never imports zoo at module level."""
import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rfkit", "zoo")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported rfkit/zoo module, at module level?) for every import statement in `module`."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    type_checking = {id(n) for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                     for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        known = [t for t in targets if t.split(".")[0] in PACKAGES and _is_module(t)]
        found += [(t, id(node) in top_level) for t in known]
    return found


def _is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "rfkit" else module


def test_every_module_imports_on_its_own():
    """`python -c "import X"` in a fresh interpreter for every module (run side by side: each pays torch's import)."""

    def imports(module):
        run = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT)
        return module, run.returncode, run.stderr.strip().splitlines()[-1:]

    modules = _modules()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(imports, modules))
    assert len(results) == len(modules) > 40
    assert [(m, err) for m, code, err in results if code != 0] == []


def test_no_import_cycle():
    graph = {m: {t for t, _ in _imports(m) if t != m} for m in _modules()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in graph.get(m, ()):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


ALLOWED = {  # layer -> layers of rfkit it may import
    "analysis": {"analysis", "errors"},
    "output": {"output", "errors"},
    "checks": {"checks", "analysis", "output", "errors"},
    "train": {"train", "analysis", "output", "errors"},
    "search": {"search", "train", "checks", "analysis", "output", "errors", "loading"},
}


def test_imports_run_one_way():
    wrong = []
    for module in _modules():
        layer = _layer(module)
        if layer not in ALLOWED:
            continue
        for target, _ in _imports(module):
            if target.startswith("rfkit.") and _layer(target) not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
            if target.split(".")[0] == "zoo":
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_rfkit_never_imports_zoo_at_module_level():
    wrong = [f"{m} imports {t}" for m in _modules() if m.startswith("rfkit")
             for t, top in _imports(m) if top and t.split(".")[0] == "zoo"]
    assert wrong == []


def test_the_checker_sees_imports():
    """The checks above read real import statements (a check that sees nothing cannot fail)."""
    recorder = dict(_imports("rfkit.analysis.recorder"))
    assert recorder["rfkit.analysis.rules"] is True
    assert any(t == "zoo" and not top for t, top in _imports("rfkit.loading"))
