# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files mail_server writes on a mail host, as one set: each rendered from the union of the resellers' records,
the mode and owner it is written with, its change line, and the one reseller's view of it in a diff.

Pure functions: the module reads the host (the certificates installed, the vmail ids, Roundcube's DES key) and
passes what it found in. A diff never shows a hash, Roundcube's DES key, or another reseller's lines of a shared file.
"""

from __future__ import annotations

import os
import re

from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dkim, greylisting, mta_sts, send_limits, sender_logins

SECRET_FILES = {mc.USERS_FILE: (0o640, "root", "dovecot"), mc.MAP_SNI: (0o600, "root", "root")}
MAPS = (mc.MAP_DOMAINS, mc.MAP_MAILBOXES, mc.MAP_ALIASES, mc.MAP_SNI, mc.MAP_SENDERS, mc.MAP_LOGINS)
NAME_TOKEN = re.compile(r"[A-Za-z0-9@_.-]+")  # a name, an address or a path part, as the configuration files write them
RSPAMD_MAPS = send_limits.MAPS + (greylisting.DOMAINS_MAP,)  # every tenant's logins and domains: for rspamd only
LOCAL_LUA = "/etc/rspamd/rspamd.local.lua"


def render_all(p, shared, cert_paths, fingerprints, vmail_ids, des_key, *, templates, dkim_index=None):
    """{path: content} of every file of the mail host (Dovecot, the users file, Postfix and its maps, rspamd's DKIM
    signing, the webmail vhosts and Roundcube). p: the module's parameters (hostname, postfix_settings, webroot,
    webmail_ca_file); shared: owners.union() of every record; cert_paths: {name: (fullchain, key)} of the names
    served with their own certificate, fingerprints: {fullchain: sha256}; vmail_ids: (uid, gid); dkim_index: the
    DKIM keys as dkim.plan() left them. Raises safe.UnsafeValue or render.RenderError."""
    names = [m["name"] for m in shared["mail_names"]]
    uid, gid = vmail_ids
    files = {
        mc.DOVECOT_CONF: mc.render_dovecot(p["hostname"], names, cert_paths, uid, gid, templates=templates),
        mc.USERS_FILE: mc.render_users(shared["mailboxes"]),
        mc.POSTFIX_MAIN: mc.render_main(p["hostname"], cert_paths, dict(mc.sender_settings(), **p["postfix_settings"]),
                                        templates=templates),
        mc.POSTFIX_MASTER: mc.render_master(shared["transports"], templates=templates),
        mc.MAP_SENDERS: mc.render_map(shared["sender_map"], "sender_transports"),
        mc.MAP_DOMAINS: mc.render_map(shared["domains"], "domains"),
        mc.MAP_MAILBOXES: mc.render_map({a: u["client"] or "-" for a, u in shared["mailboxes"].items()}, "mailboxes"),
        mc.MAP_ALIASES: mc.render_map({a: ",".join(t) for a, t in shared["aliases"].items()}, "aliases"),
        mc.MAP_LOGINS: mc.render_map(sender_logins.entries(shared), "sender_logins"),
        mc.MAP_SNI: mc.render_sni(names, cert_paths, fingerprints),
        dkim.RSPAMD_DKIM_CONF: dkim.render_conf(dkim_index or {}, shared["domains"], templates=templates),
    }
    files.update(send_limits.render(shared["send_limits"], p["send_limit_window"], templates=templates))
    files.update(greylisting.render(shared["greylisted_domains"]))
    files[LOCAL_LUA] = render_local_lua(templates)
    files.update(mc.nginx_files(p["webroot"], shared["webmail_names"], cert_paths, templates=templates))
    files.update(mta_sts.render(shared["mta_sts"], cert_paths, templates=templates))
    files.update(mc.roundcube_files(shared["webmail_names"], shared["mail_names"], des_key, p["hostname"], cert_paths,
                                    p["webmail_ca_file"], templates=templates))
    return files


def render_local_lua(templates):
    """rspamd's Lua additions: the maps of the outgoing limits and of greylisting declared by name, the rule that
    refuses too many recipients, the symbol that spares a message from greylisting. Paths and names only, no value of
    a reseller's state: the maps hold those, as data."""
    return templates.render("rspamd_local_lua", {
        "mark": "managed by fracto.hosting mail_server",
        "maps": dict(send_limits.LUA_MAPS, greylisted_domains=greylisting.DOMAINS_MAP),
        "skip_greylisting": greylisting.SKIP_SYMBOL,
    })


def ownership(path):
    """(mode, owner, group) of one file: the secret maps and Roundcube's files are not world-readable."""
    mode, owner, group = SECRET_FILES.get(path, (0o644, "root", "root"))
    if path.startswith(mc.ROUNDCUBE_DIR + "/"):
        mode, group = 0o640, "www-data"
    if path.startswith(dkim.DKIM_DIR + "/"):  # the DKIM private keys: rspamd reads them, nobody else
        mode, group = 0o640, "_rspamd"
    if path in RSPAMD_MAPS:  # every tenant's logins and domains: rspamd reads them, nobody else
        mode, group = 0o640, "_rspamd"
    return mode, owner, group


def describe_file(path, before, after):
    """A change line for a configuration file (the objects in the users file and maps have their own lines)."""
    if path in (mc.USERS_FILE,) + MAPS:
        return None
    if path.startswith(mc.ROUNDCUBE_DIR) or "/sites/webmail." in path:
        kind = "webmail_config"
    else:
        kind = "mail_config"
    first = (after if after is not None else before).split("\n", 1)[0]
    client = first.split("client=", 1)[1].split()[0] if "client=" in first else "(reseller)"
    if before is None:
        return mc.change("create", kind, path, client, ["written"])
    if after is None:
        return mc.change("remove", kind, path, client, [])
    return mc.change("change", kind, path, client, ["updated"])


def own_keys(*records):
    """The keys of a reseller's objects as the shared files name them (addresses, domains, @domain, mail names)."""
    keys = set()
    for record in records:
        if record:
            keys |= set(record["domains"]) | set(record["mailboxes"]) | set(record["aliases"])
            keys |= {"@" + d for d in record["domains"]} | {m["name"] for m in record["mail_names"]}
            keys |= {a.lower() for a in record["mailboxes"]}
            keys |= {"%s/%s" % (record["reseller"], c) for c in record.get("send_limits") or {}}
            keys |= {w["name"] for w in record["webmail_names"]} | {n for d in record["domains"] for n in mta_sts.names_of(d)}
    return keys


def view_of(records, reseller, record):
    """(keys, hidden) of what a reseller's diff shows: own_keys() of its record, and the names of every other
    reseller's record on the host (none of their lines is shown; the host's generic names are everyone's)."""
    keys = own_keys(records.get(reseller), record)
    generic = {n["name"] for r in records.values() for n in r["mail_names"] + r["webmail_names"]
               if n.get("branding", "generic") == "generic"}
    return keys, own_keys(*(r for name, r in records.items() if name != reseller)) - keys - generic


def mentions(line, names):
    """Whether a line names one of names: a whole token, or a token that starts with the name and a dot (a key or
    certificate path: <domain>.<selector>.key)."""
    for token in NAME_TOKEN.findall(line):
        token = token.lower()
        if token in names:
            return True
        dot = token.find(".")
        while dot != -1:
            if token[:dot] in names:
                return True
            dot = token.find(".", dot + 1)
    return False


def name_of_file(path):
    """The name a file of one name is for (a webmail or MTA-STS vhost, a Roundcube brand file), else None."""
    directory, base = os.path.split(path)
    if directory == mc.NGINX_DIR + "/sites" and base.endswith(".conf"):
        return base[:-len(".conf")]
    if directory == mc.ROUNDCUBE_DIR and base.startswith("fracto-") and base.endswith(".inc.php"):
        return base[len("fracto-"):-len(".inc.php")]
    return None


def stale(files, sites_dir=None):
    """{path: content} of the vhosts of one name on the host (a webmail name, an MTA-STS policy name) that no record
    wants any more (files: the paths rendered): only files whose first line says mail_server wrote them for such a
    name; anything else there (a web site, a file of the operator's) is left alone."""
    sites_dir = sites_dir or "%s/sites" % mc.NGINX_DIR
    try:
        names = sorted(n for n in os.listdir(sites_dir) if n.endswith(".conf"))
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        path = os.path.join(sites_dir, name)
        if path in files or not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()  # a web site's vhost (a host that is both) is not read further
            if first.startswith("# %s: " % mc.MARK) and (" mta-sts=" in first or " webmail=" in first):
                out[path] = first + handle.read()
    return out


def shown_to(writes, keys):
    """The files of writes ({path: content}) that the reseller of keys (own_keys; None: everyone) sees in its diff and
    change lines: the file of a name it does not hold is another reseller's (its path alone names that domain)."""
    if keys is None:
        return dict(writes)
    return {path: content for path, content in writes.items() if name_of_file(path) is None or name_of_file(path) in keys}


def rspamd_map_key(path, line):
    """Whose line of an rspamd map this is: a domain of the greylisting map, a login or reseller/client of the others."""
    return line if path == greylisting.DOMAINS_MAP else send_limits.diff_key(path, line)


def only_own(path, content, keys, hidden=frozenset()):
    """A shared file as this reseller's diff shows it: the users file and maps with its own lines only (another
    reseller's mailboxes, domains and aliases are not this reseller's to see), any other file without the lines that
    name one of hidden (view_of())."""
    if keys is None:
        return content
    if hidden and path not in (mc.USERS_FILE,) + MAPS + RSPAMD_MAPS:  # Dovecot's local_name blocks, DKIM, Roundcube
        lines = [line for line in content.splitlines() if not mentions(line, hidden)]
        return "\n".join(lines) + ("\n" if lines else "")
    if path in RSPAMD_MAPS:
        lines = [line for line in content.splitlines()
                 if line.startswith("#") or rspamd_map_key(path, line) in keys]
        return "\n".join(lines) + ("\n" if lines else "")
    if path not in (mc.USERS_FILE,) + MAPS:
        return content
    out, previous = [], None
    for line in content.splitlines():
        key = line.split(":" if path == mc.USERS_FILE else " ", 1)[0]
        if line.startswith("# ") and path == mc.MAP_SNI:
            previous = line  # the fingerprint comment above an SNI entry
            continue
        if line.startswith("#") and path != mc.MAP_SNI:
            out.append(line)
        elif key in keys:
            out += ([previous] if previous and path == mc.MAP_SNI else []) + [line]
        previous = None
    return "\n".join(out) + ("\n" if out else "")


def for_diff(path, content, keys=None, hidden=frozenset()):
    if content is None:
        return ""
    content = only_own(path, content, keys, hidden)
    if path == mc.USERS_FILE:
        return mc.redact_users(content)
    if path == mc.ROUNDCUBE_CONF:
        key = mc.des_key_of(content)
        return content.replace(key, mc.REDACTED) if key else content
    return content


def diffs(writes, before, keys, hidden=frozenset()):
    """The diff of each file written ({path: content}; before: {path: content or None}), as the reseller of keys
    sees it (view_of())."""
    return [dict(before_header=path, after_header=path, before=for_diff(path, before[path], keys, hidden),
                 after=for_diff(path, content, keys, hidden)) for path, content in sorted(writes.items())]
