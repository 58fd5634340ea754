# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The default templates of the roles fracto_web and fracto_mail, found the way the roles find them: the module's call
site (tasks/sites.yml, tasks/server.yml) reads, for each key of its `templates` option, the file a variable of the
role's defaults names ("{{ role_path }}/templates/..."), so that a test of the rendering also tests the roles' wiring."""

from __future__ import annotations

import pathlib
import re

import yaml
from ansible_collections.fracto.hosting.plugins.module_utils.render import Templates

HERE = pathlib.Path(__file__).resolve()
REPO = next(p for p in HERE.parents if (p / "roles" / "fracto_web").is_dir())
LOOKUP = re.compile(r"\{\{ lookup\('ansible\.builtin\.file', (?P<var>[a-z_]+), rstrip=false\) \}\}")


CALL_SITES = {"fracto_web": ("sites.yml", "fracto.hosting.web_sites"), "fracto_mail": ("server.yml", "fracto.hosting.mail_server")}


def template_paths(role):
    """{module key: path of the role's default template}: the module's call site and roles/<role>/defaults/main.yml."""
    role_dir = REPO / "roles" / role
    defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text(encoding="utf-8"))
    task_file, module = CALL_SITES[role]
    call = next(t[module] for t in yaml.safe_load((role_dir / "tasks" / task_file).read_text(encoding="utf-8")) if module in t)
    paths = {}
    for key, expression in call["templates"].items():
        match = LOOKUP.fullmatch(expression)
        assert match, "templates.%s of %s must read one template variable with rstrip=false: %r" % (key, module, expression)
        default = defaults[match.group("var")]
        assert default.startswith("{{ role_path }}/templates/"), default
        paths[key] = role_dir / default[len("{{ role_path }}/"):]
    return paths


def sources(role):
    return {key: path.read_text(encoding="utf-8") for key, path in template_paths(role).items()}


def web_templates():
    return Templates(sources("fracto_web"))


def mail_templates():
    return Templates(sources("fracto_mail"))
