# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash the mailbox passwords on the controller, then run the mail_server module on the mail host.

The host's current hashes are read first (a no_log call of the same module with read_hashes=true): a hash is
kept while its password still verifies, so that a rerun changes nothing. The module is only given hashes.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.mail.passwords import HAS_PASSLIB, hashed_mailboxes

MODULE = "fracto.hosting.mail_server"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        mailboxes = args.get("mailboxes") or []
        if any(b.get("password") is not None and not b.get("password_hash") for b in mailboxes):
            if not HAS_PASSLIB:
                raise AnsibleActionFail("fracto.hosting.mail_server needs libpass (passlib) on the controller to hash passwords")
            current = self._execute_module(module_name=MODULE, module_args=dict(hostname=args.get("hostname", ""),
                                           clients=args.get("clients") or [], read_hashes=True), task_vars=task_vars)
            if current.get("failed"):
                result.update(failed=True, msg="reading the current hashes failed: %s" % current.get("msg", ""))
                return result
            args["mailboxes"] = hashed_mailboxes(mailboxes, current.get("hashes") or {})
        args.pop("read_hashes", None)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
