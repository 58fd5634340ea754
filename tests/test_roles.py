"""A role that calls a module again from a handler (after certificates are installed) must call it with the same
arguments: a handler that leaves one out takes that part of the configuration away on every renewal."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"


def module_calls(path, module):
    return [task[module] for task in yaml.safe_load(path.read_text()) or [] if module in task]


@pytest.mark.parametrize("role, module", [("fracto_web", "fracto.hosting.web_sites"),
                                          ("fracto_mail", "fracto.hosting.mail_server")])
def test_the_handler_calls_the_module_with_the_task_arguments(role, module):
    tasks = module_calls(ROLES / role / "tasks" / "main.yml", module)
    handlers = module_calls(ROLES / role / "handlers" / "main.yml", module)
    assert len(tasks) == 1 and len(handlers) == 1
    assert handlers[0] == tasks[0]
