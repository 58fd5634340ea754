# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins that hash passwords on the controller before their module runs (mail_server, sftp_access).

The host's current hashes are read first (the same module with read_hashes=true; its result is no_log): a hash is kept
while its password still verifies, so that a rerun changes nothing. The module is only ever given hashes.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.mail.passwords import HAS_PASSLIB, hashed_mailboxes


class PasswordHashingAction(ActionBase):
    """run() hashes the passwords of args[ENTRIES] (entries named by ID_KEY), then runs MODULE with the hashes."""

    TRANSFERS_FILES = False
    MODULE = ""
    ENTRIES = ""
    ID_KEY = ""

    def prepare(self, args):
        """args as the module takes them (an option of the action alone is taken out here)."""
        return args

    def read_hashes_args(self, args):
        """The module's arguments of the call that reads the current hashes."""
        raise NotImplementedError

    def hashed(self, entries, current):
        """entries with their password_hash set and no password; current: the reading call's result."""
        return hashed_mailboxes(entries, current.get("hashes") or {}, id_key=self.ID_KEY)[0]

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self.prepare(dict(self._task.args))
        entries = args.get(self.ENTRIES) or []
        if any(e.get("password") is not None and not e.get("password_hash") for e in entries):
            if not HAS_PASSLIB:
                raise AnsibleActionFail("%s needs libpass (passlib) on the controller to hash passwords" % self.MODULE)
            # _ansible_no_log: the hashes read never reach a log or a callback, whatever the verbosity
            reading = dict(self.read_hashes_args(args), _ansible_no_log=True)
            current = self._execute_module(module_name=self.MODULE, module_args=reading, task_vars=task_vars)
            if current.get("failed"):
                result.update(failed=True, msg="reading the current hashes failed: %s" % current.get("msg", ""))
                return result
            args[self.ENTRIES] = self.hashed(entries, current)
        args.pop("read_hashes", None)
        result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        return result
