# -*- coding: utf-8 -*-
"""The reseller inventory is data only (module_utils/state/origin.py)."""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems
from ansible_collections.fracto.hosting.plugins.module_utils.state.origin import check_reseller_source, read_source

STATE = {"fracto_reseller": {"name": "r1"}, "fracto_clients__c1": {"c1": {"package": "p", "x": "{{ vault_c1_pw }}"}}}


def source(path, files, other=()):
    return {"path": path, "vars": files, "other_files": list(other)}


def errors(platform, reseller):
    """The breaches of the reseller's directory; platform: the names of the platform's variables (task_vars)."""
    problems = Problems()
    check_reseller_source(reseller, {k for data in platform["vars"].values() for k in data}, problems)
    return problems.errors


PLATFORM = source("platform", {"group_vars/all/platform.yml": {"fracto_platform": {}, "ansible_user": "ops",
                                                               "vault_platform_key": "x"}}, ["hosts.yml"])


def test_a_data_only_reseller_inventory_is_accepted():
    reseller = source("r1", {"group_vars/all/state.yml": STATE, "group_vars/all/vault.yml": {"vault_c1_pw": "secret-value"}})
    assert errors(PLATFORM, reseller) == []


def test_an_ansible_variable_is_named_with_its_file():
    reseller = source("r1", {"group_vars/all/state.yml": dict(STATE, ansible_connection="local"),
                             "group_vars/all/vault.yml": {"vault_c1_pw": "s"}})
    found = errors(PLATFORM, reseller)
    assert len(found) == 1 and found[0].startswith("r1/group_vars/all/state.yml: ansible_connection: a reseller inventory holds only")


def test_a_lookup_or_filter_in_a_state_value_is_code():
    for text in ("{{ lookup('pipe', 'id') }}", "{{ vault_c1_pw | b64decode }}", "x{{ vault_c1_pw }}", "{% if 1 %}a{% endif %}",
                 "#jinja2:variable_start_string:'[['\n[[ lookup('pipe', 'id') ]]"):
        state = {"fracto_reseller": {"name": "r1", "contact_email": text}}
        found = errors(PLATFORM, source("r1", {"group_vars/all/s.yml": state, "group_vars/all/v.yml": {"vault_c1_pw": "s"}}))
        assert found and "lookups, filters and expressions are code" in found[0], text


def test_a_reference_to_a_platform_variable_is_refused():
    state = {"fracto_reseller": {"name": "r1", "contact_email": "{{ vault_platform_key }}"}}
    found = errors(PLATFORM, source("r1", {"group_vars/all/s.yml": state}))
    assert found == ["r1/group_vars/all/s.yml: fracto_reseller.contact_email: refers to vault_platform_key, which the reseller "
                     "inventory does not define (its own vault_* variables only)"]


def test_a_secret_that_shadows_a_platform_variable_is_refused():
    found = errors(PLATFORM, source("r1", {"group_vars/all/s.yml": STATE, "group_vars/all/v.yml": {"vault_c1_pw": "s",
                                                                                                   "vault_platform_key": "mine"}}))
    assert found == ["r1/group_vars/all/v.yml: vault_platform_key: shadows a variable of the platform inventory: a reseller's "
                     "secrets need names of their own"]


def test_a_secret_holding_a_template_is_refused():
    found = errors(PLATFORM, source("r1", {"group_vars/all/s.yml": STATE, "group_vars/all/v.yml": {"vault_c1_pw": "{{ vault_x }}"}}))
    assert len(found) == 1 and "v.yml: vault_c1_pw" in found[0]


def test_hosts_host_vars_and_group_files_are_refused():
    reseller = source("r1", {"group_vars/all/s.yml": STATE, "group_vars/all/v.yml": {"vault_c1_pw": "s"},
                             "host_vars/cloud01.yml": {"fracto_clients": {}}, "group_vars/fracto_web.yml": {"fracto_clients": {}}},
                      ["hosts.yml", "inventory.py"])
    found = errors(PLATFORM, reseller)
    assert len(found) == 4
    assert any(e.startswith("r1/hosts.yml: a reseller inventory defines no hosts") for e in found)
    assert any(e.startswith("r1/inventory.py: ") for e in found)
    assert any(e.startswith("r1/host_vars/cloud01.yml: a reseller inventory sets variables in group_vars/all/ only") for e in found)
    assert any(e.startswith("r1/group_vars/fracto_web.yml: ") for e in found)


def test_read_source_walks_group_vars_and_lists_other_files(tmp_path):
    (tmp_path / "group_vars" / "all" / "clients").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "clients" / "c1.yml").write_text("x")
    (tmp_path / "group_vars" / "all" / "notes.md").write_text("x")
    (tmp_path / "hosts.yml").write_text("x")
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "vault-password.txt").write_text("x")
    (tmp_path / "hosts.ini.sample").write_text("x")
    found = read_source(str(tmp_path), lambda path: {"loaded": path.rsplit("/", 1)[-1]}, lambda name: name.endswith((".md", ".txt")))
    assert found["vars"] == {"group_vars/all/clients/c1.yml": {"loaded": "c1.yml"}}
    assert found["other_files"] == ["hosts.ini.sample", "hosts.yml"]  # what Ansible's own rule does not skip


def test_links_special_and_large_files_are_listed_not_read(tmp_path):
    import os

    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    os.symlink("/dev/zero", str(tmp_path / "group_vars" / "all" / "zero.yml"))
    os.symlink("/etc", str(tmp_path / "group_vars" / "all" / "etc"))
    (tmp_path / "group_vars" / "all" / "big.yml").write_text("x" * (9 * 1024 * 1024))
    read = []
    found = read_source(str(tmp_path), read.append, lambda name: False)
    assert read == []
    assert found["links"] == ["group_vars/all/etc", "group_vars/all/zero.yml"]  # listed, never followed nor read
    assert found["special"] == [] and found["large"] == ["group_vars/all/big.yml"]
    problems = Problems()
    found["vars"]["group_vars/all/s.yml"] = {"fracto_reseller": {"name": os.path.basename(str(tmp_path))}}
    check_reseller_source(found, set(), problems)
    assert any("zero.yml: is a symbolic link" in e for e in problems.errors)
    assert any("big.yml: is larger than" in e for e in problems.errors)


def test_a_variable_defined_twice_and_every_file_is_checked():
    reseller = source("r1", {"group_vars/all/a/x.yml": {"fracto_reseller": {"name": "r1"}},
                             "group_vars/all/b.yml": {"fracto_reseller": "{{ lookup('pipe', 'id') }}"}})
    found = errors(PLATFORM, reseller)
    assert any("b.yml: fracto_reseller: is also defined in r1/group_vars/all/a/x.yml" in e for e in found)
    assert any("b.yml: fracto_reseller: only a plain reference" in e for e in found)


def test_an_alias_bomb_is_refused_without_expanding_it():
    level = ["x"] * 10
    for _level in range(7):
        level = [level] * 10
    found = errors(PLATFORM, source("r1", {"group_vars/all/s.yml": {"fracto_reseller": {"name": "r1"}, "fracto_packages": level}}))
    assert any("expands to more than" in e for e in found)


def test_the_identity_cannot_come_through_a_secret():
    reseller = source("r1", {"group_vars/all/s.yml": {"fracto_reseller": "{{ vault_r }}"},
                             "group_vars/all/v.yml": {"vault_r": {"name": "other"}}})
    assert "must be a literal mapping with a literal name" in errors(PLATFORM, reseller)[0]


def test_the_reseller_is_named_by_its_directory():
    state = {"fracto_reseller": {"name": "other"}}
    found = errors(PLATFORM, source("inventories/r1", {"group_vars/all/s.yml": state}))
    assert found == ["inventories/r1/group_vars/all/s.yml: fracto_reseller.name: must be r1, the name of the reseller "
                     "inventory's directory (chosen by the platform operator): a reseller cannot act as another"]


def test_reseller_state_replaces_secret_references_in_python_and_never_templates():
    from ansible_collections.fracto.hosting.plugins.module_utils.state.origin import reseller_state

    reseller = source("r1", {"group_vars/all/state.yml": STATE, "group_vars/all/vault.yml": {"vault_c1_pw": "{{ not templated }}"},
                             "group_vars/all/other.yml": {"fracto_packages": {"p": {"note": " {{ vault_c1_pw }} "}}}})
    state = reseller_state(reseller)
    assert state["fracto_clients__c1"]["c1"]["x"] == "{{ not templated }}"
    assert state["fracto_packages"]["p"]["note"] == "{{ not templated }}"
    assert set(state) == {"fracto_reseller", "fracto_clients__c1", "fracto_packages"}
