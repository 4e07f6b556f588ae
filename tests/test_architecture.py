"""The floors of docs/ARCHITECTURE.md, checked on the source: which package may import which, and no
import circle between the library's modules (a circle makes import order decide what works)."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARY = ("compat", "fileio", "modeling", "optimization", "data", "evaluation", "training")
# What each package may import of ours, besides itself (docs/ARCHITECTURE.md's picture).
ALLOWED = {
    "compat": set(),
    "fileio": set(),
    "modeling": {"compat", "fileio"},
    "optimization": {"compat"},
    "data": {"compat", "fileio"},
    "evaluation": {"compat", "fileio"},
    "training": {"compat", "fileio", "modeling", "optimization", "data", "evaluation"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules=()):
    """(imported module, whether at module level) for every import of ours in `path`: `from a.b import c`
    imports the module a.b.c when that is one of `modules`, else a.b."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in LIBRARY:
                yield name, id(node) in top_level


def library_modules():
    modules = {}
    for package in LIBRARY:
        for path in sorted((REPO / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def test_packages_import_only_the_floors_below_them():
    wrong = []
    for name, path in library_modules().items():
        package = name.split(".")[0]
        for imported, _ in imports_of(path):
            other = imported.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO)} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_relative_imports_are_not_used():
    relative = [str(path.relative_to(REPO)) for path in library_modules().values()
                if any(isinstance(node, ast.ImportFrom) and node.level
                       for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert not relative, relative


def test_no_import_circle_between_library_modules():
    modules = library_modules()
    graph = {}
    for name, path in modules.items():
        # Module-level imports only: an import inside a function runs after every module is loaded.
        graph[name] = {imported for imported, top in imports_of(path, modules)
                       if top and imported in modules and imported != name}
    circles = []
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not circles, "\n".join(circles)


def test_no_private_name_is_imported_from_another_module():
    private = []
    for name, path in library_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARY:
                private += [f"{path.relative_to(REPO)}: {node.module}.{alias.name}" for alias in node.names
                            if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, "\n".join(private)
