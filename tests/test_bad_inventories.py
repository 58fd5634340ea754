# -*- coding: utf-8 -*-
"""Every defect of the state is refused on the controller, named, and without leaking a secret.

How a case works (tests/bad_inventories/NN-short-name.yml, one defect per file):

    description: what is wrong
    patch:       a mapping deep-merged into the variables of tests/base_inventory
    expect:      substrings that must all appear in the output (field path, rule text)

- The base inventory is two inventories, as every run reads them (docs/security.md#inventories):
  tests/base_inventory/platform (hosts.yml, fracto_platform, fracto_ip_pool) and
  tests/base_inventory/tester (the reseller's state). Both are copied into tmp_path, the
  variables of every group_vars/all/*.yml merged into one mapping of top-level variables.
- The patch is merged into that mapping: mappings merge key by key, recursively;
  the value "__delete__" removes the key (it must exist); anything else, lists
  included, replaces the base value.
- A string value "@PEM:<name>@" is replaced by a PEM text of the `pems` fixture
  (tests/conftest.py, made fresh with cryptography on each run): shop.cert,
  shop.chain, shop.key (the committed bundle of alfa in the base inventory),
  other.key (a key of no certificate), expired.cert/.chain/.key (expired ten
  days ago), elsewhere.cert/.chain/.key (valid, for shop.elsewhere.test only).
- The result is written back split by owner: fracto_platform and fracto_ip_pool to
  <tmp>/platform/group_vars/all/state.yml (with fracto_legacy_accounts), the rest to <tmp>/tester/group_vars/all/state.yml,
  then `ansible-playbook -i <tmp>/platform -i <tmp>/tester playbooks/validate.yml` runs from the
  repository root with ANSIBLE_CONFIG=<repo>/ansible.cfg.
- It must fail (rc != 0), print every expected substring, never print a secret
  (each secret of the base inventory contains SENTINEL-SECRET; no PEM private
  key either) and never try to reach a host (all of them are on TEST-NET-1
  over ssh, so contacting one would print UNREACHABLE).

Run: .venv/bin/python -m pytest tests -q        (about 0.6 s per case, serial)
A new case: copy a file, give it the next number, one defect, the path and the rule in expect.
"""

from __future__ import annotations

import copy
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
BASE_INVENTORY = TESTS_DIR / "base_inventory"
SENTINEL = "SENTINEL-SECRET"          # in every secret of the base inventory
ANSIBLE_CONFIG = REPO / "ansible.cfg"
PLAYBOOK = REPO / "playbooks" / "validate.yml"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
CASES_DIR = TESTS_DIR / "bad_inventories"
CASES = sorted(CASES_DIR.glob("[0-9][0-9]-*.yml"))
DELETE = "__delete__"
PEM_PLACEHOLDER = ("@PEM:", "@")


def deep_merge(base, patch, where="patch"):
    """Merge patch into base (in place) by the rules above; returns base."""
    for key, value in patch.items():
        if value == DELETE:
            assert key in base, "%s.%s: __delete__ of a key that the base does not have" % (where, key)
            del base[key]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value, "%s.%s" % (where, key))
        else:
            base[key] = copy.deepcopy(value)
    return base


def fill_placeholders(value, pems):
    if isinstance(value, dict):
        return {k: fill_placeholders(v, pems) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, pems) for v in value]
    if isinstance(value, str) and value.startswith(PEM_PLACEHOLDER[0]) and value.endswith(PEM_PLACEHOLDER[1]):
        name = value[len(PEM_PLACEHOLDER[0]):-len(PEM_PLACEHOLDER[1])]
        assert name in pems, "unknown placeholder %s (known: %s)" % (value, ", ".join(sorted(pems)))
        return pems[name]
    return value


PLATFORM_KEYS = ("fracto_platform", "fracto_ip_pool", "fracto_legacy_accounts")


def build_inventory(tmp_path, base_vars, patch, pems, files=None):
    """<tmp>/inventory/{platform,reseller}; files: extra raw files of the reseller inventory, by relative path."""
    inventory = tmp_path / "inventory"
    for part in ("platform", "tester"):
        (inventory / part / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(BASE_INVENTORY / "platform" / "hosts.yml", inventory / "platform" / "hosts.yml")
    variables = deep_merge(base_vars(), fill_placeholders(patch or {}, pems))
    for part, owned in (("platform", lambda k: k in PLATFORM_KEYS), ("tester", lambda k: k not in PLATFORM_KEYS)):
        text = yaml.safe_dump({k: v for k, v in variables.items() if owned(k)}, allow_unicode=True, sort_keys=False,
                              default_flow_style=False)
        (inventory / part / "group_vars" / "all" / "state.yml").write_text("---\n" + text, encoding="utf-8")
    for relative, text in (files or {}).items():
        path = inventory / "tester" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if text.startswith("#!"):
            path.chmod(0o755)  # an inventory script, as an attacker would commit it
    return inventory


def run_validate(inventory, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ANSIBLE_CONFIG), ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false", PYTHONIOENCODING="utf-8")
    sources = ["-i", str(inventory / "platform"), "-e", "fracto_reseller_dir=%s" % (inventory / "tester")]
    return subprocess.run([str(ANSIBLE_PLAYBOOK), *sources, str(PLAYBOOK), *extra],
                          cwd=str(REPO), env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)


def assert_clean(proc):
    """No secret, no private key, no attempt to contact a managed host.

    Booleans only: pytest would otherwise show the output, secret included, in the failure.
    """
    output = proc.stdout + proc.stderr
    secret_printed = SENTINEL in output
    assert not secret_printed, "a secret (SENTINEL-SECRET) was printed"
    key_printed = "PRIVATE KEY" in output
    assert not key_printed, "a private key was printed"
    host_contacted = "UNREACHABLE" in output
    assert not host_contacted, "a managed host was contacted"
    crashed = "Traceback" in output or "MODULE FAILURE" in output or "Unexpected Exception" in output
    assert not crashed, proc.stdout[-3000:] + proc.stderr[-3000:]


def load_case(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict) and set(case) == {"description", "patch", "expect"}, \
        "%s: needs exactly description, patch and expect" % path.name
    assert isinstance(case["patch"], dict) and case["patch"], "%s: patch must be a non-empty mapping" % path.name
    assert isinstance(case["expect"], list) and case["expect"] and all(isinstance(e, str) for e in case["expect"]), \
        "%s: expect must be a non-empty list of strings" % path.name
    return case


def test_cases_are_well_formed():
    assert len(CASES) >= 30
    numbers = [p.name[:2] for p in CASES]
    assert len(numbers) == len(set(numbers)), "two cases share a number"
    assert sorted(CASES_DIR.glob("*.yml")) == CASES, "case files are named NN-short-name.yml"
    for path in CASES:
        load_case(path)


def test_base_inventory_is_valid_as_is():
    """The committed base inventory validates on its own, even verbosely, without printing a secret."""
    proc = run_validate(BASE_INVENTORY, "-v")  # platform/ and reseller/ as committed
    assert_clean(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the state of reseller tester is valid: 3 clients" in proc.stdout


def test_base_inventory_is_valid_through_the_harness(tmp_path, base_vars, pems):
    """Copy and merge without a patch change nothing (the harness itself is sound)."""
    proc = run_validate(build_inventory(tmp_path, base_vars, {}, pems), "-v")
    assert_clean(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the state of reseller tester is valid: 3 clients" in proc.stdout


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_bad_inventory_is_refused(case_path, tmp_path, base_vars, pems):
    case = load_case(case_path)
    proc = run_validate(build_inventory(tmp_path, base_vars, case["patch"], pems))
    assert_clean(proc)
    assert proc.returncode != 0, "%s was accepted:\n%s" % (case_path.name, proc.stdout)
    assert "the state of reseller" in proc.stdout and "is invalid" in proc.stdout, proc.stdout + proc.stderr
    missing = [e for e in case["expect"] if e not in proc.stdout]
    assert not missing, "missing %r in:\n%s" % (missing, proc.stdout)


def test_all_errors_are_reported_at_once(tmp_path, base_vars, pems):
    """Three independent defects in three clients: one run reports the three."""
    patch = {
        "fracto_clients": {
            "alfa": {"domains": {"alfa.test": {"php": "7.4"}}},
            "gamma": {"domains": {"-gamma2.test": {}}},
        },
        "fracto_clients__beta": {"beta": {"dedicated_ip": {"web": "198.51.100.99"}}},
    }
    proc = run_validate(build_inventory(tmp_path, base_vars, patch, pems))
    assert_clean(proc)
    assert proc.returncode != 0
    for expected in ("is invalid (3 errors)",
                     'fracto_clients.alfa.domains["alfa.test"].php: PHP 7.4 is not offered',
                     'fracto_clients.gamma.domains["-gamma2.test"]: invalid name',
                     "fracto_clients__beta.beta.dedicated_ip.web: 198.51.100.99 is not in fracto_ip_pool"):
        assert expected in proc.stdout, proc.stdout
