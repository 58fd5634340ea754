# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the reseller state on the controller and resolve it per host (no host is contacted)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import host_objects
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.origin import (
    STATE_KEY,
    check_identity,
    check_reseller_source,
    is_reseller_source,
    read_source,
    reseller_state,
    source_name,
    with_secrets,
)
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from ansible_collections.fracto.hosting.plugins.vars import reseller_guard

PLATFORM_VARIABLES = ("fracto_platform", "fracto_ip_pool", "fracto_legacy_accounts")


def reseller_name(variables):
    reseller = variables.get("fracto_reseller")
    return reseller.get("name", "?") if isinstance(reseller, dict) else "?"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("resolve",))
    _requires_connection = False

    def _template(self, problems, path, value):
        try:
            return self._templar.template(value)
        except AnsibleError as exc:
            # The message names the undefined variable or the broken expression, never a value.
            problems.error(path, "cannot be templated: %s" % str(exc.message if hasattr(exc, "message") else exc).splitlines()[0])
            return None

    def _variables(self, task_vars, problems, reseller):
        """The platform's state variables templated (trusted), the reseller's as data: its secret references are
        replaced in Python, nothing of it reaches a template engine."""
        variables = {}
        for name in PLATFORM_VARIABLES:
            if name in task_vars:
                variables[name] = self._template(problems, name, task_vars[name])
        extra = load_extra_vars(self._loader)
        state = reseller_state(reseller, extra)
        # Checked again once secret references are replaced: the name binds the state to its inventory directory.
        check_identity(reseller["path"], state.get("fracto_reseller"), source_name(reseller), problems)
        variables.update(state)
        # The operator's extra vars (-e) override a state variable for this run (a what-if plan); as data, with the
        # reseller's secret references replaced like in its files.
        for name in sorted(extra):
            if STATE_KEY.fullmatch(name):
                variables[name] = with_secrets(extra[name], reseller, extra)
        return variables

    def _reseller_source(self, task_vars, problems):
        """The reseller's state directory (-e fracto_reseller_dir=<dir>), read and checked as data (origin.py)."""
        directory = task_vars.get("fracto_reseller_dir")
        if not isinstance(directory, str) or not directory or not os.path.isdir(directory):
            problems.error("fracto_reseller_dir", "must be the reseller's state directory, given by the operator: "
                                                  "-e fracto_reseller_dir=inventories/<reseller> (got %s)"
                           % ("nothing" if not directory else "a path that is not a directory"))
            return None
        directory = os.path.abspath(directory)  # the loader would read a relative path from the playbook's directory
        # Read afresh (cache none) and never trusted as a template; links, special and large files are not read.
        source = read_source(directory, lambda name: self._loader.load_from_file(name, cache="none", unsafe=True),
                             reseller_guard.ignored)
        # The platform's names: the inventory's and the play's, not the operator's -e (it may override a secret).
        check_reseller_source(source, set(task_vars) - set(load_extra_vars(self._loader)), problems)
        if not is_reseller_source(source):
            problems.error(source["path"], "defines no reseller state (fracto_reseller, fracto_packages, fracto_clients)")
        return source

    def _validated_model(self, task_vars, result):
        """Template and validate the state; on errors, fill result as failed and return None."""
        problems = Problems()
        reseller = self._reseller_source(task_vars, problems)
        if problems.errors:  # a state directory that breaks the rules is not even read into the state
            result.update(failed=True, errors=problems.errors,
                          msg="the reseller's state directory is refused (%d errors):\n  - %s" % (len(problems.errors), "\n  - ".join(problems.errors)))
            return None
        variables = self._variables(task_vars, problems, reseller)
        groups = task_vars.get("groups", {})
        inventory = {"hosts": list(groups.get("all", [])), "groups": {k: list(v) for k, v in groups.items()}}
        model, found = validate_state(variables, inventory)
        problems.errors.extend(found.errors)
        problems.warnings.extend(found.warnings)
        if problems.warnings:
            result["warnings"] = list(problems.warnings)
        if problems.errors:
            result.update(failed=True, errors=problems.errors,
                          msg="the state of reseller %s is invalid (%d errors):\n  - %s"
                          % (reseller_name(variables), len(problems.errors), "\n  - ".join(problems.errors)))
            return None
        return model

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        resolve = self._task.args.get("resolve", False)
        if not isinstance(resolve, bool):
            return dict(result, failed=True, msg="resolve: must be true or false")
        if resolve and not self._task.no_log:
            return dict(result, failed=True, msg="resolve: true returns secrets (passwords, keys); set no_log: true on this task")

        model = self._validated_model(task_vars, result)
        if model is None:
            return result
        state = resolve_state(model)
        for host_state in state["hosts"].values():
            host_state["ledger"] = host_objects(host_state)
        names = sum(len(c["names"]) + len(c["mail_names"]) + len(c["webmail_names"]) for c in state["clients"].values())
        result.update(
            changed=False, clients=sorted(state["clients"]), hosts=sorted(state["hosts"]),
            msg="the state of reseller %s is valid: %d clients, %d names, %d hosts"
            % (state["reseller"].get("name"), len(state["clients"]), names, len(state["hosts"])),
        )
        public = {k: state[k] for k in ("reseller", "platform", "clients", "dns", "mail_dns")}
        result["ansible_facts"] = {"fracto_state_public": public}
        if resolve:
            result["ansible_facts"]["fracto_state"] = state
        return result
