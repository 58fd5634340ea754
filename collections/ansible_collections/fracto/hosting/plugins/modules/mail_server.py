#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mail_server
short_description: Converge a FractoMail host in one call (domains, mailboxes, aliases, Postfix, Dovecot, DKIM, Roundcube)
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
  - 'Sender binding: a mailbox that logs in on submission (587) or submissions (465) may send only as its own address
    and the aliases of its own client that deliver to it (C(smtpd_sender_login_maps), the lmdb map
    C(/etc/postfix/fracto/sender_logins) written with the other maps; C(reject_authenticated_sender_login_mismatch)
    answers any other envelope sender with 553 5.7.1). See docs/mail.md.'
  - 'DKIM: a key per mail domain and algorithm (RSA 2048; Ed25519 too where the domain''s C(dkim) lists it), made on
    the host with python3-cryptography the first time the domain is seen and never again, its private half in
    C(/etc/fracto/dkim/keys/<domain>.<selector>.key) (0640 root:_rspamd, never returned), its selector dated
    (C(fr2026a), C(fr2026a-ed25519)); the index C(/etc/fracto/dkim/index.json) lists every key with its state and
    public key. rspamd signs with the active keys (C(/etc/rspamd/local.d/dkim_signing.conf), template
    C(rspamd_dkim)) the mail of submission and of the host itself (Postfix C(smtpd_milters) on submission,
    C(non_smtpd_milters), C(milter_default_action=accept)). RV(dkim) returns the TXT records to publish. O(dkim_rotate)
    runs one step of a key rotation (playbooks/dkim_rotate.yml). See docs/mail.md.'
  - The new configuration is checked with C(postfix check), C(doveconf -n), C(rspamadm configtest) and C(nginx -t)
    before any reload; on failure every file (new DKIM keys too) is put back as it was and the module fails with the
    checker's message.
  - Mailboxes, domains and aliases of clients that left the state are kept unless O(prune=true); the mail of a
    removed mailbox stays under C(/var/vmail).
  - 'A mail host is shared by resellers: each run is one O(reseller)''s. Its domains, mailboxes, aliases, mail and
    webmail names, certificates and dedicated addresses are recorded in O(records_dir)C(/<reseller>.json) (root only);
    the run creates, changes, keeps and prunes only what that record holds, and writes every shared file (passwd-file,
    Postfix maps, SNI, sender transports, webmail vhosts, Roundcube) from the union of all records. A domain, mailbox,
    alias or branded name another reseller holds is refused and nothing is changed. Objects found in the files but in
    no record (written before the records existed) are attributed by the resellers'' M(fracto.hosting.host_state)
    records, else kept untouched until a reseller''s state takes them.'
  - 'Every value is checked again on the host against its whitelist (domains, local parts, client ids, hashes by
    scheme, addresses, certificate ids, main.cf settings), and the passwd-file and Postfix map writers refuse any
    field that would break their syntax (C(:), whitespace, control characters, C(#) at the start): the module fails
    naming the field and writes nothing. Mail homes are joined from the whitelisted domain and local part and checked
    to stay under C(/var/vmail).'
  - The writing part runs under the host-wide lock (C(/run/fracto/host.lock)); check mode neither takes it nor writes.
  - 'Roundcube reaches Dovecot and Postfix on C(127.0.0.1) (993 and 465) with the peer verified (C(verify_peer),
    C(peer_name) the mail name of its brand once that name''s certificate is installed, else O(hostname)) against the
    system trust store.'
extends_documentation_fragment:
  - fracto.hosting.host_slice
options:
  reseller:
    description: The reseller whose run this is (its record on the host, the objects it may change and prune).
    type: str
    required: true
  records_dir:
    description: Directory of the per-reseller records of the mail host (mode 0700, files 0600, hashes inside).
    type: path
    default: /etc/fracto/mail/resellers
  webmail_ca_file:
    description:
      - The CA bundle Roundcube verifies Dovecot's and Postfix's certificates against (C(cafile) of its
        C(imap_conn_options) and C(smtp_conn_options)); the system trust store by default. A platform whose ACME CA is
        not in the system store (the lab's Pebble) points it at a bundle holding that CA's root.
    type: path
    default: /etc/ssl/certs/ca-certificates.crt
  host_state_dir:
    description: Directory of M(fracto.hosting.host_state)'s records, read to attribute objects written before records existed.
    type: path
    default: /var/lib/fracto/state
  hostname:
    description: The host's own name (Postfix C(myhostname), the default certificate, the generic mail name).
    type: str
    required: true
  domains:
    description:
      - The mail domains, as C(fracto_state.hosts[host].mail_domains) (C(domain), C(client), C(dkim)).
      - C(dkim) is the list of DKIM algorithms the domain signs with (C(rsa), C(ed25519); C([rsa]) when absent),
        from the package's C(mail_dkim_keys).
    type: list
    elements: dict
    default: []
  dkim_rotate:
    description:
      - One step of a DKIM key rotation for the domains of O(domains) (playbooks/dkim_rotate.yml, docs/mail.md).
      - C(publish) makes a next key (a new selector) beside each active one; it is returned in RV(dkim) to be
        published and does not sign yet. C(switch) makes each next key at least O(dkim_switch_after) days old the
        active one (it signs from now on) and the former one retired (still published). C(retire) stops listing the
        retired keys (their TXT records may then be removed; the key files stay on the host).
    type: str
    choices: [none, publish, switch, retire]
    default: none
  dkim_switch_after:
    description: The days a next key must have been published before O(dkim_rotate=switch) makes it sign.
    type: int
    default: 7
  send_limits:
    description:
      - The outgoing limits of each client (C(client), C(messages_per_hour) of each of its mailboxes,
        C(client_messages_per_hour) of all of them, C(recipients_per_message)), as C(fracto_state.hosts[host].mail_send_limits).
      - rspamd enforces them on submitted mail (local.d/ratelimit.conf, rspamd.local.lua and the maps under
        C(/etc/rspamd/fracto), written from every reseller's record); a mailbox of a client without an entry is not limited.
    type: list
    elements: dict
    default: []
  send_limit_window:
    description: The seconds the message limits are per (3600, an hour; a test lab may shorten it), 60 to 86400.
    type: int
    default: 3600
  mta_sts:
    description: The MTA-STS policy of each mail domain of O(domains) (C(domain), C(client), C(mx)), as
      C(fracto_state.hosts[host].mta_sts), served at C(https://mta-sts.<domain>/.well-known/mta-sts.txt) (template
      C(mta_sts_vhost)); the vhosts of policies no record holds any more are removed.
    type: list
    elements: dict
    default: []
  greylisting:
    description: The clients whose inbound mail is greylisted (C(fracto_state.hosts[host].mail_greylisting)); a message
      waits only if every recipient's domain is one of theirs (C(/etc/rspamd/fracto/greylisted_domains.map)).
    type: list
    elements: str
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
    description: The webmail names (C(name), C(branding), C(clients)); Roundcube served at each over HTTPS; a name no record holds loses its vhost.
    type: list
    elements: dict
    default: []
  certificates:
    description: The certificates of the mail and webmail names (C(id), C(names)), as M(fracto.hosting.tls_certificates) stores them.
    type: list
    elements: dict
    default: []
  postfix_settings:
    description: The operator's C(main.cf) parameters; each replaces the template's parameter of that name or is added.
    type: dict
    default: {}
  templates:
    description:
      - The Jinja2 sources (the role's, from role variables) of C(dovecot), C(postfix_main), C(postfix_master),
        C(webmail_vhost), C(roundcube), C(roundcube_host), C(rspamd_dkim), C(rspamd_ratelimit),
        C(rspamd_local_lua) and C(mta_sts_vhost); rendered on the host in a sandbox (C(StrictUndefined)) from checked values. Required
        to converge. The users file, the Postfix maps and rspamd's limit maps are written by the module.
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
        never shown); only the hashes of the mailboxes of O(reseller) (and of mailboxes no record holds). The key
        (32 random bytes, C(/var/lib/fracto/mail/password-fingerprint.key), root only) is created when missing,
        except in check mode.
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
    description: Runs on the mail host (Debian 12 with postfix, postfix-lmdb, dovecot, rspamd, nginx, roundcube).
requirements:
  - jinja2 on the host (Debian C(python3-jinja2), installed by the roles)
  - cryptography on the host (Debian C(python3-cryptography), installed by the role) for the DKIM keys
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
    reseller: "{{ fracto_state_public.reseller.name }}"
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
record:
  description: The reseller's record on the host.
  returned: success
  type: str
  sample: /etc/fracto/mail/resellers/demo.json
served:
  description: The reseller's mail and webmail names served with their own certificate (the others get the default one).
  returned: always
  type: list
  elements: str
dkim:
  description:
    - The DKIM keys of the reseller's domains, to publish as TXT records at C(<selector>._domainkey.<domain>)
      (C(state) active, next or retired). C(value) is null for a key check mode would make.
  returned: always
  type: list
  elements: dict
  sample:
    - {domain: cliente1.test, client: cliente1, selector: fr2026a, algorithm: rsa, state: active,
       value: "v=DKIM1; k=rsa; p=MIIBIjANBgkqh..."}
"""

import datetime
import grp
import hashlib
import os
import pwd
import secrets
import string

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.parameters import remove_values
from ansible_collections.fracto.hosting.plugins.module_utils import render
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import dkim, owners, safe, send_limits
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError, Templates
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import CertificateStore
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction

FINGERPRINT_KEY = "/var/lib/fracto/mail/password-fingerprint.key"


def installed_certificates(store, certificates):
    """{name: (fullchain, key)} of every name covered by an installed certificate."""
    paths, store = {}, CertificateStore(store)
    for cert in certificates:
        served = store.served(cert["id"])
        if served is not None:
            fullchain, key, covered = served
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
    mode, owner, group = hf.ownership(path)
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
        if path in hf.MAPS:
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
    if any(p.startswith("/etc/rspamd/") for p in touched):
        checks.append(["rspamadm", "configtest"])
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
    if any(p.startswith(("/etc/rspamd/", dkim.DKIM_DIR + "/")) for p in touched):
        services.append(("rspamd", "reload-or-restart"))
    if any(p.startswith("/etc/nginx/") for p in touched):
        services.append(("nginx", "reload-or-restart"))
    for service, action in services:
        rc, out, err = module.run_command(["systemctl", action, service])
        if rc != 0:
            return [s for s, _a in services], "systemctl %s %s failed: %s" % (action, service, (err or out).strip())
    return [s for s, _a in services], None


def ensure_masters_file():
    """The (empty) file of the migrations' master users, so that Dovecot's master passdb always has its file; its lines
    are written only by imap_migrate for the duration of a migration."""
    if not os.path.exists(mc.MASTERS_FILE):
        write_atomic(mc.MASTERS_FILE, "# %s: master users of running mail migrations (imap_migrate)\n" % mc.MARK,
                     mode=0o640, owner="root", group="dovecot", makedirs=True)


def ensure_dkim_dirs():
    """The DKIM directories, 0750 root:_rspamd: rspamd reads the keys, no other user lists them."""
    for path in (dkim.DKIM_DIR, dkim.KEY_DIR):
        os.makedirs(path, mode=0o750, exist_ok=True)
        os.chown(path, 0, grp.getgrnam("_rspamd").gr_gid)
        os.chmod(path, 0o750)


def plan_dkim(module, p):
    """(index before as text, the index after, keys to make, changes): the DKIM keys of the reseller's domains."""
    before = read_text(dkim.INDEX)
    try:
        index = dkim.parse_index(before)
        wanted = dkim.wanted(p["domains"])
        index, make, changes = dkim.plan(index, wanted, datetime.datetime.now(datetime.timezone.utc).date(),
                                         p["dkim_rotate"], p["dkim_switch_after"])
    except safe.UnsafeValue as exc:
        module.fail_json(msg="refused, nothing was changed: %s" % exc, field=exc.field, changes=[])
    except (ValueError, dkim.DkimError) as exc:
        module.fail_json(msg="cannot use the DKIM index %s, nothing was changed: %s" % (dkim.INDEX, exc), changes=[])
    return before, index, make, changes


def converge(module, p, check):
    """Plan from every reseller's record and the files, then (not in check mode) write. Runs under the host lock."""
    records, record, shared, changes = plan(module, p)
    index_before, index, make, dkim_changes = plan_dkim(module, p)
    cert_paths = installed_certificates(p["store"], shared["certificates"])
    files = render_files(module, p, shared, cert_paths, index)
    record_file = owners.record_path(p["records_dir"], p["reseller"])
    record_before, record_after = read_text(record_file), owners.render_record(record)
    before = {path: read_text(path) for path in files}
    stale = hf.stale(files)  # the webmail and MTA-STS vhosts of names no record holds any more: removed (None)
    before.update(stale)
    files.update(dict.fromkeys(stale))
    writes = {path: content for path, content in files.items() if before[path] != content}
    view = hf.view_of(records, p["reseller"], record)  # (own names, other resellers' names)
    shown = hf.shown_to(writes, keys=view[0])
    changes += [c for c in (hf.describe_file(path, before[path], content) for path, content in sorted(shown.items())) if c]
    changes += owners.sender_changes(p["reseller"], records, record, before[mc.MAP_SENDERS], p["hostname"])
    changes += dkim_changes
    own_names = [m["name"] for m in record["mail_names"]] + [w["name"] for w in record["webmail_names"]]
    served = sorted(n for n in own_names if n in cert_paths)
    masters_missing = not os.path.exists(mc.MASTERS_FILE)
    own_domains = {d["domain"]: d["client"] for d in p["domains"]}
    dkim_changed = bool(make) or dkim.render_index(index) != (index_before or dkim.render_index({}))
    result = dict(changed=bool(writes) or record_before != record_after or masters_missing or dkim_changed, changes=changes,
                  reloaded=[], served=served, record=record_file, dkim=dkim.published(index, own_domains))
    if module._diff:
        result["diff"] = hf.diffs(shown, before, *view)
    if check or not result["changed"]:
        return result
    if make and not dkim.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography (Debian: python3-cryptography)") + "; nothing was changed")
    # The private keys and the index are written with the configuration (put back with it on a failure), never diffed.
    secret_writes = dkim.make_keys(index, make)
    if dkim_changed:
        secret_writes[dkim.INDEX] = dkim.render_index(index)
    before.update((path, read_text(path)) for path in secret_writes)
    result["reloaded"] = write_files(module, p, dict(writes, **secret_writes), before)
    result["dkim"] = dkim.published(index, own_domains)
    # The record last: a run that failed above leaves the reseller's record as it was.
    write_atomic(record_file, record_after, mode=0o600, owner="root", group="root", makedirs=True, dir_mode=0o700)
    return result


def plan(module, p):
    """(every record, the reseller's new record, the union the shared files hold, changes) from the records and the
    files; fails, changing nothing, when the state takes what another reseller holds."""
    users_content = read_text(mc.USERS_FILE)
    try:
        records = owners.read_records(p["records_dir"])
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the mail records in %s: %s" % (p["records_dir"], exc))
    file_objects = mc.current_objects(users_content, read_text(mc.MAP_DOMAINS), read_text(mc.MAP_ALIASES))
    wanted = owners.wanted_of(p)
    record, shared, changes, clashes = owners.plan(p["reseller"], records, wanted, p["clients"], p["prune"], file_objects,
                                                   owners.host_state_owners(p["host_state_dir"]))
    if clashes:
        module.fail_json(msg="reseller %s: the state takes what another reseller has on this mail host, nothing was changed: %s."
                             " Rename it, or let the other reseller remove it first (its run with fracto_prune=true)."
                             % (p["reseller"], "; ".join(clashes)), clashes=clashes, changes=[])
    return records, record, shared, changes


def render_files(module, p, shared, cert_paths, dkim_index):
    """{path: content} of every file of the mail host; fails, changing nothing, on a refused value or a template error."""
    fingerprints = {chain: fingerprint(chain) for chain, _key in cert_paths.values()}
    ids = vmail_ids()
    des_key = mc.des_key_of(read_text(mc.ROUNDCUBE_CONF)) or "".join(
        secrets.choice(string.ascii_letters + string.digits) for _i in range(24))
    templates = Templates(p["templates"])
    try:
        files = hf.render_all(p, shared, cert_paths, fingerprints, ids, des_key, templates=templates, dkim_index=dkim_index)
    except safe.UnsafeValue as exc:
        module.fail_json(msg="refused, nothing was changed: %s" % exc, field=exc.field, changes=[])
    except RenderError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc, changes=[])
    return files


def write_files(module, p, writes, before):
    """Write the changed files ({path: content}; before: what each held), compile the maps, check the configuration and
    reload the services; on a failure, put everything back and fail. Returns the services reloaded."""
    os.makedirs(os.path.join(p["webroot"], ".well-known", "acme-challenge"), mode=0o755, exist_ok=True)
    # A bad run never leaves a service with a broken config: on a failure the files are put back, then (undone last
    # done first) the maps of the files that were there compiled again and the services reloaded.
    tx = Transaction(write=write_config)
    tx.undo(reload_services, module, writes)
    tx.undo(compile_maps, module, [path for path in writes if before[path] is not None])

    def change():
        ensure_masters_file()
        if any(path.startswith(dkim.DKIM_DIR + "/") for path in writes):
            ensure_dkim_dirs()
        for path, content in writes.items():
            if content is None:
                tx.remove(path)
            else:
                tx.write(path, content)

    reloaded = []
    failure = tx.run(change, lambda: compile_maps(module, writes) or check_config(module, writes))
    if not failure:
        reloaded, failure = reload_services(module, writes)
        if failure:
            tx.rollback()
    if failure:
        module.fail_json(msg="%s; the previous configuration was put back" % failure, changes=[], reloaded=[])
    return reloaded


def refuse_unsafe_arguments(module, p):
    """Every argument against its whitelist, before anything is read or written (modules do not trust their callers)."""
    try:
        safe.check_arguments(p)
        owners.check_extras(p)
        if send_limits.window_problem(p["send_limit_window"]):
            raise safe.UnsafeValue("send_limit_window", send_limits.window_problem(p["send_limit_window"]))
    except safe.UnsafeValue as exc:
        module.fail_json(msg="refused, nothing was changed: %s" % exc, field=exc.field, changes=[])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hostname=dict(type="str", required=True),
            reseller=dict(type="str", required=True),
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
            records_dir=dict(type="path", default=owners.RECORDS_DIR),
            webmail_ca_file=dict(type="path", default=mc.SYSTEM_CA),
            host_state_dir=dict(type="path", default=owners.HOST_STATE_DIR),
            templates=dict(type="dict", default={}),
            dkim_rotate=dict(type="str", default="none", choices=list(dkim.ROTATE_STEPS)),
            dkim_switch_after=dict(type="int", default=7),
            send_limits=dict(type="list", elements="dict", default=[]),
            send_limit_window=dict(type="int", default=3600),
            greylisting=dict(type="list", elements="str", default=[]),
            mta_sts=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # The mailboxes option is no_log as a whole: its strings (addresses too) would be masked in the result, so
    # only the hashes are no_log values here.
    module.no_log_values = {b["password_hash"] for b in p["mailboxes"] if isinstance(b, dict) and b.get("password_hash")}
    refuse_unsafe_arguments(module, p)
    if p["read_hashes"]:
        try:
            hashes = owners.own_hashes(p["reseller"], owners.read_records(p["records_dir"]), read_text(mc.USERS_FILE))
        except (OSError, ValueError) as exc:
            module.fail_json(msg="cannot read the mail records in %s: %s" % (p["records_dir"], exc))
        module.exit_json(changed=False, hashes=hashes, fingerprint_key=fingerprint_key(module.check_mode))
    missing = [b.get("address") for b in p["mailboxes"] if not b.get("password_hash")]
    if missing:
        module.fail_json(msg="mailboxes without password_hash (use the action plugin to hash passwords): %s" % ", ".join(missing))
    render.require(module, p["templates"], mc.TEMPLATES, "fracto_mail")
    if module.check_mode:
        # Check mode writes nothing and does not wait for the host lock (it reads files written atomically).
        result = converge(module, p, True)
    else:
        result = run_locked(module, "fracto.hosting.mail_server", lambda: converge(module, p, False), reseller=p["reseller"])
    # The DKIM records (thousands of strings on a big host) are whitelisted values without a '$' (dkim.published), so
    # they cannot hold a hash: masking 5,000 hashes in each of them costs seconds. Everything else is masked as always.
    keys = result.pop("dkim", [])
    result = remove_values(result, module.no_log_values)
    module.no_log_values = set()
    module.exit_json(dkim=keys, **result)


if __name__ == "__main__":
    main()
