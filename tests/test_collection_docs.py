"""The collection's README lists every plugin with its documented one-line description, every role of the project,
and galaxy.yml carries no placeholder address: a plugin or role added without its line fails here."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "fracto" / "hosting"
README = (COLLECTION / "README.md").read_text()


def plugins(kind):
    return sorted(path for path in (COLLECTION / "plugins" / kind).glob("*.py") if path.name != "__init__.py")


def string_constants(path):
    """The module-level and class-level string assignments of a plugin file: {name: value}."""
    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def readme_row(name):
    rows = [line for line in README.splitlines() if line.startswith("| `%s` |" % name)]
    assert len(rows) == 1, "the collection README has no line (or more than one) for %s" % name
    return rows[0]


@pytest.mark.parametrize("path", plugins("modules") + plugins("vars"), ids=lambda path: path.stem)
def test_every_module_and_vars_plugin_is_listed_with_its_short_description(path):
    short = yaml.safe_load(string_constants(path)["DOCUMENTATION"])["short_description"]
    assert short in readme_row("fracto.hosting." + path.stem)


@pytest.mark.parametrize("path", plugins("action"), ids=lambda path: path.stem)
def test_every_action_plugin_is_listed_and_documented_by_its_module_file(path):
    assert (COLLECTION / "plugins" / "modules" / path.name).is_file()
    section = README.split("## Action plugins", 1)[1].split("\n## ", 1)[0]
    assert "| `fracto.hosting.%s` |" % path.stem in section


@pytest.mark.parametrize("path", plugins("doc_fragments"), ids=lambda path: path.stem)
def test_every_doc_fragment_is_listed(path):
    # DOCUMENTATION is fracto.hosting.<file>; another upper-case string (SSH) is fracto.hosting.<file>.<lower-case>.
    for name in string_constants(path):
        if name.isupper() and name not in ("RETURN", "EXAMPLES"):
            readme_row("fracto.hosting." + path.stem + ("" if name == "DOCUMENTATION" else "." + name.lower()))


@pytest.mark.parametrize("role", sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir()))
def test_every_product_role_is_listed(role):
    readme_row(role)


def test_galaxy_metadata_has_no_placeholder_address():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    for key in ("repository", "documentation", "homepage", "issues"):
        assert "example." not in str(galaxy.get(key) or "")
    assert galaxy["description"] and galaxy["license"] and galaxy["tags"]
