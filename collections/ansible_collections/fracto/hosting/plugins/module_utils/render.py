# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the Jinja2 templates of the configuration files a module writes (nginx, PHP-FPM, Postfix, Dovecot, Roundcube),
and of the HTML pages of the GDPR report (on the controller, with autoescape on).

The roles read each template's source on the controller (their defaults say where, an operator may point a variable
at a file of their own) and pass the sources to the module in its `templates` option; the module renders them here,
on the host, from a context of values it has already checked against their whitelists. The template sources are the
platform operator's (role variables: a reseller's state can never set them), so a template is code of the platform;
the sandbox is defence in depth, not the trust boundary. Every template is rendered with the same settings, the ones
the roles' templates are written for:

- `StrictUndefined`: a name the context does not have fails the run (naming the template), never renders as '';
- `trim_blocks` and `lstrip_blocks`: a line that holds only a `{% ... %}` tag leaves nothing in the output;
- `keep_trailing_newline`: the file ends as the template does; `autoescape` off (these are not HTML), on for the
  HTML pages (`Templates(..., autoescape=True)`): every value there comes from a reseller's state or a host.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    from jinja2 import StrictUndefined, TemplateError
    from jinja2.sandbox import SandboxedEnvironment
except ImportError:  # the host needs python3-jinja2 (fracto_base installs it); the modules say so
    HAS_JINJA2 = False
    JINJA2_IMPORT_ERROR = traceback.format_exc()
    TemplateError = Exception  # only caught, never raised, without jinja2
else:
    HAS_JINJA2 = True
    JINJA2_IMPORT_ERROR = None

# What missing_required_lib() names when jinja2 cannot be imported on the host.
JINJA2_LIBRARY = "jinja2 (Debian: python3-jinja2)"


class RenderError(ValueError):
    """A template that is missing, does not compile or fails to render; str() names the template and the error."""

    def __init__(self, name, message):
        super().__init__("template %s: %s" % (name, message))
        self.name = name


def environment(autoescape=False):
    """The sandboxed environment every template of the platform is rendered in (autoescape: for HTML)."""
    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=autoescape,
                                trim_blocks=True, lstrip_blocks=True)


class Templates:
    """The template sources a module was given ({key: source}), each compiled once, on first use."""

    def __init__(self, sources, option="templates", autoescape=False):
        if not isinstance(sources, dict):
            raise RenderError(option, "must be a mapping of template name to its source")
        self.sources = dict(sources)
        self.option = option
        self.autoescape = autoescape
        self._env = None
        self._compiled = {}

    def missing(self, keys):
        """The keys of keys that have no source (sorted)."""
        return sorted(k for k in keys if not isinstance(self.sources.get(k), str) or not self.sources[k])

    def compile(self, key):
        """Template key compiled (once); raises RenderError naming `<option>.<key>` when missing or broken."""
        name = "%s.%s" % (self.option, key)
        if not HAS_JINJA2:
            raise RenderError(name, "the Python library %s is not installed on the host" % JINJA2_LIBRARY)
        template = self._compiled.get(key)
        if template is None:
            source = self.sources.get(key)
            if not isinstance(source, str) or not source:
                raise RenderError(name, "is missing (the role passes the source of each template it ships)")
            if self._env is None:
                self._env = environment(self.autoescape)
            try:
                template = self._env.from_string(source)
            except TemplateError as exc:
                raise RenderError(name, "does not compile: %s" % exc) from None
            self._compiled[key] = template
        return template

    def render(self, key, context):
        """The text of template key rendered with context; raises RenderError naming `<option>.<key>`."""
        name = "%s.%s" % (self.option, key)
        template = self.compile(key)
        try:
            return template.render(context)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(name, "%s: %s" % (type(exc).__name__, exc)) from None


def require(module, sources, keys, role):
    """Fail the module, before it does anything, without jinja2 on the host or without one of the templates keys
    (role: the role that passes them, named in the message)."""
    if not HAS_JINJA2:
        module.fail_json(msg=missing_required_lib(JINJA2_LIBRARY) + "; nothing was changed", exception=JINJA2_IMPORT_ERROR)
    try:
        missing = Templates(sources).missing(keys)
    except RenderError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    if missing:
        module.fail_json(msg="templates.%s: missing (the role %s passes the source of each template of its templates/ "
                             "directory); nothing was changed" % (", templates.".join(missing), role))
