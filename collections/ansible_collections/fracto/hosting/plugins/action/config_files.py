# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the templates of config_files' sets on the controller, with the task's variables, then run the module.

A file's C(src) is a template (an absolute path, or one under the role's templates/ folder), rendered as
ansible.builtin.template renders it (the task's variables, ansible_managed); the module gets its C(content).
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

MODULE = "fracto.hosting.config_files"
MANAGED = "Ansible managed"  # ansible.builtin.template's default text: files it wrote before stay as they are


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _render(self, src, task_vars):
        try:
            path = self._find_needle("templates", src)
        except AnsibleActionFail as exc:
            raise AnsibleActionFail("config_files: template %s not found: %s" % (src, exc)) from None
        source = trust_as_template(self._loader.get_text_file_contents(path))
        templar = self._templar.copy_with_new_env(available_variables=dict({"ansible_managed": MANAGED}, **task_vars))
        # ansible.builtin.template's defaults: trim_blocks on, lstrip_blocks off, LF line ends.
        return templar.template(source, escape_backslashes=False,
                                overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        sets = []
        for entry in args.get("sets") or []:
            entry = dict(entry)
            files = []
            for item in entry.get("files") or []:
                item = dict(item)
                if "src" in item:
                    item["content"] = self._render(item.pop("src"), task_vars)
                files.append(item)
            entry["files"] = files
            sets.append(entry)
        args["sets"] = sets
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
