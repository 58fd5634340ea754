"""Issue 18's limits on the collection's Python, kept by a test so that no change quietly passes them: no file of
plugins/ over 600 lines, no module's main() over 60 lines (the logic lives in module_utils, unit-tested)."""

import ast
import pathlib

import pytest

PLUGINS = pathlib.Path(__file__).resolve().parents[1] / "collections" / "ansible_collections" / "fracto" / "hosting" / "plugins"
FILES = sorted(p for p in PLUGINS.rglob("*.py") if "__pycache__" not in p.parts)
MODULES = sorted((PLUGINS / "modules").glob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_no_plugin_file_is_over_600_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 600, "%s has %d lines: split it along its concerns (module_utils/<area>/)" % (path.name, lines)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_no_modules_main_is_over_60_lines(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    main = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    if not main:  # the documentation of an action that runs on the controller only
        assert (PLUGINS / "action" / path.name).is_file(), "%s has no main() and no action plugin" % path.name
        return
    length = main[0].end_lineno - main[0].lineno + 1
    assert length <= 60, "%s: main() has %d lines: move the logic to module_utils" % (path.name, length)


def test_the_walk_finds_the_collection():
    assert len(FILES) > 50 and len(MODULES) > 15
