# -*- coding: utf-8 -*-
"""Hostile values in a reseller's inventory: each is refused by playbooks/validate.yml before any host is touched.

A case (tests/hostile/NN-short-name.yml, NNN- from 100 on) is one attack, written the way a reseller (or a client
through its reseller) would: a value of its state (`patch`, merged into the base state as in tests/test_bad_inventories.py)
or a file of its inventory (`files`: relative path -> text, e.g. group_vars/all/evil.yml setting
ansible_connection). `expect` lists what the refusal must name: the field and the rule. Every run must fail,
print no secret and no private key, contact no host, and run nothing: the text @MARKER@ in a case becomes a
path that a command run by the attack would create, and that path must not exist afterwards.

    description: what the attack is
    class:       the trust-boundary rule it tries (docs/security.md lists the classes)
    patch:       {...}                  # optional when files is given
    files:       {relative path: text}  # optional
    expect:      [substrings]
"""

from __future__ import annotations

import pathlib

import pytest
import yaml
from test_bad_inventories import assert_clean, build_inventory, run_validate

CASES_DIR = pathlib.Path(__file__).resolve().parent / "hostile"
CASES = sorted(CASES_DIR.glob("[0-9][0-9]-*.yml")) + sorted(CASES_DIR.glob("[0-9][0-9][0-9]-*.yml"))
KEYS = {"description", "class", "patch", "files", "expect"}


def load_case(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict) and {"description", "class", "expect"} <= set(case) <= KEYS, \
        "%s: needs description, class, expect and patch and/or files" % path.name
    assert case.get("patch") or case.get("files"), "%s: a case needs a patch or files" % path.name
    assert isinstance(case["expect"], list) and case["expect"] and all(isinstance(e, str) for e in case["expect"])
    return case


def with_marker(value, marker):
    if isinstance(value, dict):
        return {with_marker(k, marker): with_marker(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [with_marker(v, marker) for v in value]
    if isinstance(value, str):
        return value.replace("@MARKER@", str(marker))
    return value


def test_suite_covers_every_class():
    assert len(CASES) >= 40
    numbers = [int(p.name.split("-", 1)[0]) for p in CASES]
    assert len(numbers) == len(set(numbers)), "two cases share a number"
    assert sorted(CASES_DIR.glob("*.yml")) == sorted(CASES), "case files are named NN-short-name.yml (NNN- from 100 on)"
    classes = {load_case(p)["class"] for p in CASES}
    for required in ("inventory-origin", "template-code", "backup-repository", "local-part", "password-hash", "database",
                     "client-id", "trailing-newline", "control-chars", "migration-site", "reserved-name", "web-settings",
                     "mail-dns", "web-deny", "sftp-access"):
        assert required in classes, "no hostile case of class %s" % required


@pytest.mark.parametrize("case_path", CASES, ids=[p.stem for p in CASES])
def test_hostile_value_is_refused(case_path, tmp_path, base_vars, pems):
    case = load_case(case_path)
    marker = tmp_path / "pwned"
    inventory = build_inventory(tmp_path, base_vars, with_marker(case.get("patch") or {}, marker), pems,
                                files=with_marker(case.get("files") or {}, marker))
    proc = run_validate(inventory)
    output = proc.stdout + proc.stderr
    assert_clean(proc)
    assert proc.returncode != 0, "%s was accepted:\n%s" % (case_path.name, proc.stdout)
    ran = marker.exists()
    assert not ran, "%s: the attack ran a command on the controller" % case_path.name
    missing = [e for e in case["expect"] if e not in output]
    assert not missing, "missing %r in:\n%s" % (missing, output)


def test_a_reseller_state_given_as_an_inventory_stops_the_run_as_it_loads(tmp_path, base_vars, pems):
    """The reseller's directory is data read by client_state; given with -i, Ansible would parse and template it:
    the vars plugin fracto.hosting.reseller_guard stops the run before any play, and nothing of it runs."""
    import os
    import subprocess

    from test_bad_inventories import ANSIBLE_CONFIG, ANSIBLE_PLAYBOOK, PLAYBOOK, REPO

    marker = tmp_path / "pwned"
    inventory = build_inventory(tmp_path, base_vars, {}, pems, files={
        "group_vars/all/notes.yml": "fracto_packages_note: \"{{ lookup('ansible.builtin.pipe', 'touch %s') }}\"\n" % marker})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ANSIBLE_CONFIG), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory / "platform"), "-i", str(inventory / "tester"),
                           str(PLAYBOOK)], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "defines a reseller's state: a reseller's state is data, not an inventory" in proc.stdout + proc.stderr
    assert "PLAY [" not in proc.stdout and not marker.exists()


def _sealed(vault_id, password, text):
    """text vault-encrypted with password, its envelope naming vault_id (as ansible-vault --vault-id id@file)."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(password.encode())
    return VaultLib([(vault_id, secret)]).encrypt(text, secret, vault_id=vault_id).decode()


def _with_vault_ids(tmp_path, inventory):
    ids = []
    for name, password in (("platform", "platform-pass"), ("tester", "tester-pass")):
        path = tmp_path / ("%s.pass" % name)
        path.write_text(password + "\n", encoding="utf-8")
        ids += ["--vault-id", "%s@%s" % (name, path)]
    return run_validate(inventory, *ids)


@pytest.mark.parametrize("label, password", [("platform", "platform-pass"), ("tester", "platform-pass"),
                                             ("", "platform-pass")],
                         ids=["platform-id", "own-id-platform-password", "no-id"])
def test_a_reseller_vault_file_opens_with_the_reseller_secret_only(tmp_path, base_vars, pems, label, password):
    """A reseller's vault file sealed with the platform's id (or password) is never decrypted into its state:
    a secret of the platform would reach the reseller through a mailbox or database password."""
    sealed = _sealed(label or "default", password, "vault_stolen: SENTINEL-SECRET\n")
    if not label:  # a 1.1 envelope names no id: any secret would be tried
        sealed = "$ANSIBLE_VAULT;1.1;AES256\n" + sealed.split("\n", 1)[1]
    inventory = build_inventory(tmp_path, base_vars, {}, pems, files={"group_vars/all/vault.yml": sealed})
    proc = _with_vault_ids(tmp_path, inventory)
    assert_clean(proc)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "SENTINEL-SECRET" not in output
    if label == "tester":  # its own id, the platform's password: vault_id_match tries the tester secret only
        assert "Decryption failed" in output or "no vault secrets" in output, output[-2000:]
    else:
        assert "group_vars/all/vault.yml" in output and "without the reseller's own vault id" in output, output[-2000:]


def test_a_reseller_vault_string_opens_with_the_reseller_secret_only(tmp_path, base_vars, pems):
    sealed = _sealed("platform", "platform-pass", "SENTINEL-SECRET")
    inline = "vault_stolen: !vault |\n" + "".join("  %s\n" % line for line in sealed.splitlines())
    inventory = build_inventory(tmp_path, base_vars, {}, pems, files={"group_vars/all/vault.yml": inline})
    proc = _with_vault_ids(tmp_path, inventory)
    assert_clean(proc)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "SENTINEL-SECRET" not in output
    assert "group_vars/all/vault.yml: vault_stolen" in output and "without the reseller's own vault id" in output, \
        output[-2000:]


def test_a_reseller_vault_sealed_with_its_own_id_is_read(tmp_path, base_vars, pems):
    sealed = _sealed("tester", "tester-pass", "vault_own: a-secret-of-its-own\n")
    inventory = build_inventory(tmp_path, base_vars, {}, pems, files={"group_vars/all/vault.yml": sealed})
    proc = _with_vault_ids(tmp_path, inventory)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
