"""The package's layout (docs/ARCHITECTURE.md, "Layout"): a few modules at the top, one
subpackage per stage, and imports that only follow the flow data → models → (run folder) →
training → deploy → evaluation, with no exception. Read from the source text, so it runs in
milliseconds."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convae_tf"

# What each part of the package may import from the package (besides itself), in layer order:
# a part may import only parts above it in this table, so imports point one way (checked
# below). `errors` and `utils` (quiet output included) are leaves; `cli` is the config system
# the stages write their defaults with, and the plumbing of the entry modules; `artifacts` is
# the run folder that training writes and deploy and evaluation read; `__init__`, which every
# import of the package runs first, loads only the quiet start and the models. The entry
# modules (train.py, export.py, ...: each CLI's flags and main) sit on top and may import any.
ALLOWED = {
    "errors": set(),
    "utils": set(),
    "cli": {"errors", "utils"},
    "data": {"errors"},
    "models": {"errors"},
    "__init__": {"utils", "models"},
    "artifacts": {"errors", "utils", "models"},
    "training": {"errors", "utils", "cli", "data", "models", "artifacts"},
    "deploy": {"errors", "utils", "cli", "data", "models", "artifacts"},
    "evaluation": {"errors", "utils", "cli", "data", "models", "artifacts", "deploy"},
}
STAGES = {"data", "models", "artifacts", "training", "deploy", "evaluation"}
TOP_LEVEL_LIMIT = 8


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
            if pieces[0] == "convae_tf" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_top_level_holds_at_most_eight_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_LEVEL_LIMIT, top
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert stages >= STAGES


def test_the_layers_point_one_way():
    parts = list(ALLOWED)
    for index, part in enumerate(parts):
        later = ALLOWED[part] - set(parts[:index])
        assert not later, f"{part} may import {sorted(later)}, which come after it"


def test_every_part_of_the_package_has_its_rule():
    from convae_tf.utils import quiet

    parts = {part_of(path) for path in modules()}
    assert parts == set(ALLOWED) | set(quiet.ENTRY_POINTS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_flow(path):
    part = part_of(path)
    if part not in ALLOWED:  # the entry modules may import anything
        return
    against = imported_parts(path) - ALLOWED[part] - {part}
    assert not against, f"{part} must not import {sorted(against)}"


def test_the_standalone_predict_script_imports_nothing_of_the_package():
    # It runs beside exported files, where convae_tf may not be installed.
    assert imported_parts(PACKAGE / "deploy" / "predict.py") == set()


def test_every_entry_point_has_its_module_and_console_script():
    import tomllib

    from convae_tf.utils import quiet

    scripts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {f"convae-{name}": f"convae_tf.{name}:run" for name in quiet.ENTRY_POINTS}
    for name in quiet.ENTRY_POINTS:
        assert (PACKAGE / f"{name}.py").is_file()
