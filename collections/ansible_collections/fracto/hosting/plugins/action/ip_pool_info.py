# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dedicated IPv4 pool at a glance, on the controller (no host is contacted)."""

from __future__ import annotations

import json
import os
import tempfile

from ansible_collections.fracto.hosting.plugins.action.client_state import ActionModule as ClientStateAction
from ansible_collections.fracto.hosting.plugins.module_utils.state.pool import pool_table, pool_view


class ActionModule(ClientStateAction):
    _VALID_ARGS = frozenset(("dest", "show_free"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ClientStateAction, self).run(tmp, task_vars)
        del tmp
        model = self._validated_model(task_vars, result)
        if model is None:
            return result
        view = pool_view(model)
        text = pool_table(view, show_free=bool(self._task.args.get("show_free", False)))
        dest = self._task.args.get("dest")
        if dest:
            dest = os.path.abspath(os.path.expanduser(str(dest)))
            os.makedirs(dest, exist_ok=True)
            path = os.path.join(dest, "ip-pool-%s.json" % view["reseller"])
            fd, tmp_path = tempfile.mkstemp(prefix=".ip-pool-", dir=dest)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(view, handle, indent=2, sort_keys=True)
            os.replace(tmp_path, path)
            result["path"] = path
            text += "\nwritten to %s" % path
        for line in text.splitlines():
            self._display.display(line)
        result.update(changed=False, pool=view, msg=text)
        return result
