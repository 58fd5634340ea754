#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: imap_migrate
short_description: Copy mailboxes from an old IMAP server into FractoMail, resumably and verifiably
version_added: 1.0.0
description:
  - Copies every mailbox of O(mailboxes) from its source IMAP server into the destination IMAP server, in one call,
    several mailboxes at once (O(parallel)). Runs where it reaches both servers (the mail host).
  - 'Every folder with its hierarchy (the separator is translated), non-ASCII names (modified UTF-7 both ways),
    subscriptions; the special-use folders (Sent, Drafts, Trash, Junk, Archive) land on the destination''s own:
    the mailbox''s C(folder_map) first, then the source''s RFC 6154 flag, then common names (Sent Items, Spam,
    Papelera, ...). Flags and keywords (not C(\Recent)) and INTERNALDATE are kept; keywords the destination
    refuses are reported.'
  - A message is identified across servers by a signature of its headers (its Message-ID; without one its Date,
    From, Subject and size); messages with the same signature are matched by count, so duplicates on the source
    are copied as many times as they exist there, and a rerun (after a complete or an interrupted run) copies only
    what is missing and brings the flags up to date. Nothing is deleted on the destination unless C(delete_extra).
  - Per folder, one FETCH of headers, sizes and flags on each side; bodies are fetched and appended in batches
    (MULTIAPPEND, with LITERAL+ when advertised), at most O(batch_bytes) in memory per mailbox (a bigger message
    goes alone).
  - A mailbox that fails (wrong password, server down) is reported failed and the others go on; the result names
    the failures in RV(failed_mailboxes) (the module itself does not fail for them, the playbook does).
  - At the end each mailbox is verified (every source message has a counterpart on the destination).
  - When both servers advertise CONDSTORE (RFC 7162), each folder verified complete (every source message has its
    counterpart, flags equal) is recorded in O(state_dir) with both sides' UIDVALIDITY, UIDNEXT, MESSAGES and
    HIGHESTMODSEQ (taken just before the FETCH that showed it complete). A rerun asks both servers for the STATUS of
    every recorded folder and skips the folders where the four values are still those recorded on both sides
    (reported as unchanged since the last verified run, with that run's counts); any difference, a folder without a
    record (first run, interrupted run) or a server without CONDSTORE means the full comparison.
options:
  mailboxes:
    description:
      - The mailboxes to migrate, as C(fracto_state.hosts[host].mail_migrations) without their secrets.
      - C(address) (the destination mailbox), C(client), C(from) (source host), C(port) (default 993), C(user)
        (the login on the source), C(master_user) (a master user of the source, for the mailboxes without a password of their own), C(folder_map) (old
        name -> new name), C(delete_extra) (bool).
      - Every address and client id is checked against its whitelist; an item carrying a secret (C(password),
        C(master_password)) is refused (secrets go in O(passwords), which is no_log).
    type: list
    elements: dict
    required: true
  passwords:
    description:
      - The secrets, by address, C({password, master_password, destination}) (the mailbox's password on the
        source, the source's master user's, and C(destination) only without O(destination_master_user)). Secret as
        a whole.
    type: dict
    default: {}
  source_domain:
    description: A source C(from) without a dot is an inventory host, reached as C(<from>.<source_domain>).
    type: str
  source_addresses:
    description: The address to reach a source host at, by its C(from) (overrides O(source_domain)).
    type: dict
    default: {}
  destination:
    description:
      - The destination server, C({host, port, tls, verify}).
      - Default the mail host's own Dovecot on the loopback, C(127.0.0.1) port 143 without TLS (Dovecot counts a
        loopback connection as secured; it saves both sides the encryption). Any other host is reached over TLS with
        its certificate verified.
    type: dict
    default: {}
  reseller:
    description:
      - The reseller whose mailboxes these are. With the local Dovecot as destination, every address must be a mailbox
        of this reseller's record on the host (written by M(fracto.hosting.mail_server)); any other is refused and
        nothing is migrated.
    type: str
    required: true
  destination_master_user:
    description:
      - A master user of a destination other than the local Dovecot, so that end users' passwords are not needed.
      - 'Without it, on the local Dovecot, the run creates its own temporary master user C(migrate-<reseller>) with a
        random password (never stored or shown): one line per migrated mailbox in C(/etc/dovecot/fracto/migration-masters),
        looked up by Dovecot as C(<mailbox>*migrate-<reseller>), so that it opens only those mailboxes, only from
        O(master_allow_nets); the lines are written under the host lock and removed when the run ends (also in check
        mode, whose only write they are: a credential, no mail and no configuration).'
    type: str
  destination_master_password:
    description: Its password.
    type: str
  master_allow_nets:
    description: The networks the temporary master user may log in from (Dovecot's C(allow_nets)); the loopback by default.
    type: list
    elements: str
    default: ["127.0.0.1/32", "::1/128"]
  records_dir:
    description: The mail records of the host's resellers (see M(fracto.hosting.mail_server)).
    type: path
    default: /etc/fracto/mail/resellers
  source_ca_file:
    description: A CA bundle the source's certificate must chain to (default the system's trust store).
    type: path
  parallel:
    description: How many mailboxes at once.
    type: int
    default: 4
  batch_messages:
    description: At most this many messages per FETCH/APPEND batch.
    type: int
    default: 200
  batch_bytes:
    description: At most this many bytes per batch (a bigger message goes alone).
    type: int
    default: 16777216
  state_dir:
    description:
      - Where the records of verified folders are kept on the host, one file per mailbox (C(<address>.json), mode
        0600, in a directory of mode 0700; no secret in them). Removing a file makes the next run compare that
        mailbox in full. Not read or written in check mode.
    type: path
    default: /var/lib/fracto/imap-migrate
  progress_file:
    description: Progress lines (one per mailbox and batch) are appended here (not in check mode); C(tail -f) it on long runs.
    type: path
    default: /var/log/fracto/imap-migrate.log
notes:
  - Python's standard library only on the host (imaplib; Debian 12 does not package imapclient).
attributes:
  check_mode:
    support: full
    description:
      - Lists per folder what would be copied (messages, bytes), which folders would be created and which flags updated.
      - Nothing is written on either server; every folder is compared in full (no record is read or written).
  diff_mode:
    support: none
    description: Mail is not shown as a diff; RV(mailboxes) and RV(report) say per folder what was (or would be) copied.
  platform:
    support: full
    platforms: posix
    description: Runs on the host that reaches both servers (the mail host), with Python's standard library only.
author:
  - fracto.hosting contributors (@fracto)
"""

EXAMPLES = r"""
- name: Migrate the mailboxes of cliente1 from the old server
  fracto.hosting.imap_migrate:
    mailboxes:
      - {address: info@cliente1.test, client: cliente1, from: legacy01.fracto.test, user: info@cliente1.test}
    passwords:
      info@cliente1.test: {password: "{{ vault_legacy_cliente1_info_password }}"}
    reseller: demo
"""

RETURN = r"""
mailboxes:
  description:
    - Per mailbox, C(status) (ok or failed), C(error), C(folders) (per folder source, destination, messages, copied,
      already, failed, bytes, and C(unchanged) true for a folder skipped as unchanged on both servers since the last
      verified run), C(copied), C(already), C(failed), C(bytes), C(seconds), C(verified), C(verification),
      C(unchanged_folders).
  returned: always
  type: list
  elements: dict
failed_mailboxes:
  description: The addresses of the mailboxes that failed.
  returned: always
  type: list
  elements: str
report:
  description: The report as lines, one block per mailbox.
  returned: always
  type: list
  elements: str
changes:
  description: One entry per mailbox where something was (or would be) copied, flagged, created or deleted.
  returned: always
  type: list
  elements: dict
"""

import os
import re
import secrets

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import lock
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.imap import sync
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import masters, owners, safe

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Keys of a mailbox item that would carry a secret outside the no_log option passwords.
SOURCE_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}")
SECRET_KEYS = ("password", "master_password", "destination", "destination_password", "secret")


def jobs_of(params):
    dest = dict({"host": "127.0.0.1", "port": 143, "tls": False, "verify": False}, **(params["destination"] or {}))
    if dest["host"] not in LOOPBACK and not (dest.get("tls") and dest.get("verify")):
        # Plain IMAP or an unverified TLS peer only on the loopback (where Dovecot counts the connection as secured).
        dest.update(tls=True, verify=True, port=993 if dest.get("port") in (None, 143) else dest["port"])
    jobs, problems = [], []
    for box in params["mailboxes"]:
        address = box.get("address")
        secrets = (params["passwords"] or {}).get(address) or {}
        # The mailbox's own password when the state gives one, else the old server's master user.
        master = None if secrets.get("password") else box.get("master_user")
        source_password = secrets.get("master_password") if master else secrets.get("password")
        dest_password = params["destination_master_password"] if params["destination_master_user"] else secrets.get("destination")
        if not address or not box.get("from"):
            problems.append("mailboxes: every item needs address and from")
            continue
        host = (params["source_addresses"] or {}).get(box["from"]) or box["from"]
        if "." not in host and params["source_domain"] and host != "localhost":
            host = "%s.%s" % (host, params["source_domain"])  # an inventory host: <host>.<platform domain>
        jobs.append({
            "address": address, "client": box.get("client"), "folder_map": box.get("folder_map") or {},
            "delete_extra": bool(box.get("delete_extra")),
            "source": {"host": host, "port": int(box.get("port") or 993), "verify": True,
                       "ca_file": params["source_ca_file"], "user": box.get("user") or address,
                       "master_user": master, "password": source_password or ""},
            "destination": dict(dest, master_user=params["destination_master_user"], password=dest_password or ""),
        })
    return jobs, problems


def check_mailboxes(params):
    """Whitelist every value that names a file or a login on this host (addresses, client ids, the reseller), and refuse
    secrets outside the no_log option passwords. Raises safe.UnsafeValue naming the field."""
    safe.reseller(params["reseller"], "reseller")
    for i, box in enumerate(params["mailboxes"]):
        if not isinstance(box, dict):
            raise safe.UnsafeValue("mailboxes[%d]" % i, "must be a mapping")
        address = box.get("address")
        safe.address(address, "mailboxes[%d].address" % i)
        if box.get("client") is not None:
            safe.client(box["client"], "mailboxes[%s].client" % address)
        source = box.get("from")
        if source is not None:
            safe.check(SOURCE_HOST, str(source), "mailboxes[%s].from" % address, "must be a host name or address")
        for key in ("user", "master_user"):
            if box.get(key) is not None:
                safe.config_value(str(box[key]), "mailboxes[%s].%s" % (address, key))  # no CR/LF/NUL into IMAP or SASL
        for old, new in (box.get("folder_map") or {}).items():
            safe.config_value(str(old), "mailboxes[%s].folder_map" % address)
            safe.config_value(str(new), "mailboxes[%s].folder_map" % address)
        leaked = sorted(k for k in box if k in SECRET_KEYS)
        if leaked:
            raise safe.UnsafeValue("mailboxes[%s]" % address, "%s belongs in passwords (no_log), not in mailboxes" % ", ".join(leaked))


def owned_mailboxes(params):
    """The addresses of the reseller's mailboxes on this host (its record, written by mail_server)."""
    records = owners.read_records(params["records_dir"])
    return set((records.get(params["reseller"]) or {}).get("mailboxes", {}))


def uses_temporary_master(params):
    dest = params["destination"] or {}
    return not params["destination_master_user"] and dest.get("host", "127.0.0.1") in LOOPBACK


def set_master(module, params, addresses, pw_hash):
    """Add this run's lines (one per mailbox) to the master users' file, under the host lock."""
    def body():
        before = read_text(mc.MASTERS_FILE)
        after = masters.add(before, params["reseller"], addresses, pw_hash, os.getpid(), nets=params["master_allow_nets"])
        write_atomic(mc.MASTERS_FILE, after, mode=0o640, owner="root", group="dovecot", makedirs=True)
    lock.run_locked(module, "fracto.hosting.imap_migrate", body, reseller=params["reseller"])


def clear_master(params):
    """Remove this run's lines (under the host lock; after a lock timeout the next run of any reseller drops them)."""
    try:
        with lock.host_lock("fracto.hosting.imap_migrate", reseller=params["reseller"]):
            before = read_text(mc.MASTERS_FILE)
            if before is not None:
                write_atomic(mc.MASTERS_FILE, masters.remove(before, os.getpid()), mode=0o640, owner="root",
                             group="dovecot")
    except (lock.HostLockTimeout, OSError):
        return False
    return True


def argument_spec():
    return dict(
        mailboxes=dict(type="list", elements="dict", required=True),
        reseller=dict(type="str", required=True),
        passwords=dict(type="dict", default={}, no_log=True),
        destination=dict(type="dict", default={}),
        source_domain=dict(type="str"),
        source_addresses=dict(type="dict", default={}),
        destination_master_user=dict(type="str"),
        destination_master_password=dict(type="str", no_log=True),
        master_allow_nets=dict(type="list", elements="str", default=list(masters.LOOPBACK_NETS)),
        records_dir=dict(type="path", default=owners.RECORDS_DIR),
        source_ca_file=dict(type="path"),
        parallel=dict(type="int", default=4),
        batch_messages=dict(type="int", default=200),
        batch_bytes=dict(type="int", default=16 << 20),
        progress_file=dict(type="path", default="/var/log/fracto/imap-migrate.log"),
        state_dir=dict(type="path", default="/var/lib/fracto/imap-migrate"),
    )


def refuse_unsafe(module, params):
    """Fail the module, before anything is read or written, on a value that is not safe to use (check_mailboxes)."""
    try:
        check_mailboxes(params)
        masters.nets_field(params["master_allow_nets"])
    except safe.UnsafeValue as exc:
        module.fail_json(msg="refused, nothing was changed: %s" % exc, field=exc.field)


def temporary_master(module, params, addresses):
    """Without a master user of the destination given, on the loopback: this run's own master user (a random
    password), for the reseller's own mailboxes on this host only; it goes into params. True when it is used."""
    if not uses_temporary_master(params):
        return False
    try:
        owned = owned_mailboxes(params)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="cannot read the mail records in %s: %s" % (params["records_dir"], exc))
    foreign = [a for a in addresses if a not in owned]
    if foreign:
        module.fail_json(msg="reseller %s has no mailbox %s on this host (its mail record, written by site.yml); nothing"
                             " was migrated" % (params["reseller"], ", ".join(foreign)))
    password = secrets.token_urlsafe(32)
    module.no_log_values.add(password)
    params["destination_master_user"], params["destination_master_password"] = masters.master_name(params["reseller"]), password
    return True


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    refuse_unsafe(module, p)
    addresses = sorted({b["address"] for b in p["mailboxes"]})
    temporary = temporary_master(module, p, addresses)
    jobs, problems = jobs_of(p)
    if problems:
        module.fail_json(msg="; ".join(sorted(set(problems))))
    cleared = True
    if temporary and jobs:
        # The only write of a check-mode run: this run's master lines (a credential, no mail and no configuration),
        # removed before the module returns, so that the destination can be compared.
        set_master(module, p, addresses, masters.ssha512(p["destination_master_password"]))
    try:
        # Check mode writes nothing on the host either: the progress lines stay in the result.
        reports, progress = sync.migrate_all(jobs, p["parallel"], module.check_mode,
                                             None if module.check_mode else p["progress_file"], p["batch_messages"],
                                             p["batch_bytes"], None if module.check_mode else p["state_dir"])
    finally:
        if temporary and jobs:
            cleared = clear_master(p)
    changes = sync.report_changes(reports)
    failed = [r["address"] for r in reports if r["status"] == "failed"]
    warnings = [] if cleared else ["the master user lines of this run could not be removed from %s (lock timeout);"
                                   " the next migration run drops them" % mc.MASTERS_FILE]
    module.exit_json(changed=bool(changes), changes=changes, mailboxes=reports, failed_mailboxes=failed,
                     report=sync.report_lines(reports), progress=progress, warnings=warnings)


if __name__ == "__main__":
    main()
