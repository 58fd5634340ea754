# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outgoing limits of a client's mail (issue 13, docs/mail.md#outgoing-limits): how many messages each of its
mailboxes, and all of them together, may submit per hour, and how many recipients one message may have.

The package sets them (``fracto_packages.<p>.mail_limits``), a client's ``overrides.mail_limits`` changes single
keys. Whole numbers only, checked twice with the same rules: on the controller when the state is validated and on
the mail host by mail_server. rspamd (the milter of submission) enforces them: its ratelimit module keeps one leaky
bucket per mailbox and one per client in Redis, and over the limit answers a soft reject (451 4.7.1: the mail client
keeps the message and sends it again later); a message with too many recipients is refused (554 5.7.1), from the
rule in rspamd.local.lua (host_files.render_local_lua). What rspamd reads is data only: the maps below, written from every reseller's record, and
one rate per distinct limit in local.d/ratelimit.conf.
"""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe

# key: (default, highest, what it counts)
KEYS = {
    "messages_per_hour": (200, 100000, "messages each mailbox of the client may send per hour"),
    "client_messages_per_hour": (1000, 1000000, "messages all the client's mailboxes together may send per hour"),
    "recipients_per_message": (100, 1000, "recipients one message may have"),
}
NUMBER = re.compile(r"[1-9][0-9]{0,6}")
WINDOW_LOWEST, WINDOW_HIGHEST = 60, 86400

MAP_DIR = "/etc/rspamd/fracto"
MAILBOX_RATES = MAP_DIR + "/mailbox_rates.map"      # set: "<N>:<login>", the login's bucket holds N messages
CLIENT_RATES = MAP_DIR + "/client_rates.map"        # set: "<N>:<reseller>/<client>"
LOGIN_CLIENTS = MAP_DIR + "/login_clients.map"      # hash: "<login> <reseller>/<client>", whose bucket it shares
RECIPIENT_LIMITS = MAP_DIR + "/recipient_limits.map"  # hash: "<login> <N>", the most recipients of one message
RATELIMIT_CONF = "/etc/rspamd/local.d/ratelimit.conf"
MAPS = (MAILBOX_RATES, CLIENT_RATES, LOGIN_CLIENTS, RECIPIENT_LIMITS)
# The names rspamd.local.lua declares the maps under (selectors take named maps only from Lua).
LUA_MAPS = {"mailbox_rates": MAILBOX_RATES, "client_rates": CLIENT_RATES, "login_clients": LOGIN_CLIENTS,
            "recipient_limits": RECIPIENT_LIMITS}


def problem(key, value):
    """The rule a limit breaks, or None (a whole number from 1 to the key's highest; YAML int or digits)."""
    if key not in KEYS:
        return "unknown key (allowed: %s)" % ", ".join(KEYS)
    highest = KEYS[key][1]
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(text, str) and NUMBER.fullmatch(text) and int(text) <= highest):
        return "must be a whole number from 1 to %d: the %s" % (highest, KEYS[key][2])
    return None


def settings(value, error, path):
    """The limits given in value (only those: the package's defaults and overrides are merged by with_defaults),
    as ints. error(path, rule) reports a problem; anything but a mapping, an unknown key or a bad value is reported
    and left out."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        error(path, "must be a mapping of outgoing mail limits (%s)" % ", ".join(KEYS))
        return {}
    out = {}
    for key, number in value.items():
        rule = problem(key, number)
        if rule:
            error(path / key, rule)
        else:
            out[key] = int(number)
    return out


def with_defaults(*layers):
    """Every limit: the defaults, then each layer (the package's, a client's overrides) over them."""
    limits = {key: spec[0] for key, spec in KEYS.items()}
    for layer in layers:
        limits.update(layer or {})
    return limits


def checked(entries):
    """{client: limits} of mail_server's send_limits parameter; raises safe.UnsafeValue naming the field and rule."""
    out = {}
    for index, entry in enumerate(entries):
        where = "send_limits[%d]" % index
        client = safe.client(entry.get("client"), where + ".client")
        for key in entry:
            if key != "client" and key not in KEYS:
                raise safe.UnsafeValue("%s.%s" % (where, key), "unknown key (allowed: client, %s)" % ", ".join(KEYS))
        limits = {}
        for key in KEYS:
            rule = problem(key, entry.get(key, KEYS[key][0]))
            if rule:
                raise safe.UnsafeValue("%s.%s" % (where, key), rule)
            limits[key] = int(entry.get(key, KEYS[key][0]))
        out[client] = limits
    return out


def window_problem(seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not WINDOW_LOWEST <= seconds <= WINDOW_HIGHEST:
        return "must be a whole number of seconds from %d to %d" % (WINDOW_LOWEST, WINDOW_HIGHEST)
    return None


def logins(records):
    """{login: (bucket key "<reseller>/<client>", limits)} of every mailbox of every record whose client has limits.

    A mailbox's login is its address (Dovecot's users file), compared lower-cased as rspamd's selectors give it."""
    out = {}
    for reseller, record in sorted(records.items()):
        limits = record.get("send_limits") or {}
        for address, box in sorted(record["mailboxes"].items()):
            client = box.get("client")
            if client in limits:
                out[address.lower()] = ("%s/%s" % (reseller, client), limits[client])
    return out


def _set_map(lines, what):
    return "# managed by fracto.hosting mail_server: %s\n" % what + "".join("%s\n" % line for line in sorted(set(lines)))


def render(by_login, window, *, templates):
    """{path: content} of rspamd's files for the limits of by_login (logins(), of every record of the host)."""
    files = {
        MAILBOX_RATES: _set_map(["%d:%s" % (lim["messages_per_hour"], login) for login, (_c, lim) in by_login.items()],
                                "<messages per window>:<login>, each login's own bucket"),
        CLIENT_RATES: _set_map(["%d:%s" % (lim["client_messages_per_hour"], key) for _l, (key, lim) in by_login.items()],
                               "<messages per window>:<reseller>/<client>, the bucket of all its mailboxes"),
        LOGIN_CLIENTS: _set_map(["%s %s" % (login, key) for login, (key, _lim) in by_login.items()],
                                "<login> <reseller>/<client>"),
        RECIPIENT_LIMITS: _set_map(["%s %d" % (login, lim["recipients_per_message"]) for login, (_c, lim) in by_login.items()],
                                   "<login> <most recipients of one message>"),
    }
    context = {
        "mark": "managed by fracto.hosting mail_server",
        "window": window,
        "mailbox_rates": sorted({lim["messages_per_hour"] for _c, lim in by_login.values()}),
        "client_rates": sorted({lim["client_messages_per_hour"] for _c, lim in by_login.values()}),
    }
    files[RATELIMIT_CONF] = templates.render("rspamd_ratelimit", context)
    return files


def diff_key(path, line):
    """The key a line of one of the maps is owned by: a login, or "<reseller>/<client>" (None: not a map line)."""
    if path not in MAPS or line.startswith("#"):
        return None
    first = line.split(" ", 1)[0]
    return first.split(":", 1)[1] if path in (MAILBOX_RATES, CLIENT_RATES) else first
