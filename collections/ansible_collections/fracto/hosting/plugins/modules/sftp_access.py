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
    (C(/etc/ssh/fracto-sftp/<client>), root's, 0644), and OpenSSH's drop-in for the group
    (C(/etc/ssh/sshd_config.d/fracto-sftp.conf), template C(sshd_sftp)), checked with C(sshd -t) before the role
    reloads sshd and put back when the check fails.
  - The drop-in chroots the group to C(/srv/www) (root's, made 0711 here so that it lists nothing), starts each
    client in its own home, runs only C(internal-sftp) with umask 027 (what it uploads is its own, readable by nginx
    through the home's group C(www-data) and by its PHP pool), and allows no shell, TTY or forwarding.
  - Only a system user the platform created for this reseller (web_sites' comment mark) is ever changed; any other
    user named like a client (a system account, another reseller's client, a login user) is refused before anything
    is written. A client of I(clients) without an entry in I(users) loses SFTP (group, password, keys); with
    I(prune), so does any other user of this reseller on the host. Other resellers' clients are never touched.
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
  description: Whether the drop-in changed (the role reloads sshd then).
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
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_writer
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError, Templates
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction
from ansible_collections.fracto.hosting.plugins.module_utils.web import sftp
from ansible_collections.fracto.hosting.plugins.module_utils.web.accounts import verdict_of
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import gecos, home_of

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
    if p["read_hashes"]:
        shadow = sftp.parse_shadow(read_text(SHADOW) or "")
        module.exit_json(changed=False, hashes={u["client"]: shadow[u["client"]] for u in users
                                                if sftp.has_password(shadow.get(u["client"]))})
    wanted = []

    def check_args():
        wanted.extend(sftp.check_users(users, p["clients"]))

    result = run_writer(module, "fracto.hosting.sftp_access", check_args, lambda: converge(module, p, wanted), p["reseller"])
    module.exit_json(**result)


def owned_users(reseller):
    """This reseller's client users on the host (the comment mark web_sites gives them, a home under /srv/www)."""
    mark = gecos(reseller)
    return {a.pw_name for a in pwd.getpwall() if a.pw_gecos == mark and a.pw_dir == home_of(a.pw_name)}


def verify(module, wanted, reseller):
    """Refuse, before anything is written, a user the platform did not make for this reseller; returns the clients
    whose user web_sites has not made yet (in check mode only: a real run has made them first)."""
    later = set()
    for index, user in enumerate(wanted):
        verdict, reason = verdict_of(user["client"], reseller)
        if verdict == "create" and module.check_mode:
            later.add(user["client"])
        elif verdict != "ours":
            module.fail_json(msg="users[%d].client %s is refused: %s; nothing was changed (SFTP is only given to a user the "
                                 "platform created for this reseller's client)" % (index, user["client"],
                                                                                   reason or "its system user is not made yet"))
    return later


def current_keys(clients):
    return {cid: read_text(sftp.keys_path(cid)) for cid in clients}


def converge(module, p, wanted):
    later = verify(module, wanted, p["reseller"])
    owned = owned_users(p["reseller"])
    clients = set(p["clients"])
    revoked = {c for c in owned if c not in {u["client"] for u in wanted} and (c in clients or p["prune"])}
    try:
        members = set(grp.getgrnam(sftp.GROUP).gr_mem)
    except KeyError:
        members = set()
    shadow = sftp.parse_shadow(read_text(SHADOW) or "")
    steps, changes = sftp.plan(wanted, revoked, members, shadow, current_keys({u["client"] for u in wanted} | revoked))
    try:
        dropin = sftp.render_dropin(Templates(p["templates"]))
    except RenderError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    before = read_text(sftp.SSHD_DROPIN)
    sshd_changed = before != dropin
    chroot_mode = os.stat(sftp.CHROOT).st_mode & 0o7777 if os.path.isdir(sftp.CHROOT) else None
    if sshd_changed:
        changes.append({"action": "change" if before is not None else "create", "kind": "sshd_config", "id": sftp.SSHD_DROPIN,
                        "client": "(reseller)", "detail": ["Match Group %s" % sftp.GROUP]})  # the host's, as web_config
    diff = [{"before_header": sftp.SSHD_DROPIN, "after_header": sftp.SSHD_DROPIN, "before": before or "", "after": dropin}] \
        if sshd_changed else []
    changed = bool(steps or sshd_changed or (chroot_mode is not None and chroot_mode != sftp.CHROOT_MODE))
    if module.check_mode or not changed:
        for change in changes:
            if change["client"] in later:
                change["detail"].append("once web_sites makes its user")
        return dict(changed=changed, changes=changes, sshd_changed=sshd_changed, diff=diff)
    apply(module, steps, dropin if sshd_changed else None, chroot_mode)
    return dict(changed=True, changes=changes, sshd_changed=sshd_changed, diff=diff)


def apply(module, steps, dropin, chroot_mode):
    """The files first (drop-in and keys, checked with sshd -t, put back on failure), then the group, the passwords
    and the chroot's mode."""
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
        return None if rc == 0 else "sshd -t failed: %s" % (err or out).strip()

    failure = tx.run(change, check)
    if failure:
        module.fail_json(msg="%s; the previous configuration was put back" % failure)
    if chroot_mode is not None and chroot_mode != sftp.CHROOT_MODE:
        os.chmod(sftp.CHROOT, sftp.CHROOT_MODE)
    try:
        grp.getgrnam(sftp.GROUP)
    except KeyError:
        module.run_command(["groupadd", "--system", "--", sftp.GROUP], check_rc=True)
    for step, cid, argument in steps:
        if step == "add_member":
            module.run_command(["gpasswd", "--add", cid, sftp.GROUP], check_rc=True)
        elif step == "remove_member":
            module.run_command(["gpasswd", "--delete", cid, sftp.GROUP], check_rc=True)
        elif step == "set_password":
            # On stdin, never on a command line (ps shows those); -e: the field is already a hash.
            module.run_command(["chpasswd", "--encrypted"], data="%s:%s" % (cid, argument), check_rc=True)


if __name__ == "__main__":
    main()
