"""kzoo's import graph is layered: no module imports one of a higher layer, and no two modules import each other,
directly or around a loop. Imports inside functions count too: a lazy import is still a dependency. The layers are
drawn in docs/testing.md ("Layout")."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS = [
    ("foundation", ["kzoo.version", "kzoo.config", "kzoo.noise", "kzoo.visualize", "kzoo.datasets.pixels"]),
    ("data", ["kzoo.assets", "kzoo.datasets"]),
    ("building blocks", ["kzoo.losses", "kzoo.constraints", "kzoo.augment", "kzoo.networks", "kzoo.metrics",
                         "kzoo.distribute"]),
    ("models", ["kzoo.models", "kzoo.callbacks", "kzoo.checkpoint"]),
    ("families", ["kzoo.families"]),
    ("presets and formats", ["kzoo.presets", "kzoo.export", "kzoo.results"]),
    ("named models", ["kzoo.registry"]),
    ("runs", ["kzoo.run", "kzoo.training", "kzoo.shipping", "kzoo.studies", "kzoo.semisupervised"]),
    ("interfaces", ["kzoo.cli", "kzoo.__main__", "kzoo"]),
]


def module_files(package="kzoo"):
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(path, name, modules):
    """The kzoo modules `path` (module `name`) imports anywhere in its body: ``from kzoo.x import y`` counts as
    ``kzoo.x.y`` when that is a module, else as ``kzoo.x``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "kzoo")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            if module.split(".")[0] != "kzoo":
                continue
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module)
    return found - {name}


def import_graph():
    modules = module_files()
    return {name: sorted(imports_of(path, name, modules)) for name, path in modules.items()}


def layer_of(module):
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to docs/testing.md's drawing).")
    return max(matches)[1]


def upward_imports(graph):
    return [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
            for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m)]


def cycles(graph):
    """Every import cycle, as the list of its modules (found by depth-first search; each reported once)."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("graph, expected", [
    ({"kzoo.export": ["kzoo.registry"], "kzoo.registry": ["kzoo.export"]},
     [["kzoo.export", "kzoo.registry", "kzoo.export"]]),
    ({"kzoo.a": ["kzoo.b"], "kzoo.b": ["kzoo.c"], "kzoo.c": ["kzoo.a"]}, [["kzoo.a", "kzoo.b", "kzoo.c", "kzoo.a"]]),
    ({"kzoo.a": ["kzoo.b"], "kzoo.b": []}, []),
])
def test_the_cycle_finder_finds_the_cycles_it_is_there_for(graph, expected):
    assert cycles(graph) == expected


def test_the_layer_check_reports_an_upward_import():
    assert upward_imports({"kzoo.models.vae": ["kzoo.presets"]}) == [
        "kzoo.models.vae (models) imports kzoo.presets (presets and formats)"]


def test_every_module_is_within_400_lines():
    lengths = {name: len(path.read_text().splitlines()) for name, path in module_files().items()}
    assert {name: n for name, n in lengths.items() if n > 400} == {}
