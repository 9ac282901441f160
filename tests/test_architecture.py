"""How core/ is built: no import cycles between its modules, and its packages import only the
packages below them (docs/ARCHITECTURE.md, "Packages")."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core"

#: what each package of core/ may import from core/ (besides itself and the top-level helper
#: modules core/*.py). Higher packages may use lower ones, never the other way round.
ALLOWED = {
    "video": set(),
    "tracking": {"video"},
    "model": {"tracking"},  # the built-in mesh is read from the tracker's model file
    "render": {"model"},
    "fitting": {"model", "tracking", "video", "render"},
    "flow": {"render", "model", "fitting"},
    "warp": {"model", "fitting"},
    "qa": {"fitting", "flow", "render", "model", "tracking", "video", "project"},
    "edits": {"warp", "fitting", "model", "video", "project"},
    "reenact": {"warp", "fitting", "model", "tracking", "video"},
    "project": {"fitting", "tracking", "video"},  # video: the frame count of the source a project names
    "batch": {"qa", "project", "fitting", "flow", "render", "model", "tracking", "video"},
    "neural": {"reenact", "warp", "fitting", "model", "render", "tracking", "video", "project"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_imports(path: Path) -> set[str]:
    """core.* modules a file imports (at module level or inside functions), resolved to modules
    that exist (``from core.x import name`` counts as core.x, or core.x.name when that is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            if n.split(".")[0] == "core" and n in MODULES:
                out.add(n)
    return out


MODULES = {module_name(p): p for p in CORE.rglob("*.py")}


def graph() -> dict[str, set[str]]:
    return {m: {d for d in core_imports(p) if d != m} for m, p in MODULES.items()}


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return cycles


def test_core_has_no_import_cycles():
    """Any import counts, also one inside a function: a cycle hidden by a late import is still
    two modules that cannot be understood (or moved) one without the other. Package
    ``__init__`` re-exports are left out (they import their own modules by design)."""
    g = {m: {d for d in deps if not (MODULES[d].name == "__init__.py" and m.startswith(d + "."))}
         for m, deps in graph().items()}
    cycles = find_cycles(g)
    assert not cycles, "import cycles in core/: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}, "f": {"g"}, "g": {"f"}}
    assert sorted(find_cycles(g)) == [["a", "b", "c"], ["f", "g"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    # and the graph it is given is the real one: late (in-function) imports count
    assert "core.fitting.pipeline" in graph()["core.fitting.clip"]
    assert "core.fitting.clip" in graph()["core.qa.inputs"]  # imported inside prepare()


def test_core_packages_import_only_the_packages_below_them():
    offenders = []
    for m, deps in graph().items():
        parts = m.split(".")
        if len(parts) < 3 and not (CORE / parts[-1]).is_dir():
            continue  # a top-level helper module (core/jobs.py, core/camera.py, ...)
        pkg = parts[1]
        assert pkg in ALLOWED, f"core/{pkg} is not in the layering table: add it (and to ARCHITECTURE.md)"
        for d in deps:
            dp = d.split(".")
            if len(dp) < 3 and not (CORE / dp[-1]).is_dir():
                continue  # core.jobs, core.camera, ... are below every package
            if dp[1] != pkg and dp[1] not in ALLOWED[pkg]:
                offenders.append(f"{m} imports {d}")
    assert not offenders, "\n".join(offenders)
