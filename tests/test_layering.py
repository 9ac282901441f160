"""The layering rule: nothing under core/ imports Qt, vispy or pyqtgraph, and
widgets/ holds no algorithms (it may not import torch, scipy, moderngl, core.fitting,
core.tracking or core.render: the 3D viewport widget shows images rendered by app/viewport.py)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "vispy", "pyqtgraph", "app", "widgets")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_core_never_imports_gui_toolkits():
    offenders = []
    files = sorted((REPO / "core").rglob("*.py"))
    assert files, "core/ has no modules"
    for f in files:
        for name in _imports(f):
            if name.split(".")[0] in FORBIDDEN_IN_CORE:
                offenders.append(f"{f.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_core_imports_cleanly_without_qt():
    """Importing every core module in a fresh interpreter loads no Qt module."""
    import subprocess
    import sys

    mods = [
        ".".join(f.relative_to(REPO).with_suffix("").parts)
        for f in sorted((REPO / "core").rglob("*.py"))
        if f.name != "__main__.py"
    ]
    mods = [m[: -len(".__init__")] if m.endswith(".__init__") else m for m in mods]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6','PyQt5','PyQt6','vispy','pyqtgraph')]\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_widgets_hold_no_algorithms():
    offenders = []
    for f in sorted((REPO / "widgets").rglob("*.py")):
        for name in _imports(f):
            top = name.split(".")
            if top[0] in ("torch", "scipy", "moderngl") or name.startswith(("core.fitting", "core.tracking",
                                                                            "core.render")):
                offenders.append(f"{f.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)
