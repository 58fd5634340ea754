# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Greylisting per package (module_utils/mail/greylisting.py): from the package and a client's override to the
resolved state, checked again on the host, and written as the map of greylisted domains from every reseller's record."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import greylisting, owners, safe
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from role_templates import mail_templates


def greylisted_clients(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)["hosts"]["mail01"]["mail_greylisting"]


def test_no_client_is_greylisted_unless_its_package_says_so(state, inventory):
    assert greylisted_clients(state, inventory) == []


def test_the_package_turns_it_on_and_a_clients_override_turns_it_off(state, inventory):
    for package in state["fracto_packages"].values():
        package["mail_greylisting"] = True
    state["fracto_clients"]["cliente3"]["overrides"]["mail_greylisting"] = False
    assert sorted(greylisted_clients(state, inventory)) == ["cliente1", "cliente2"]


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_anything_but_true_or_false_is_refused_at_its_path(state, inventory, value):
    state["fracto_packages"]["entry"]["mail_greylisting"] = value
    _model, problems = validate_state(state, inventory)
    assert any(e.startswith("fracto_packages.entry.mail_greylisting: ") for e in problems.errors), problems.errors


def test_the_host_refuses_a_client_id_that_could_break_the_map():
    with pytest.raises(safe.UnsafeValue) as refused:
        greylisting.checked(["c1", "c2\nevil.test"])
    assert refused.value.field == "greylisting[1]"


def records():
    """Two resellers on one host, each with a client called c1 (client ids are per reseller): only demo's c1 chose
    greylisting."""
    mine = owners.empty_record("demo")
    mine["domains"] = {"a.test": "c1", "a2.test": "c1", "b.test": "c2"}
    mine["greylisting"] = ["c1"]
    theirs = owners.empty_record("other")
    theirs["domains"] = {"c.test": "c1"}
    return {"demo": mine, "other": theirs}


def test_the_map_lists_the_domains_of_the_clients_that_chose_it_per_reseller():
    files = greylisting.render(owners.union(records())["greylisted_domains"])
    assert files[greylisting.DOMAINS_MAP].splitlines()[1:] == ["a.test", "a2.test"]


def test_a_resellers_own_run_keeps_the_other_resellers_choices():
    recs = records()
    wanted = ({"b.test": "c2"}, {}, {}, {"greylisting": ["c2"]})
    record, shared, _changes, clashes = owners.plan("demo", recs, wanted, ["c1", "c2"], True, ({}, {}, {}))
    assert clashes == [] and record["greylisting"] == ["c2"]
    recs["other"]["greylisting"] = ["c1"]
    record, shared, _changes, _clashes = owners.plan("demo", recs, wanted, ["c1", "c2"], True, ({}, {}, {}))
    assert shared["greylisted_domains"] == ["b.test", "c.test"]


def test_a_resellers_diff_of_the_map_shows_its_own_domains_only():
    recs = records()
    recs["other"]["greylisting"] = ["c1"]
    content = greylisting.render(owners.union(recs)["greylisted_domains"])[greylisting.DOMAINS_MAP]
    shown = hf.for_diff(greylisting.DOMAINS_MAP, content, hf.own_keys(recs["demo"]))
    assert "a.test" in shown and "c.test" not in shown
    assert hf.ownership(greylisting.DOMAINS_MAP) == (0o640, "root", "_rspamd")


def test_the_lua_spares_a_message_unless_every_recipients_domain_chose_it():
    lua = hf.render_local_lua(mail_templates())
    assert 'lua_maps.map_add_from_ucl("/etc/rspamd/fracto/greylisted_domains.map", "set"' in lua
    assert 'name = "FRACTO_NOT_GREYLISTED"' in lua and "if not greylisted_domains:get_key(domain) then" in lua
    # rspamd's check of deferred bodies runs before any symbol: kept out of the message by the same test
    assert 'rspamd_config:add_condition("GREYLIST_CHECK", function(task)' in lua
    assert "return domain_not_greylisted(task) == nil" in lua
