# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the site migration modules share (module_utils/migrate/step.py) against its doc fragment (fracto.hosting.migrate)."""

from __future__ import annotations

import shlex

import yaml
from ansible_collections.fracto.hosting.plugins.doc_fragments.migrate import ModuleDocFragment
from ansible_collections.fracto.hosting.plugins.module_utils.migrate import rsync, step


def documented(fragment):
    options = yaml.safe_load(fragment)["options"]
    return {name: (o["type"], o.get("required", False), o.get("default")) for name, o in options.items()}


def specified(spec):
    return {name: (o["type"], o.get("required", False), o.get("default")) for name, o in spec.items()}


def test_shared_options_are_the_documented_ones():
    assert specified(step.migrate_argument_spec(ssh=True)) == documented(ModuleDocFragment.SSH)
    assert specified(step.migrate_argument_spec(owner=True)) == documented(ModuleDocFragment.OWNER)
    assert specified(step.migrate_argument_spec(client=True)) == documented(ModuleDocFragment.DOCUMENTATION)


def test_own_options_are_kept_and_each_call_gets_a_new_spec():
    own = {"path": {"type": "path", "required": True}}
    spec = step.migrate_argument_spec(ssh=True, owner=True, client=True, options=own)
    assert sorted(spec) == ["client", "group", "key", "known_hosts", "owner", "path", "source"]
    assert spec["key"]["no_log"] is False  # a path to a key, not a secret: its value may be logged
    spec["source"]["required"] = False
    assert step.migrate_argument_spec(ssh=True)["source"]["required"] is True
    assert step.migrate_argument_spec() == {}


def test_remote_shell_runs_the_command_on_the_source_over_the_migration_ssh():
    params = {"source": "root@legacy01.fracto.test", "key": "/root/.ssh/k y", "known_hosts": "/root/.ssh/kh"}
    command = "mysqldump --single-transaction -- 'c1_db'"
    line = step.remote_shell(params, command)
    assert shlex.split(line) == rsync.ssh_command("/root/.ssh/k y", "/root/.ssh/kh") + ["root@legacy01.fracto.test", command]
