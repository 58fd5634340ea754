#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sftp_access
short_description: Give a web host's clients SFTP to their own files, chrooted, with no shell, in one call
version_added: 1.0.0
description:
  - Takes the C(sftp_users) of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true)), their
    passwords already hashed on the controller by this module's action plugin, and converges in one call the group
    C(fracto-sftp), each client's password (its shadow hash, C(!) when it has none) and its authorized keys
    (C(/etc/ssh/fracto-sftp/<client>), root's, 0644), and OpenSSH's drop-in
    (C(/etc/ssh/sshd_config.d/fracto-sftp.conf), template C(sshd_sftp)), checked with C(sshd -t) and put back when
    the check fails, then loaded (sshd reloaded) before any password is set.
  - Every client user of the host (of any reseller, web_sites' comment mark) joins the group C(fracto-clients), which
    the drop-in's Match block applies to, so that no client user without SFTP logs in (C(AllowGroups fracto-sftp)),
    nor any with a key planted in its home (keys are read from root's files only), nor forwards a port.
  - The drop-in chroots them to C(/srv/www) (root's, made 0711 here so that it lists nothing), starts each
    client in its own home, runs only C(internal-sftp) with umask 027 (what it uploads is its own, readable by nginx
    through the home's group C(www-data) and by its PHP pool), and allows no shell, TTY or forwarding.
  - Only a system user the platform created for this reseller (web_sites' comment mark) is ever changed; any other
    user named like a client (a system account, another reseller's client, a login user) is refused before anything
    is written. A client of I(clients) without an entry in I(users) loses SFTP (group, password, keys); with
    I(prune), so does any other user of this reseller on the host. Of other resellers' clients nothing is changed but their
    membership of C(fracto-clients) (the protection above).
  - The arguments are not trusted (the controller validates them first), so client ids, hashes and keys are matched
    whole against whitelists (a key is one line with no options). Changes are made under the host-wide lock.
options:
  users:
    description: The host's clients with SFTP (C(sftp_users) of its resolved state), hashes made on the controller.
    type: list
    elements: dict
    default: []
    suboptions:
      client:
        description: The client id (its system user).
        type: str
        required: true
      password_hash:
        description: Its SHA-512 crypt hash, or none for keys only.
        type: str
      password:
        description: Its password; the action plugin hashes it on the controller and never passes it to the host.
        type: str
      keys:
        description: Its SSH public keys, each a whole line without options.
        type: list
        elements: str
        default: []
  clients:
    description: Every client of the reseller (one without an entry in I(users) loses SFTP).
    type: list
    elements: str
    required: true
  reseller:
    description: The reseller whose clients these are (the comment mark of their system users).
    type: str
    required: true
  prune:
    description: Also take SFTP from this reseller's users on the host that are no longer among I(clients).
    type: bool
    default: false
  templates:
    description: The source of the template C(sshd_sftp) (the role passes its own, C(fracto_web__sftp_template)).
    type: dict
    required: true
  read_hashes:
    description: Only return the current shadow hashes of I(users) (the action plugin's first call); changes nothing.
    type: bool
    default: false
author:
  - fracto.hosting founding engineers (!UNKNOWN)
notes:
  - Check mode and diff are supported; hashes never appear in a diff or a change line.
"""

EXAMPLES = r"""
- name: Give the host's clients SFTP to their own files
  fracto.hosting.sftp_access:
    users: "{{ fracto_web__state.sftp_users | default([]) }}"
    clients: "{{ fracto_web__clients }}"
    reseller: "{{ fracto_web__reseller.name }}"
    templates:
      sshd_sftp: "{{ lookup('ansible.builtin.file', fracto_web__sftp_template, rstrip=false) }}"
  register: fracto_web__result_sftp
"""

RETURN = r"""
changes:
  description: One entry per client whose SFTP access changed (create, change, remove), with what changed.
  returned: always
  type: list
  elements: dict
sshd_changed:
  description: Whether the drop-in changed (the module reloaded sshd then).
  returned: always
  type: bool
hashes:
  description: With I(read_hashes), the current shadow hash of each client of I(users) that has one.
  returned: when read_hashes
  type: dict
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_writer
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError, Templates
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction
from ansible_collections.fracto.hosting.plugins.module_utils.web import sftp
from ansible_collections.fracto.hosting.plugins.module_utils.web.accounts import verdict_of
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import GECOS_MARK, MAX_CLIENT_UID, MIN_CLIENT_UID, gecos, home_of

SHADOW = "/etc/shadow"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            users=dict(type="list", elements="dict", default=[], options=dict(
                client=dict(type="str", required=True),
                password_hash=dict(type="str", no_log=True),
                password=dict(type="str", no_log=True),
                keys=dict(type="list", elements="str", default=[], no_log=False),
            )),
            clients=dict(type="list", elements="str", required=True),
            reseller=dict(type="str", required=True),
            prune=dict(type="bool", default=False),
            templates=dict(type="dict", required=True),
            read_hashes=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if any(u.get("password") is not None for u in p["users"]):
        module.fail_json(msg="users: a password reaches the host only hashed (the action plugin fracto.hosting.sftp_access "
                             "hashes it on the controller); nothing was changed")
    users = [{k: u[k] for k in sftp.USER_KEYS} for u in p["users"]]
    wanted = []

    def check_args():
        wanted.extend(sftp.check_users(users, p["clients"]))

    if p["read_hashes"]:  # the action's first call: the hashes of this reseller's own users only, checked as any call
        module.exit_json(changed=False, hashes=current_hashes(module, users, p))
    result = run_writer(module, "fracto.hosting.sftp_access", check_args, lambda: converge(module, p, wanted), p["reseller"])
    module.exit_json(**result)


def current_hashes(module, users, p):
    try:
        wanted = sftp.check_users(users, p["clients"])
    except Refused as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    shadow = sftp.parse_shadow(read_text(SHADOW) or "")
    return {u["client"]: shadow[u["client"]] for u in wanted
            if verdict_of(u["client"], p["reseller"])[0] == "ours" and sftp.has_password(shadow.get(u["client"]))}


def client_users(reseller=None):
    """The client users of the host that web_sites made (its comment mark before any ',': chfn cannot move it), a home
    /srv/www/<name> and a client's uid; of one reseller, or of every reseller (None)."""
    out = set()
    for account in pwd.getpwall():
        mark = account.pw_gecos.split(",", 1)[0]
        if not mark.startswith(GECOS_MARK + " ") or account.pw_dir != home_of(account.pw_name):
            continue
        if MIN_CLIENT_UID <= account.pw_uid <= MAX_CLIENT_UID and (reseller is None or mark == gecos(reseller)):
            out.add(account.pw_name)
    return out


def verify(module, wanted, reseller):
    """Refuse, before anything is written, a user the platform did not make for this reseller; returns the clients
    whose user web_sites has not made (or marked) yet, in check mode only: a real run has done it first."""
    later = set()
    for index, user in enumerate(wanted):
        verdict, reason = verdict_of(user["client"], reseller)
        if verdict in ("create", "adopt") and module.check_mode:
            later.add(user["client"])
        elif verdict != "ours":
            module.fail_json(msg="users[%d].client %s is refused: %s; nothing was changed (SFTP is only given to a user the "
                                 "platform created for this reseller's client)" % (index, user["client"],
                                                                                   reason or "its system user is not made yet"))
    return later


def members_of(*groups):
    out = {}
    for group in groups:
        try:
            out[group] = set(grp.getgrnam(group).gr_mem)
        except KeyError:
            out[group] = set()
    return out


def converge(module, p, wanted):
    config = read_text(sftp.SSHD_CONFIG)
    if config is not None and not sftp.includes_dropins(config):
        module.fail_json(msg="%s has no line '%s': the SFTP drop-in would not be read (clients would get sshd's own "
                             "settings); nothing was changed" % (sftp.SSHD_CONFIG, sftp.INCLUDE_LINE))
    later = verify(module, wanted, p["reseller"])
    owned, clients = client_users(p["reseller"]), set(p["clients"])
    revoked = {c for c in owned if c not in {u["client"] for u in wanted} and (c in clients or p["prune"])}
    shadow = sftp.parse_shadow(read_text(SHADOW) or "")
    keys = {cid: read_text(sftp.keys_path(cid)) for cid in {u["client"] for u in wanted} | revoked}
    steps, changes = sftp.plan(wanted, revoked, members_of(sftp.GROUP, sftp.CLIENTS_GROUP), shadow, keys, client_users())
    try:
        dropin = sftp.render_dropin(Templates(p["templates"]))
    except RenderError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    before = read_text(sftp.SSHD_DROPIN)
    chroot_mode = os.stat(sftp.CHROOT).st_mode & 0o7777 if os.path.isdir(sftp.CHROOT) else sftp.CHROOT_MODE
    if before != dropin:  # the host's, not a client's: as web_sites' web_config lines
        changes.append({"action": "change" if before is not None else "create", "kind": "sshd_config", "id": sftp.SSHD_DROPIN,
                        "client": "(reseller)", "detail": ["Match Group %s" % sftp.CLIENTS_GROUP]})
    if chroot_mode != sftp.CHROOT_MODE:
        changes.append({"action": "change", "kind": "sftp_chroot", "id": sftp.CHROOT, "client": "(reseller)",
                        "detail": ["mode %04o -> %04o (lists no client)" % (chroot_mode, sftp.CHROOT_MODE)]})
    diff = [{"before_header": sftp.SSHD_DROPIN, "after_header": sftp.SSHD_DROPIN, "before": before or "", "after": dropin}] \
        if before != dropin else []
    changed = bool(steps or before != dropin or chroot_mode != sftp.CHROOT_MODE)
    if module.check_mode or not changed:
        for change in changes:
            if change["client"] in later:
                change["detail"].append("once web_sites makes its user")
        return dict(changed=changed, changes=changes, sshd_changed=before != dropin, diff=diff)
    apply(module, steps, dropin if before != dropin else None, chroot_mode)
    return dict(changed=True, changes=changes, sshd_changed=before != dropin, diff=diff)


def apply(module, steps, dropin, chroot_mode):
    """The groups and the chroot's mode first (the Match block needs them), then the files (drop-in and keys, checked
    with sshd -t, put back on failure) and sshd's reload, then the passwords: a password never works before sshd has
    the block that confines its user."""
    for group in (sftp.CLIENTS_GROUP, sftp.GROUP):
        try:
            grp.getgrnam(group)
        except KeyError:
            module.run_command(["groupadd", "--system", "--", group], check_rc=True)
    if chroot_mode != sftp.CHROOT_MODE:
        os.chmod(sftp.CHROOT, sftp.CHROOT_MODE)
    for step, cid, group in steps:
        if step in ("join", "leave"):
            module.run_command(["gpasswd", "--add" if step == "join" else "--delete", cid, group], check_rc=True)
    tx = Transaction()

    def change():
        if dropin is not None:
            tx.write(sftp.SSHD_DROPIN, dropin, mode=0o644, owner=0, group=0, makedirs=True)
        for step, cid, argument in steps:
            if step == "write_keys":
                tx.write(sftp.keys_path(cid), argument, mode=0o644, owner=0, group=0, makedirs=True)
            elif step == "remove_keys":
                tx.remove(sftp.keys_path(cid))

    def check():
        rc, out, err = module.run_command(["sshd", "-t"])
        if rc != 0:
            return "sshd -t failed: %s" % (err or out).strip()
        if dropin is not None:  # now, not from a later task: a run stopped here must not leave sshd without the block
            rc, out, err = module.run_command(["systemctl", "reload", "ssh"])
            if rc != 0:
                return "reloading sshd failed: %s" % (err or out).strip()
        return None

    failure = tx.run(change, check)
    if failure:
        module.fail_json(msg="%s; the previous configuration was put back" % failure)
    for step, cid, argument in steps:
        if step == "set_password":
            # On stdin, never on a command line (ps shows those); -e: the field is already a hash.
            module.run_command(["chpasswd", "--encrypted"], data="%s:%s" % (cid, argument), check_rc=True)


if __name__ == "__main__":
    main()
