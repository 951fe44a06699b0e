"""The package's layout holds: rooms import one way, no cycles, short modules.

The rooms and their order are docs/architecture.md's; this test is where that
page is enforced. Every `import` of pose3d_jax code counts, including those
inside functions (lazy imports are still dependencies).
"""

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "pose3d_jax"
FOUNDATION = {"skeleton", "geometry", "checkpoint", "fileio"}
ENTRY_POINTS = {"__init__", "infer", "evaluate", "convert", "export", "get_detector", "tune_cpu"}
# Each room may import the rooms of lower layers and itself, nothing else.
LAYERS = (
    ("foundation", "runtime"),
    ("model", "data", "detection", "tracking", "motion"),
    ("deploy", "weights"),
    ("inference",),
    ("evaluation",),
    ("training",),
    ("entry",),
)
LAYER_OF = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}
MAX_MODULE_LINES = 400
OUTSIDE_THE_PACKAGE = ("tests", "benchmarks", "configs", "datasets", "launch")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "entry"  # pose3d_jax itself (its __init__)
    if len(parts) > 2 or (PACKAGE / parts[1]).is_dir():
        return parts[1]
    if parts[1] in FOUNDATION:
        return "foundation"
    if parts[1] in ENTRY_POINTS:
        return "entry"
    raise AssertionError(f"{module} is a top-level module of no known room; place it in one")


def imports_of(path: Path, modules=()) -> set[str]:
    """Absolute names of every module the file imports (at any depth).

    `from a import b` counts as importing a.b when a.b is one of `modules`,
    else as importing a (b is a name defined in a).
    """
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; use absolute pose3d_jax imports"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in modules else node.module)
    return names


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room_edges() -> dict[tuple[str, str], list[str]]:
    """(importing room, imported room) -> the module pairs that make the edge."""
    modules = package_modules()
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in modules.items():
        for imported in imports_of(path, modules):
            if imported not in modules:
                continue
            a, b = room_of(name), room_of(imported)
            if a != b:
                edges.setdefault((a, b), []).append(f"{name} -> {imported}")
    return edges


def test_every_room_imports_only_lower_layers():
    for (a, b), pairs in room_edges().items():
        assert LAYER_OF[b] < LAYER_OF[a], f"{a} may not import {b}: {pairs}"


def test_the_room_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for a, b in room_edges():
        graph.setdefault(a, set()).add(b)
    done, on_path = set(), []

    def visit(room):
        assert room not in on_path, f"import cycle: {' -> '.join([*on_path, room])}"
        if room in done:
            return
        on_path.append(room)
        for nxt in graph.get(room, ()):
            visit(nxt)
        on_path.pop()
        done.add(room)

    for room in list(graph):
        visit(room)


def test_foundation_modules_import_only_each_other():
    modules = package_modules()
    for name in FOUNDATION:
        own = {m for m in imports_of(modules[f"pose3d_jax.{name}"], modules) if m in modules}
        outside = {m for m in own if room_of(m) != "foundation"}
        assert not outside, f"pose3d_jax.{name} imports {sorted(outside)}"


def test_the_package_imports_no_test_helper_config_or_script():
    for name, path in package_modules().items():
        for imported in imports_of(path):
            assert imported.split(".")[0] not in OUTSIDE_THE_PACKAGE, f"{name} imports {imported}"


def test_every_module_is_short():
    for name, path in package_modules().items():
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines; split it by job"


def test_entry_points_stay_where_users_call_them():
    for name in ("infer", "evaluate", "convert"):
        assert (PACKAGE / f"{name}.py").is_file(), f"python -m pose3d_jax.{name} is gone"
    init = (PACKAGE / "__init__.py").read_text()
    assert '"Predictor": "pose3d_jax.inference.predictor"' in init
