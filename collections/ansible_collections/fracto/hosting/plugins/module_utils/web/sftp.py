# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SFTP for a web host's clients (issue 16, docs/state.md#sftp): what sftp_access checks, plans and writes.

Every client user of the host (of any reseller: web_sites' comment mark) is a member of the group fracto-clients, and
a client with SFTP of fracto-sftp too. OpenSSH's Match block for fracto-clients (template sshd_sftp,
/etc/ssh/sshd_config.d/fracto-sftp.conf) lets in members of fracto-sftp only (AllowGroups), reads their keys from a
root-owned file per client (/etc/ssh/fracto-sftp/<client>), never from the client's home (where its PHP could plant
one), chroots them to /srv/www (root's, 0711: it lists nothing) and starts them in their home (/srv/www/<client>,
2750, group www-data), runs only internal-sftp with umask 027 (what they upload is their own and readable by nginx
through the home's group, by their PHP pool as owner), and allows no shell, TTY or forwarding. A client's password
is the shadow hash made on the controller ('!' when it has none).
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import WEB_ROOT

GROUP = "fracto-sftp"
CLIENTS_GROUP = "fracto-clients"  # every client user of the host: what the Match block applies to
SSHD_CONFIG = "/etc/ssh/sshd_config"
INCLUDE_LINE = "Include /etc/ssh/sshd_config.d/*.conf"  # Debian's: the drop-in is read only through it
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


def plan(wanted, revoked, members, shadow, key_files, client_users=()):
    """The steps that bring the host to wanted, as [(step, client, argument)] plus change entries.

    wanted: check_users(); revoked: this reseller's clients that must lose SFTP; members: {group: its members now};
    shadow: {user: password field}; key_files: {client: content or None} now; client_users: every client user of the
    host (any reseller's), each put in CLIENTS_GROUP (no change line: another reseller's id is not shown). Steps: join
    and leave (argument: the group), set_password (the field), write_keys (the content), remove_keys. A change entry
    names what changes, never a hash."""
    steps, changes = [], []
    sftp_members, clients_members = members.get(GROUP, set()), members.get(CLIENTS_GROUP, set())
    steps.extend(("join", user, CLIENTS_GROUP) for user in sorted(set(client_users) - clients_members))
    for user in wanted:
        cid, detail = user["client"], []
        if cid not in clients_members and cid not in client_users:
            steps.append(("join", cid, CLIENTS_GROUP))
        if cid not in sftp_members:
            steps.append(("join", cid, GROUP))
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
            action = "create" if cid not in sftp_members else "change"
            changes.append({"action": action, "kind": "sftp_access", "id": cid, "client": cid, "detail": detail})
    for cid in sorted(revoked):
        detail = []
        if cid in sftp_members:
            steps.append(("leave", cid, GROUP))
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
    return {"group": GROUP, "clients_group": CLIENTS_GROUP, "chroot": CHROOT, "keys_dir": KEYS_DIR, "umask": UMASK}


def includes_dropins(sshd_config):
    """Whether sshd_config's text reads the drop-in directory (Debian's Include line), so the Match block applies."""
    return any(line.strip() == INCLUDE_LINE for line in sshd_config.splitlines())


def render_dropin(templates):
    return MARK + "\n" + templates.render("sshd_sftp", sshd_context())
