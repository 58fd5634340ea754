# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SFTP for clients (module_utils/web/sftp.py, state/sftp.py, argguard.ssh_public_key): from the state to the steps
sftp_access takes on the host, and the sshd drop-in the role's template makes."""

from __future__ import annotations

import copy

import pytest
import yaml
from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.render import Templates
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from ansible_collections.fracto.hosting.plugins.module_utils.web import sftp
from role_templates import REPO

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPzPFu+4sU9iYkzZnT3C6Brre6O+7IZR0UHDr5kl7Ih7 ana@cliente1"
HASH = "$6$demosftpcliente1$YSaqbjtjeje/aFfDuTyntvL8RZEIsinc5E.ktCIGXPbUiXgeOre3s9VihtY8ljPJVEVpAN609WYs672Xqd9eG1"


def dropin_templates():
    defaults = yaml.safe_load((REPO / "roles" / "fracto_web" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    path = REPO / "roles" / "fracto_web" / defaults["fracto_web__sftp_template"][len("{{ role_path }}/"):]
    return Templates({"sshd_sftp": path.read_text(encoding="utf-8")})


def test_the_state_gives_sftp_to_the_clients_of_a_package_that_has_it(state, inventory):
    state = copy.deepcopy(state)
    state["fracto_packages"]["gdpr"]["sftp"] = True
    state["fracto_clients"]["cliente1"]["sftp"] = {"password": "a-long-sftp-password", "keys": [KEY]}
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    public = resolve_state(model)
    assert public["hosts"]["cloud01"]["sftp_users"] == [
        {"client": "cliente1", "password": "a-long-sftp-password", "password_hash": None, "keys": [KEY]}]
    assert public["clients"]["cliente1"]["sftp"] is True and public["clients"]["cliente2"]["sftp"] is False
    assert "a-long-sftp-password" not in repr(public["clients"])  # the public part holds no secret


@pytest.mark.parametrize("key, rule", [
    ('command="/bin/sh" ' + KEY, "one line"),
    (KEY + "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPzPFu+4sU9iYkzZnT3C6Brre6O+7IZR0UHDr5kl7Ih7", "one line"),
    ("ssh-rsa " + KEY.split()[1], "not a ssh-rsa key"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPzPFu+4sU9iYkzZnT3C6Brre6O+7IZR0UHDr5kl7Ih7 ana;rm", "one line"),
    ("ssh-ed25519 AAAA!!notbase64!!xxxxxxxx", "one line"),
])
def test_a_key_line_with_options_a_second_line_or_a_wrong_blob_is_refused(key, rule):
    with pytest.raises(g.Refused) as refused:
        g.ssh_public_key("keys[0]", key)
    assert rule in str(refused.value)


def test_a_short_rsa_key_is_refused():
    import base64
    import struct

    def part(data):
        return struct.pack(">I", len(data)) + data

    blob = part(b"ssh-rsa") + part(b"\x01\x00\x01") + part(b"\x00" + b"\xff" * 128)  # a 1024-bit modulus
    with pytest.raises(g.Refused, match="2048 bits"):
        g.ssh_public_key("keys[0]", "ssh-rsa " + base64.b64encode(blob).decode())


@pytest.mark.parametrize("users, option", [
    ([{"client": "root", "keys": [KEY]}], "users[0].client"),
    ([{"client": "c2", "keys": [KEY]}], "users[0].client"),          # not one of the reseller's clients
    ([{"client": "c1", "password_hash": "$1$abc$def"}], "users[0].password_hash"),
    ([{"client": "c1", "keys": ['from="*" ' + KEY]}], "users[0].keys[0]"),
    ([{"client": "c1"}, {"client": "c1"}], "users[1].client"),
    ([{"client": "c1", "shell": "/bin/bash"}], "users[0].shell"),
])
def test_the_host_refuses_what_the_controller_would_have(users, option):
    with pytest.raises(g.Refused) as refused:
        sftp.check_users(users, ["c1", "root"])
    assert str(refused.value).startswith(option + " ")
    assert "$1$abc$def" not in str(refused.value)  # a hash is never shown


def test_the_plan_adds_sets_and_writes_what_differs_and_nothing_when_all_is_there():
    wanted = sftp.check_users([{"client": "c1", "password_hash": HASH, "keys": [KEY]}], ["c1"])
    steps, changes = sftp.plan(wanted, set(), {}, {"c1": "!"}, {"c1": None}, {"c1"})
    assert steps == [("join", "c1", "fracto-clients"), ("join", "c1", "fracto-sftp"), ("set_password", "c1", HASH),
                     ("write_keys", "c1", KEY + "\n")]
    assert changes == [{"action": "create", "kind": "sftp_access", "id": "c1", "client": "c1",
                        "detail": ["SFTP access", "password set", "1 key(s)"]}]
    assert HASH not in repr(changes)
    members = {"fracto-sftp": {"c1"}, "fracto-clients": {"c1"}}
    assert sftp.plan(wanted, set(), members, {"c1": HASH}, {"c1": KEY + "\n"}, {"c1"}) == ([], [])


def test_every_client_user_of_the_host_joins_the_clients_group_without_a_line_of_its_own():
    """Another reseller's client too (the Match block that keeps planted keys out applies to it): no change line
    names it in this reseller's plan."""
    steps, changes = sftp.plan([], set(), {"fracto-clients": {"c1"}}, {}, {}, {"c1", "theirs"})
    assert steps == [("join", "theirs", "fracto-clients")] and changes == []


def test_a_client_that_loses_sftp_loses_its_group_password_and_keys():
    members = {"fracto-sftp": {"c1"}, "fracto-clients": {"c1", "c2"}}
    steps, changes = sftp.plan([], {"c1", "c2"}, members, {"c1": HASH, "c2": "!"}, {"c1": KEY + "\n", "c2": None}, {"c1", "c2"})
    assert steps == [("leave", "c1", "fracto-sftp"), ("set_password", "c1", "!"), ("remove_keys", "c1", None)]
    assert [c["id"] for c in changes] == ["c1"] and changes[0]["action"] == "remove"


def test_keys_only_leaves_no_password():
    wanted = sftp.check_users([{"client": "c1", "keys": [KEY]}], ["c1"])
    members = {"fracto-sftp": {"c1"}, "fracto-clients": {"c1"}}
    steps, _changes = sftp.plan(wanted, set(), members, {"c1": HASH}, {"c1": KEY + "\n"}, {"c1"})
    assert steps == [("set_password", "c1", "!")]


def test_the_drop_in_is_read_only_through_debians_include_line():
    assert sftp.includes_dropins("# comment\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 22\n")
    assert not sftp.includes_dropins("Port 22\n#Include /etc/ssh/sshd_config.d/*.conf\n")


def test_the_drop_in_chroots_the_group_forces_internal_sftp_and_ends_its_match_block():
    text = sftp.render_dropin(dropin_templates())
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == sftp.MARK and lines[1] == "Match Group fracto-clients"  # every client user, SFTP or not
    for wanted in ("AllowGroups fracto-sftp", "ChrootDirectory /srv/www", "ForceCommand internal-sftp -d /%u -u 0027",
                   "AuthorizedKeysFile /etc/ssh/fracto-sftp/%u", "AllowTcpForwarding no", "PermitTTY no", "X11Forwarding no"):
        assert wanted in lines
    assert lines[-1] == "Match all"  # the block is closed even where the file is not an Include of its own


def test_the_shadow_parser_reads_the_password_field_only():
    text = "root:*:19000:0:99999:7:::\nc1:%s:19000:0:99999:7:::\nc2:!:19000::::::\n" % HASH
    assert sftp.parse_shadow(text) == {"root": "*", "c1": HASH, "c2": "!"}
    assert [sftp.has_password(f) for f in ("*", HASH, "!", "!" + HASH, "", None)] == [False, True, False, False, False, False]
