"""The package's layout (docs/ARCHITECTURE.md, "Layout"): a few modules at the top, one
subpackage per stage, and imports that only follow the flow data → models → training →
deploy → evaluation. Read from the source text, so it runs in milliseconds."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convae_tf"

# What each part of the package may import from the package (besides itself). `errors` and
# `utils` are leaves every stage may use; `cli` (flags, one-line errors, quiet logs) serves the
# stages that have a command line; the entry modules and `__init__` sit on top of everything.
ALLOWED = {
    "errors": set(),
    "utils": set(),
    "cli": {"errors"},
    "data": {"errors", "cli"},  # cli: the prepare command
    "models": {"errors"},
    "training": {"errors", "utils", "cli", "data", "models"},
    "deploy": {"errors", "utils", "cli", "data", "models", "training"},
    "evaluation": {"errors", "utils", "cli", "data", "models", "training", "deploy"},
}
TOP_LEVEL_LIMIT = 8
# Stand-alone modules that import nothing of the package (checked below): any part may use them.
LEAVES = {"deploy.predict"}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    """The parts of convae_tf that a module imports (`convae_tf.X...` → X)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "convae_tf" and len(pieces) > 1 and ".".join(pieces[1:3]) not in LEAVES:
                parts.add(pieces[1])
    return parts


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_top_level_holds_at_most_eight_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_LEVEL_LIMIT, top
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"data", "models", "training", "deploy", "evaluation"} <= stages


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_flow(path):
    part = part_of(path)
    if part not in ALLOWED:  # __init__ and the entry modules may import anything
        return
    against = imported_parts(path) - ALLOWED[part] - {part}
    assert not against, f"{part} must not import {sorted(against)}"


def test_the_standalone_predict_script_imports_nothing_of_the_package():
    # It runs beside exported files, where convae_tf may not be installed.
    assert imported_parts(PACKAGE / "deploy" / "predict.py") == set()


def test_every_entry_point_has_its_module_and_console_script():
    import tomllib

    from convae_tf.cli import quiet

    scripts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {f"convae-{name}": f"convae_tf.{name}:run" for name in quiet.ENTRY_POINTS}
    for name in quiet.ENTRY_POINTS:
        assert (PACKAGE / f"{name}.py").is_file()
