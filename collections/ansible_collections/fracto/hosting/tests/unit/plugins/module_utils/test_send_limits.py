# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outgoing limits (module_utils/mail/send_limits.py): from the package and a client's overrides to the resolved
state, checked again on the host, and rendered into rspamd's maps, ratelimit.conf and Lua for every reseller."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.mail import owners, safe, send_limits
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from role_templates import mail_templates

DEFAULTS = {"messages_per_hour": 200, "client_messages_per_hour": 1000, "recipients_per_message": 100}


def resolve(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)


def limits_of(hosts):
    return {e["client"]: {k: v for k, v in e.items() if k != "client"} for e in hosts["mail01"]["mail_send_limits"]}


def test_every_client_with_mail_gets_the_defaults_without_limits_in_its_package(state, inventory):
    limits = limits_of(resolve(state, inventory)["hosts"])
    assert limits == {"cliente1": DEFAULTS, "cliente2": DEFAULTS, "cliente3": DEFAULTS}


def test_the_packages_limits_and_a_clients_single_override_merge(state, inventory):
    state["fracto_packages"]["entry"]["mail_limits"] = {"messages_per_hour": 50, "recipients_per_message": "10"}
    state["fracto_clients"]["cliente3"]["overrides"]["mail_limits"] = {"recipients_per_message": 3}
    limits = limits_of(resolve(state, inventory)["hosts"])
    assert limits["cliente3"] == {"messages_per_hour": 50, "client_messages_per_hour": 1000, "recipients_per_message": 3}
    assert limits["cliente1"] == DEFAULTS


@pytest.mark.parametrize("value", [0, -1, 100001, True, "ten", "5\nrates {}", " 5", 1.5, None])
def test_a_limit_that_is_not_a_whole_number_in_bounds_is_refused_on_the_controller_and_on_the_host(state, inventory, value):
    state["fracto_packages"]["entry"]["mail_limits"] = {"messages_per_hour": value}
    _model, problems = validate_state(state, inventory)
    rule = "must be a whole number from 1 to 100000: the messages each mailbox of the client may send per hour"
    assert "fracto_packages.entry.mail_limits.messages_per_hour: " + rule in problems.errors
    with pytest.raises(safe.UnsafeValue) as refused:
        send_limits.checked([{"client": "cliente3", "messages_per_hour": value}])
    assert refused.value.field == "send_limits[0].messages_per_hour" and rule in str(refused.value)


@pytest.mark.parametrize("limits, expected", [
    ({"per_day": 5}, "fracto_clients.cliente3.overrides.mail_limits.per_day: unknown key (allowed: messages_per_hour, "),
    ("100", "fracto_clients.cliente3.overrides.mail_limits: must be a mapping of outgoing mail limits"),
])
def test_a_bad_override_is_refused_at_the_clients_path(state, inventory, limits, expected):
    state["fracto_clients"]["cliente3"]["overrides"]["mail_limits"] = limits
    _model, problems = validate_state(state, inventory)
    assert any(e.startswith(expected) for e in problems.errors), problems.errors


def test_the_host_refuses_a_client_id_that_could_break_a_map_line():
    with pytest.raises(safe.UnsafeValue) as refused:
        send_limits.checked([{"client": "c1 9999:other/c2"}])
    assert refused.value.field == "send_limits[0].client"


def records():
    """Two resellers on one host, each with a client called c1 (client ids are per reseller)."""
    mine = owners.empty_record("demo")
    mine["mailboxes"] = {"info@a.test": {"client": "c1"}, "Ana@a.test": {"client": "c1"}, "x@b.test": {"client": "c2"}}
    mine["send_limits"] = {"c1": dict(DEFAULTS, messages_per_hour=4, recipients_per_message=3), "c2": DEFAULTS}
    theirs = owners.empty_record("other")
    theirs["mailboxes"] = {"boss@c.test": {"client": "c1"}, "nolimit@c.test": {"client": "c9"}}
    theirs["send_limits"] = {"c1": DEFAULTS}
    return {"demo": mine, "other": theirs}


def test_each_login_has_its_own_bucket_and_its_clients_bucket_per_reseller():
    files = send_limits.render(owners.union(records())["send_limits"], 3600, templates=mail_templates())
    assert files[send_limits.MAILBOX_RATES].splitlines()[1:] == ["200:boss@c.test", "200:x@b.test", "4:ana@a.test",
                                                                 "4:info@a.test"]
    assert files[send_limits.LOGIN_CLIENTS].splitlines()[1:] == ["ana@a.test demo/c1", "boss@c.test other/c1",
                                                                 "info@a.test demo/c1", "x@b.test demo/c2"]
    assert files[send_limits.CLIENT_RATES].splitlines()[1:] == ["1000:demo/c1", "1000:demo/c2", "1000:other/c1"]
    assert "ana@a.test 3" in files[send_limits.RECIPIENT_LIMITS].splitlines()
    conf = files[send_limits.RATELIMIT_CONF]
    assert conf.count('selector = "user.lower.prepend(\'4:\').filter_map(fracto_mailbox_rates)"') == 1
    assert conf.count("fracto_mailbox_200 {") == 1 and conf.count("fracto_client_1000 {") == 1
    assert 'rate = "4 / 3600s";' in conf and "skip_recipients = true;" in conf
    lua = hf.render_local_lua(mail_templates())
    assert 'lua_selectors.maps.fracto_mailbox_rates = lua_maps.map_add_from_ucl("/etc/rspamd/fracto/mailbox_rates.map"' in lua
    assert "nolimit@c.test" not in "".join(files.values())  # a client without limits is not limited


def test_a_resellers_diff_of_the_maps_shows_its_own_logins_and_clients_only():
    recs = records()
    files = send_limits.render(owners.union(recs)["send_limits"], 3600, templates=mail_templates())
    keys = hf.own_keys(recs["demo"])
    for path in send_limits.MAPS:
        shown = hf.for_diff(path, files[path], keys)
        assert "boss@c.test" not in shown and "other/c1" not in shown, path
        assert "demo/c1" in shown if path == send_limits.CLIENT_RATES else "info@a.test" in shown, path


def test_the_maps_are_readable_by_rspamd_only():
    for path in send_limits.MAPS:
        assert hf.ownership(path) == (0o640, "root", "_rspamd")


@pytest.mark.parametrize("seconds", [59, 86401, True, "3600"])
def test_a_window_outside_a_minute_to_a_day_is_refused(seconds):
    assert send_limits.window_problem(seconds) == "must be a whole number of seconds from 60 to 86400"
