#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mail_server
short_description: Converge a FractoMail host in one call (domains, mailboxes, aliases, Postfix, Dovecot, Roundcube)
version_added: 1.0.0
description:
  - Takes the mail slice of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true)) and converges,
    in one call, the virtual mail of every client (Postfix lmdb maps of domains, mailboxes and aliases; the Dovecot
    passwd-file with each mailbox's hash and quota), the whole Postfix and Dovecot configuration (TLS only, LMTP
    delivery, quota plugin, branded names served by SNI), and the webmail (nginx vhosts and Roundcube at each
    webmail name, with the brand on the login page).
  - 'Passwords: the action plugin of the same name hashes them on the controller (SHA512-CRYPT with libpass) and
    keeps the hash already on the host while the password still verifies, so that a rerun changes nothing. The module
    itself is only ever given hashes (C(password_hash) of each item of O(mailboxes)).'
  - A branded name is served with its certificate once that certificate is installed in O(store) (see
    M(fracto.hosting.tls_certificates)) and covers it; until then the host's default certificate answers
    (the one of O(hostname), or Debian's snakeoil before the first order).
  - The new configuration is checked with C(postfix check), C(doveconf -n) and C(nginx -t) before any reload; on
    failure every file is put back as it was and the module fails with the checker's message.
  - Mailboxes, domains and aliases of clients that left the state are kept unless O(prune=true); the mail of a
    removed mailbox stays under C(/var/vmail).
extends_documentation_fragment:
  - fracto.hosting.host_slice
options:
  hostname:
    description: The host's own name (Postfix C(myhostname), the default certificate, the generic mail name).
    type: str
    required: true
  domains:
    description: The mail domains, as C(fracto_state.hosts[host].mail_domains) (C(domain), C(client)).
    type: list
    elements: dict
    default: []
  mailboxes:
    description:
      - The mailboxes (C(address), C(client), C(quota) in bytes or null, C(password_hash)).
      - The whole option is secret (no_log), so that its hashes never reach a log.
    type: list
    elements: dict
    default: []
  aliases:
    description: The aliases, as C(fracto_state.hosts[host].mail_aliases) (C(address), C(targets), C(client)).
    type: list
    elements: dict
    default: []
  mail_names:
    description: The mail names (C(name), C(branding), C(clients)), each served by SNI on 993, 995, 465, 587 and 25.
    type: list
    elements: dict
    default: []
  webmail_names:
    description: The webmail names (C(name), C(branding), C(clients)); Roundcube is served at each over HTTPS.
    type: list
    elements: dict
    default: []
  certificates:
    description: The certificates of the mail and webmail names (C(id), C(names)), as M(fracto.hosting.tls_certificates) stores them.
    type: list
    elements: dict
    default: []
  postfix_settings:
    description: Further C(main.cf) settings (the lab sets C(smtpd_peername_lookup)).
    type: dict
    default: {}
  ip_bindings:
    description:
      - The host's dedicated addresses (C(ip_bindings) of its resolved state, bound by M(fracto.hosting.ip_bindings)).
      - Mail from the domains of the clients bound to an address for mail leaves from that address with its HELO
        name (C(helo)), through one C(smtp) transport per address in C(master.cf) (C(smtp_bind_address),
        C(smtp_helo_name)) chosen by C(sender_dependent_default_transport_maps); other senders leave from the
        host's main address with O(hostname) as HELO.
    type: list
    elements: dict
    default: []
  fingerprint_cache:
    description:
      - A file on the controller where the action plugin records fingerprints of the passwords it verified (HMAC-SHA256
        under the mail host's key, so useless without that host), so that the next run verifies only what changed.
        Without it every password is verified against its hash at each run (about 4 ms each).
      - Read and written by the action plugin on the controller; the module on the host ignores it.
    type: str
  read_hashes:
    description:
      - Only read and return the current hashes and the host's password fingerprint key (used by the action plugin;
        never shown). The key (32 random bytes, C(/var/lib/fracto/mail/password-fingerprint.key), root only) is
        created when missing, except in check mode.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports every domain, mailbox and alias that would be created, changed or removed; writes nothing.
  diff_mode:
    support: full
    description: Before and after of each file; the users file is shown with every hash replaced by C(********).
  platform:
    support: full
    platforms: posix
    description: Runs on the mail host (Debian 12 with postfix, postfix-lmdb, dovecot, nginx, roundcube).
seealso:
  - module: fracto.hosting.tls_certificates
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Converge every domain, mailbox and alias of this mail host
  fracto.hosting.mail_server:
    hostname: mail01.fracto.test
    domains: "{{ fracto_state.hosts[inventory_hostname].mail_domains }}"
    mailboxes: "{{ fracto_state.hosts[inventory_hostname].mailboxes }}"
    aliases: "{{ fracto_state.hosts[inventory_hostname].mail_aliases }}"
    mail_names: "{{ fracto_state.hosts[inventory_hostname].mail_names }}"
    webmail_names: "{{ fracto_state.hosts[inventory_hostname].webmail_names }}"
    certificates: "{{ fracto_state.hosts[inventory_hostname].certificates }}"
    clients: "{{ fracto_state_public.clients | list }}"
"""

RETURN = r"""
changes:
  description: One entry per mail domain, mailbox, alias, webmail vhost or service configuration created, changed or removed.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: create, kind: mailbox, id: info@cliente1.test, client: cliente1, detail: [quota 2G]}
    - {action: change, kind: mailbox, id: ana@cliente1.test, client: cliente1, detail: [password changed]}
reloaded:
  description: The services reloaded or restarted because their configuration changed.
  returned: always
  type: list
  elements: str
served:
  description: The mail and webmail names served with their own certificate (the others get the default one).
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os
import pwd
import secrets
import string

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc

FINGERPRINT_KEY = "/var/lib/fracto/mail/password-fingerprint.key"
SECRET_FILES = {mc.USERS_FILE: (0o640, "root", "dovecot"), mc.MAP_SNI: (0o600, "root", "root")}
MAPS = (mc.MAP_DOMAINS, mc.MAP_MAILBOXES, mc.MAP_ALIASES, mc.MAP_SNI, mc.MAP_SENDERS)


def installed_certificates(store, certificates):
    """{name: (fullchain, key)} of every name covered by an installed certificate."""
    paths = {}
    for cert in certificates:
        directory = os.path.join(store, cert["id"])
        fullchain, key = os.path.join(directory, "fullchain.pem"), os.path.join(directory, "privkey.pem")
        try:
            with open(os.path.join(directory, "meta.json"), encoding="utf-8") as handle:
                covered = set(json.load(handle).get("names", []))
        except (OSError, ValueError):
            continue
        if os.path.isfile(fullchain) and os.path.isfile(key):
            paths.update((n, (fullchain, key)) for n in cert["names"] if n in covered)
    return paths


def fingerprint(path):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return ""


def write_config(path, content):
    """Write one configuration file with its mode and owner (secret maps and Roundcube's files are not world-readable)."""
    mode, owner, group = SECRET_FILES.get(path, (0o644, "root", "root"))
    if path.startswith(mc.ROUNDCUBE_DIR + "/"):
        mode, group = 0o640, "www-data"
    write_atomic(path, content, mode=mode, owner=owner, group=group, makedirs=True)


def fingerprint_key(check_mode):
    """The host's key for the controller's password fingerprints (hex); created once, never in check mode."""
    try:
        with open(FINGERPRINT_KEY, "rb") as handle:
            return handle.read().hex()
    except FileNotFoundError:
        if check_mode:
            return ""
    # /var/lib/fracto is shared (the ACME webroot is under it): only the key's own directory is private.
    os.makedirs(os.path.dirname(os.path.dirname(FINGERPRINT_KEY)), mode=0o755, exist_ok=True)
    os.makedirs(os.path.dirname(FINGERPRINT_KEY), mode=0o700, exist_ok=True)
    key = secrets.token_bytes(32)
    write_atomic(FINGERPRINT_KEY, key, mode=0o600)
    return key.hex()


def vmail_ids():
    try:
        entry = pwd.getpwnam("vmail")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 5000, 5000  # check mode before the role created the user


def compile_maps(module, paths):
    if mc.POSTFIX_MAIN in paths and not os.path.exists("/etc/aliases.lmdb"):
        rc, out, err = module.run_command(["newaliases"])
        if rc != 0:
            return "newaliases failed: %s" % (err or out).strip()
    for path in paths:
        if path in MAPS:
            command = ["postmap"] + (["-F"] if path == mc.MAP_SNI else []) + ["lmdb:%s" % path]
            rc, out, err = module.run_command(command)
            if rc != 0:
                return "%s failed: %s" % (" ".join(command), (err or out).strip())
            if path == mc.MAP_SNI:
                os.chmod(path + ".lmdb", 0o600)  # postmap -F embeds the private keys
    return None


def check_config(module, touched):
    checks = []
    if any(p.startswith("/etc/postfix/") for p in touched):
        checks.append(["postfix", "check"])
    if any(p.startswith("/etc/dovecot/") for p in touched):
        checks.append(["doveconf", "-n"])
    if any(p.startswith("/etc/nginx/") for p in touched):
        checks.append(["nginx", "-t"])
    for command in checks:
        rc, out, err = module.run_command(command)
        if rc != 0:
            return "%s failed: %s" % (" ".join(command), (err or out).strip())
    return None


def reload_services(module, touched):
    services = []
    if any(p.startswith("/etc/postfix/") for p in touched):
        services.append(("postfix", "restart" if mc.POSTFIX_MASTER in touched else "reload-or-restart"))
    if mc.DOVECOT_CONF in touched:
        services.append(("dovecot", "restart"))
    if any(p.startswith("/etc/nginx/") for p in touched):
        services.append(("nginx", "reload-or-restart"))
    for service, action in services:
        rc, out, err = module.run_command(["systemctl", action, service])
        if rc != 0:
            return [s for s, _a in services], "systemctl %s %s failed: %s" % (action, service, (err or out).strip())
    return [s for s, _a in services], None


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


def for_diff(path, content):
    if content is None:
        return ""
    if path == mc.USERS_FILE:
        return mc.redact_users(content)
    if path == mc.ROUNDCUBE_CONF:
        key = mc.des_key_of(content)
        return content.replace(key, mc.REDACTED) if key else content
    return content


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hostname=dict(type="str", required=True),
            domains=dict(type="list", elements="dict", default=[]),
            mailboxes=dict(type="list", elements="dict", default=[], no_log=True),
            aliases=dict(type="list", elements="dict", default=[]),
            mail_names=dict(type="list", elements="dict", default=[]),
            webmail_names=dict(type="list", elements="dict", default=[]),
            certificates=dict(type="list", elements="dict", default=[]),
            clients=dict(type="list", elements="str", required=True),
            prune=dict(type="bool", default=False),
            store=dict(type="path", default="/etc/fracto/tls"),
            webroot=dict(type="path", default="/var/lib/fracto/acme"),
            postfix_settings=dict(type="dict", default={}),
            ip_bindings=dict(type="list", elements="dict", default=[]),
            read_hashes=dict(type="bool", default=False),
            fingerprint_cache=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # The mailboxes option is no_log as a whole: its strings (addresses too) would be masked in the result, so
    # only the hashes are no_log values here.
    module.no_log_values = {b["password_hash"] for b in p["mailboxes"] if b.get("password_hash")}
    users_content = read_text(mc.USERS_FILE)
    if p["read_hashes"]:
        module.exit_json(changed=False, hashes={a: u["hash"] for a, u in mc.parse_users(users_content).items()},
                         fingerprint_key=fingerprint_key(module.check_mode))
    missing = [b.get("address") for b in p["mailboxes"] if not b.get("password_hash")]
    if missing:
        module.fail_json(msg="mailboxes without password_hash (use the action plugin to hash passwords): %s" % ", ".join(missing))
    check = module.check_mode

    current = mc.current_objects(users_content, read_text(mc.MAP_DOMAINS), read_text(mc.MAP_ALIASES))
    wanted = mc.wanted_objects(p["domains"], p["mailboxes"], p["aliases"])
    (domains, users, aliases), changes = mc.plan_objects(current, wanted, p["clients"], p["prune"])

    cert_paths = installed_certificates(p["store"], p["certificates"])
    names = [m["name"] for m in p["mail_names"]]
    fingerprints = {chain: fingerprint(chain) for chain, _key in cert_paths.values()}
    uid, gid = vmail_ids()
    transports, sender_map = mc.sender_transports(p["domains"], p["ip_bindings"])
    des_key = mc.des_key_of(read_text(mc.ROUNDCUBE_CONF)) or "".join(
        secrets.choice(string.ascii_letters + string.digits) for _i in range(24))

    files = {
        mc.DOVECOT_CONF: mc.render_dovecot(p["hostname"], names, cert_paths, uid, gid),
        mc.USERS_FILE: mc.render_users(users),
        mc.POSTFIX_MAIN: mc.render_main(p["hostname"], cert_paths, dict(mc.sender_settings(), **p["postfix_settings"])),
        mc.POSTFIX_MASTER: mc.render_master(transports),
        mc.MAP_SENDERS: mc.render_map(sender_map),
        mc.MAP_DOMAINS: mc.render_map(domains),
        mc.MAP_MAILBOXES: mc.render_map({a: u["client"] or "-" for a, u in users.items()}),
        mc.MAP_ALIASES: mc.render_map({a: ",".join(t) for a, t in aliases.items()}),
        mc.MAP_SNI: mc.render_sni(names, cert_paths, fingerprints),
    }
    files.update(mc.nginx_files(p["webroot"], p["webmail_names"], cert_paths))
    files.update(mc.roundcube_files(p["webmail_names"], p["mail_names"], des_key, p["hostname"]))
    before = {path: read_text(path) for path in files}
    writes = {path: content for path, content in files.items() if before[path] != content}
    changes += [c for c in (describe_file(path, before[path], content) for path, content in sorted(writes.items())) if c]
    changes += mc.sender_changes(before[mc.MAP_SENDERS], sender_map, transports, p["domains"], p["hostname"])
    served = sorted(n for n in names + [w["name"] for w in p["webmail_names"]] if n in cert_paths)
    result = dict(changed=bool(writes), changes=changes, reloaded=[], served=served)
    if module._diff:
        result["diff"] = [dict(before_header=path, after_header=path, before=for_diff(path, before[path]),
                               after=for_diff(path, content)) for path, content in sorted(writes.items())]
    if check or not writes:
        module.exit_json(**result)

    os.makedirs(os.path.join(p["webroot"], ".well-known", "acme-challenge"), mode=0o755, exist_ok=True)
    try:
        for path, content in writes.items():
            write_config(path, content)
        failure = compile_maps(module, writes) or check_config(module, writes)
    except OSError as exc:
        failure = "writing the configuration failed: %s" % exc
    if not failure:
        result["reloaded"], failure = reload_services(module, writes)
    if failure:
        # Put back exactly what was there: a bad run never leaves a service with a broken config.
        for path in writes:
            if before[path] is not None:
                write_config(path, before[path])
            elif os.path.exists(path):
                os.unlink(path)
        compile_maps(module, [path for path in writes if before[path] is not None])
        reload_services(module, writes)
        module.fail_json(msg="%s; the previous configuration was put back" % failure, changes=[], reloaded=[])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
