#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: config_files
short_description: Write a role's own configuration files, check them with each server's checker, load them, in one call
description:
  - Each set is one service's files (rendered on the controller by the action plugin from the role's templates), the
    commands that check the service's whole configuration, and how the service takes new files (reload or restart).
  - Every changed file of every set is written atomically; the changed sets' checks run; when one fails, every file is
    put back as it was (or removed) and the module fails naming the checker's complaint, the services untouched. Then
    the changed sets' services reload (or restart); a failed reload puts the files back and loads them again.
  - O(started) services are read in one C(systemctl show); only those stopped or disabled are started and enabled.
  - One round trip for what a role did with a template task per file, a check and a reload per service.
version_added: "1.0.0"
author:
  - fracto.hosting founding engineers (!UNKNOWN)
options:
  sets:
    description:
      - The services' file sets, in order. Each has C(service) (a systemd unit), C(action) (C(reload), the default,
        or C(restart)), C(check) (commands, each a list of arguments, run with no shell) and C(files) (C(dest), an
        absolute path; C(src), a template the action plugin renders on the controller, or C(content); C(mode),
        default C(0644); C(owner) and C(group), default C(root)) and C(absent) (absolute paths of files the service
        must no longer read, removed when present and put back on a failure; the set is checked and loaded as for a write).
    type: list
    elements: dict
    default: []
  started:
    description: Services to keep running and enabled (started and enabled only when they are not; check mode reports them).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - fracto.hosting.host_files
notes:
  - Runs under the host lock of fracto.hosting's writers (one writer at a time on a host).
"""

EXAMPLES = r"""
- name: Write, check and load rspamd's and fail2ban's files, in one call
  fracto.hosting.config_files:
    sets:
      - service: rspamd
        check: [[rspamadm, configtest]]
        files:
          - {src: "{{ role_path }}/templates/etc/rspamd/local.d/actions.conf.j2", dest: /etc/rspamd/local.d/actions.conf}
      - service: fail2ban
        check: [[fail2ban-client, --test]]
        files:
          - {src: "{{ role_path }}/templates/etc/fail2ban/jail.d/fracto.local.j2", dest: /etc/fail2ban/jail.d/fracto.local}
    started: [rspamd, fail2ban]
"""

RETURN = r"""
changes:
  description:
    - One line per file written (C(write) the path, then why - content, mode or owner), per file removed (C(remove)
      the path) and per service started (C(start) the service).
  returned: always
  type: list
  elements: str
loaded:
  description: The services reloaded or restarted on their new files.
  returned: always
  type: list
  elements: str
started:
  description: The services started and enabled (they were stopped or disabled).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import config_files as cf
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked

REMOVED = "(this file is removed; its content is not shown)\n"


def converge(module, sets, started):
    run = module.run_command
    changes = cf.plan(sets)
    try:
        stopped = cf.to_start(run, started)
    except cf.ConfigError as exc:
        module.fail_json(msg=str(exc), changes=[])
    lines = [("remove %s" if why == "absent" else "write %%s: %s" % why) % item["dest"]
             for _entry, files in changes for item, _before, why in files]
    lines += ["start %s" % service for service in stopped]
    result = dict(changed=bool(lines), changes=lines, loaded=[], started=stopped if module.check_mode else [])
    if module._diff:
        # A removed file shows as removed, never its content (it may hold a secret: the former master user's hash).
        result["diff"] = [dict(before_header=item["dest"], after_header=item["dest"],
                               before=REMOVED if why == "absent" else before or "", after=item["content"] or "")
                          for _entry, files in changes for item, before, why in files]
    if module.check_mode or not lines:
        return result
    loaded, failure = cf.apply(changes, run, write_atomic)
    if failure:
        module.fail_json(msg=failure, changes=lines)
    result["loaded"] = loaded
    failure = cf.start(run, stopped)
    if failure:
        module.fail_json(msg=failure, changes=lines, loaded=loaded)
    result["started"] = stopped
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sets=dict(type="list", elements="dict", default=[]),
            started=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        sets = cf.checked_sets(module.params["sets"])
    except cf.ConfigError as exc:
        module.fail_json(msg="refused, nothing was changed: %s" % exc, changes=[])
    started = module.params["started"]
    if module.check_mode:
        module.exit_json(**converge(module, sets, started))
    module.exit_json(**run_locked(module, "fracto.hosting.config_files", lambda: converge(module, sets, started)))


if __name__ == "__main__":
    main()
