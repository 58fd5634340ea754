# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash the clients' SFTP passwords on the controller, then run the sftp_access module on the web host.

The host's current shadow hashes are read first (the same module with read_hashes=true, whose result is no_log): a
hash is kept while its password still verifies, so that a rerun changes nothing. The module is only given hashes.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.mail.passwords import HAS_PASSLIB, hashed_mailboxes

MODULE = "fracto.hosting.sftp_access"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        users = args.get("users") or []
        if any(u.get("password") is not None and not u.get("password_hash") for u in users):
            if not HAS_PASSLIB:
                raise AnsibleActionFail("fracto.hosting.sftp_access needs libpass (passlib) on the controller to hash passwords")
            current = self._execute_module(module_name=MODULE, module_args=dict(
                users=[{"client": u.get("client")} for u in users], clients=args.get("clients") or [],
                reseller=args.get("reseller", ""), templates={}, read_hashes=True), task_vars=task_vars)
            if current.get("failed"):
                result.update(failed=True, msg="reading the current hashes failed: %s" % current.get("msg", ""))
                return result
            args["users"], _fingerprints = hashed_mailboxes(users, current.get("hashes") or {}, id_key="client")
        args.pop("read_hashes", None)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
