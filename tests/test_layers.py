"""The package's layers (docs/design.md) hold: every a2d module sits in one layer, imports only its
own layer and the ones below, and no modules import each other in a loop. Read from the installed
source with ``ast``, every import counted (module level, inside functions, under TYPE_CHECKING).
Modules and functions stay small enough to read: at most ~400 lines a module, ~80 a function.

Also: the import paths from before the layers still work, silently for the public ones and with a
DeprecationWarning naming the new path for the internal ones.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import a2d

#: Bottom to top. A module imports only modules of its own layer or a lower one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("a2d.contracts",),
    ("a2d.kernels", "a2d.nn", "a2d._core", "a2d._core_cuda"),
    ("a2d.storage",),
    ("a2d.runtime",),
    ("a2d.pipelines",),
    ("a2d.cli", "a2d.serve"),  # the faces: the command line (and the web app, a2d serve)
)
#: The package face and its helpers: importable from anywhere (they import no layer at load,
#: except the face itself, which hands on ``hookimpl`` and ``A2DError``).
ROOT = ("a2d", "a2d._version", "a2d._moved")
#: What the built-in plugins may import of a2d: the contracts and the kernels.
PLUGIN_LAYERS = 1
PLUGINS = ("a2d_vital", "a2d_surge", "a2d_dexed", "a2d_flow", "a2d_feedforward")


def layer_of(module: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _sources(package: str) -> dict[str, Path]:
    top = Path(__import__(package).__file__).parent
    return {_module_name(p, top, package): p for p in sorted(top.rglob("*.py"))}


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The a2d modules that ``module`` imports anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the module pkg.sub when there is one.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "a2d" or name.startswith("a2d."):
                # The longest known module that the dotted name starts with.
                while name not in known and "." in name:
                    name = name.rpartition(".")[0]
                found.add(name)
    found.discard(module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    sources = _sources("a2d")
    known = set(sources) | {"a2d._core", "a2d._core_cuda"}
    return {m: _imports(m, p, known) for m, p in sources.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    homeless = sorted(m for m in graph if m not in ROOT and layer_of(m) is None)
    assert not homeless, (
        f"put these modules in a layer (a2d/<layer>/) and docs/design.md: {homeless}"
    )
    # The reader sees every kind of import: `from pkg import submodule`, and imports inside
    # functions (predict_output imports the report lazily).
    assert len(graph) > 60
    assert "a2d.kernels._native" in graph["a2d.kernels.mel"]
    assert "a2d.pipelines.report" in graph["a2d.pipelines.predict_output"]
    assert "a2d.contracts.plugins" in graph["a2d.storage.checkpoint"]


def test_no_module_imports_a_higher_layer(graph: dict[str, set[str]]) -> None:
    upward = []
    for module, imported in sorted(graph.items()):
        if module in ROOT:
            continue
        here = layer_of(module)
        for target in sorted(imported):
            there = layer_of(target)
            if target not in ROOT and (there is None or there > here):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    # The package face imports the contracts it hands on; everything may import the face's
    # helpers. Leave the face out so `from a2d._version import ...` is no loop through it.
    inner = {m: {t for t in ts if t != "a2d"} for m, ts in graph.items() if m != "a2d"}
    assert _cycles(inner) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("plugin", PLUGINS)
def test_builtin_plugins_use_only_contracts_and_kernels(plugin: str) -> None:
    sources = _sources(plugin)
    known = set(_sources("a2d")) | set(sources)
    bad = sorted(
        f"{m} -> {t}"
        for m, p in sources.items()
        for t in _imports(m, p, known)
        if t.startswith("a2d.") and t not in ROOT and (layer_of(t) or 0) > PLUGIN_LAYERS
    )
    assert not bad, bad


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:__main__", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_public_old_paths_import_silently_as_the_same_module() -> None:
    code = (
        "import warnings, importlib\n"
        "warnings.simplefilter('error')\n"
        "import a2d.spec, a2d.synth, a2d.model, a2d.errors, a2d.hookspecs, a2d.plugins\n"
        "import a2d.mel, a2d.features, a2d.dataset, a2d.checkpoint\n"
        "from a2d.spec import ParamSpec\n"
        "from a2d.contracts.spec import ParamSpec as New\n"
        "assert ParamSpec is New\n"
        "assert a2d.spec is importlib.import_module('a2d.contracts.spec')\n"
        "assert a2d.spec.__spec__.name == 'a2d.contracts.spec'\n"
        "assert a2d.mel.mel_spectrogram is a2d.mel_spectrogram\n"
        "print('ok')\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_internal_old_paths_warn_with_the_new_path() -> None:
    code = (
        "import warnings, sys\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    from a2d.predict import SoundMatcher\n"
        "    import a2d.train.loop\n"
        "    from a2d.synth import create_backend\n"
        "import a2d.pipelines.predict, a2d.pipelines.train.loop, a2d.contracts.plugins\n"
        "assert SoundMatcher is a2d.pipelines.predict.SoundMatcher\n"
        "assert sys.modules['a2d.train.loop'] is a2d.pipelines.train.loop\n"
        "assert create_backend is a2d.contracts.plugins.create_backend\n"
        "for w in seen:\n"
        "    print(w.category.__name__, w.message)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        "DeprecationWarning a2d.predict moved to a2d.pipelines.predict" in line for line in lines
    ), lines
    assert any("a2d.train moved to a2d.pipelines.train" in line for line in lines), lines
    assert any(
        "a2d.contracts.synth.create_backend moved to a2d.contracts.plugins.create_backend" in line
        for line in lines
    ), lines


def test_an_unknown_old_name_is_an_attribute_error() -> None:
    import a2d.contracts.synth as synth

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = synth.no_such_name
    assert a2d.__version__


#: Longest module (lines) and function (its own body: no signature, no nested functions).
MODULE_LINES, FUNCTION_LINES = 400, 80


def _own_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, less its docstring and the functions defined in it (they are
    measured on their own). The signature does not count: a CLI command's options are a table."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    lines = node.end_lineno - body[0].lineno + 1
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            lines -= stmt.end_lineno - stmt.lineno + 1
    return lines


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for module, path in _sources("a2d").items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MODULE_LINES:
            too_long.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_function and _own_lines(node) > FUNCTION_LINES:
                too_long.append(f"{module}.{node.name}: {_own_lines(node)} lines")
    assert not too_long, "split these:\n" + "\n".join(too_long)


def test_own_lines_leaves_out_the_signature_and_nested_functions() -> None:
    code = (
        "def outer(a,\n          b):\n"
        '    """Doc."""\n'
        "    x = 1\n"
        "    def inner():\n        return 2\n"
        "    return x\n"
    )
    outer = ast.parse(code).body[0]
    assert _own_lines(outer) == 2
