"""The import layering (README "Layout"): every dependency points one way.

protocol < firmware < host < simulator, centre < tools < cli: a module imports only its own
layer or those below (simulator and centre never each other), and no modules import each
other in a circle, lazily inside a function or not. Read from the source with ast, so an
import that only runs on some path counts too.
"""

import ast
import os
import tomllib

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
LAYER = {
    "protocol": 0,
    "firmware": 1,
    "host": 2,
    "simulator": 3,
    "centre": 3,
    "tools": 4,
    "cli": 5,
}


def _packages():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]["package-dir"]


def _modules():
    """{module name: source path} of every emtag module in this checkout."""
    out = {}
    for pkg, folder in _packages().items():
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            rel = os.path.relpath(dirpath, base)
            prefix = pkg if rel == "." else pkg + "." + rel.replace(os.sep, ".")
            for fn in files:
                if fn.endswith(".py"):
                    name = prefix if fn == "__init__.py" else prefix + "." + fn[:-3]
                    out[name] = os.path.join(dirpath, fn)
    return out


def _imports(name, path, known):
    """The emtag modules that module `name` imports anywhere in its source."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import mod` depends on pkg.mod; `from pkg import name`, on pkg
            targets = [base + "." + a.name if base + "." + a.name in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import emtag.host.store.x` counts as its module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _layer(module):
    return module.split(".")[1]


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    return {m: _imports(m, p, mods) for m, p in mods.items()}


def test_every_package_has_a_layer():
    assert {pkg.split(".")[1] for pkg in _packages()} <= set(LAYER)


def test_no_module_imports_a_layer_above_or_beside_its_own(graph):
    wrong = sorted(
        "%s imports %s" % (a, b)
        for a, deps in graph.items()
        for b in deps
        if _layer(a) != _layer(b) and LAYER[_layer(b)] >= LAYER[_layer(a)]
    )
    assert not wrong, "\n".join(wrong)


def test_no_import_circles(graph):
    # Tarjan's strongly connected components, iteratively
    index, low, stack, on, circles = {}, {}, [], set(), []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    circles.append(sorted(comp))
    assert not circles, "modules importing each other in a circle: %s" % circles


def test_the_check_sees_an_upward_import(tmp_path):
    """The graph reads lazy imports inside functions and relative imports."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from emtag.cli import main\n    from . import store\n")
    known = {"emtag.cli.main", "emtag.cli", "emtag.host.store", "emtag.host.m"}
    assert _imports("emtag.host.m", str(src), known) == {"emtag.cli.main", "emtag.host.store"}
    src.write_text("from emtag.cli import run\n")  # a name defined in the package itself
    assert _imports("emtag.host.m", str(src), known) == {"emtag.cli"}
