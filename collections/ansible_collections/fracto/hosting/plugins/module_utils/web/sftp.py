# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SFTP for a web host's clients (issue 16, docs/state.md#sftp): what sftp_access checks, plans and writes.

A client with SFTP is a member of the group fracto-sftp. OpenSSH's Match block for that group (template sshd_sftp,
/etc/ssh/sshd_config.d/fracto-sftp.conf) chroots it to /srv/www (root's, 0711: it lists nothing) and starts it in
its home (/srv/www/<client>, 2750, group www-data), runs only internal-sftp with umask 027 (so what it uploads is
its own and readable by nginx through the home's group, by its PHP pool as owner), and allows no shell, TTY or
forwarding. Its keys are read from a root-owned file per client (/etc/ssh/fracto-sftp/<client>), never from the
client's home; its password is the shadow hash made on the controller ('!' when it has none).
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import WEB_ROOT

GROUP = "fracto-sftp"
CHROOT = WEB_ROOT
CHROOT_MODE = 0o711  # root's; clients pass through to their own home but cannot list the others'
KEYS_DIR = "/etc/ssh/fracto-sftp"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/fracto-sftp.conf"
UMASK = "0027"
NO_PASSWORD = "!"
MARK = "# managed by fracto.hosting sftp_access"
USER_KEYS = ("client", "password_hash", "keys")
MAX_KEYS = 20


def keys_path(client):
    return "%s/%s" % (KEYS_DIR, client)


def check_users(users, clients):
    """users ({client, password_hash, keys}, the hashes made on the controller) whole-matched; each client one of the
    reseller's clients, once. Raises argguard.Refused naming the option and the rule."""
    known = set(g.string_list("clients", clients, g.client_id))
    out, seen = [], set()
    if not isinstance(users, list):
        raise g.Refused("users", "must be a list")
    for index, user in enumerate(users):
        at = "users[%d]" % index
        if not isinstance(user, dict):
            raise g.Refused(at, "must be a mapping")
        unknown = sorted(set(user) - set(USER_KEYS))
        if unknown:
            raise g.Refused("%s.%s" % (at, unknown[0]), "unknown key (allowed: %s)" % ", ".join(USER_KEYS))
        client = g.client_id(at + ".client", user.get("client"))
        if g.reserved_user(client):
            raise g.Refused(at + ".client", "a client id must not be a system or service account", client)
        if client not in known:
            raise g.Refused(at + ".client", "must be one of clients (the reseller's own)", client)
        if client in seen:
            raise g.Refused(at + ".client", "is listed twice", client)
        seen.add(client)
        pw_hash = user.get("password_hash")
        if pw_hash is not None:
            g.shadow_hash(at + ".password_hash", pw_hash)
        keys = g.string_list(at + ".keys", user.get("keys") or [], g.ssh_public_key)
        if len(keys) > MAX_KEYS:
            raise g.Refused(at + ".keys", "at most %d keys" % MAX_KEYS, len(keys))
        out.append({"client": client, "password_hash": pw_hash, "keys": keys})
    return out


def keys_content(keys):
    """The authorized keys file of a client (None: it has no key, no file)."""
    return "".join(key + "\n" for key in keys) if keys else None


def parse_shadow(text):
    """{user: password field} of /etc/shadow's text."""
    out = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0]:
            out[fields[0]] = fields[1]
    return out


def has_password(field):
    """Whether a shadow password field lets a password in ('!...' and '*...' lock it, '' is no field at all here)."""
    return bool(field) and field[0] not in "!*"


def plan(wanted, revoked, members, shadow, key_files):
    """The steps that bring the host to wanted, as [(step, client, argument)] plus change entries.

    wanted: check_users(); revoked: this reseller's clients that must lose SFTP; members: the group's members now;
    shadow: {user: password field}; key_files: {client: content or None} now. Steps: add_member, remove_member,
    set_password (argument: the field), write_keys (the content), remove_keys. A change entry names what changes,
    never a hash."""
    steps, changes = [], []
    for user in wanted:
        cid, detail = user["client"], []
        if cid not in members:
            steps.append(("add_member", cid, None))
            detail.append("SFTP access")
        field = user["password_hash"] or NO_PASSWORD
        if shadow.get(cid) != field:
            steps.append(("set_password", cid, field))
            detail.append("password set" if user["password_hash"] else "no password (keys only)")
        content = keys_content(user["keys"])
        if key_files.get(cid) != content:
            steps.append(("write_keys", cid, content) if content else ("remove_keys", cid, None))
            detail.append("%d key(s)" % len(user["keys"]))
        if detail:
            action = "create" if cid not in members else "change"
            changes.append({"action": action, "kind": "sftp_access", "id": cid, "client": cid, "detail": detail})
    for cid in sorted(revoked):
        detail = []
        if cid in members:
            steps.append(("remove_member", cid, None))
            detail.append("SFTP access")
        if has_password(shadow.get(cid)):
            steps.append(("set_password", cid, NO_PASSWORD))
            detail.append("password")
        if key_files.get(cid) is not None:
            steps.append(("remove_keys", cid, None))
            detail.append("keys")
        if detail:
            changes.append({"action": "remove", "kind": "sftp_access", "id": cid, "client": cid, "detail": detail})
    return steps, changes


def sshd_context():
    """The context of the sshd_sftp template: fixed names and paths only, no value of a reseller."""
    return {"group": GROUP, "chroot": CHROOT, "keys_dir": KEYS_DIR, "umask": UMASK}


def render_dropin(templates):
    return MARK + "\n" + templates.render("sshd_sftp", sshd_context())
