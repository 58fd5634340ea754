# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The no_log audit (issue 12): every option of every module whose name says it carries a secret is no_log.

Each module under plugins/modules/ is imported and its main() run until it builds its AnsibleModule, whose
argument_spec is captured (nothing else runs). The spec is walked recursively (suboptions of dicts and lists of
dicts); an option under a no_log parent is covered by it.

The rule (precise, by the tokens of the option name split on "_"):
- SECRET_TOKENS (password, passwd, passphrase, pw, pwd, secret, token, credential, private, hash, salt, and their
  plurals) make an option secret;
- "key"/"keys" make it secret unless the option is a path (a path to a key is not the key), or a later token says it
  is about the key, not the key itself (KEY_QUALIFIERS: key_type, key_size, key_file, ...);
- an option whose values are a fixed choice list, or of type bool/int/float, never carries a secret.
Some options carry secrets under a name that does not say so; MUST_BE_NO_LOG names them. ALLOWLIST names the false
positives of the rule, each with why.

The walk cannot see inside an opaque option (a dict, a list of dicts or a raw value without suboptions): each such
option must be no_log or reviewed in REVIEWED_OPAQUE, with what it carries; a new opaque option fails the audit until
someone has looked at it.
"""

from __future__ import annotations

import importlib
import pathlib

import pytest
import yaml
from ansible.module_utils import basic

MODULES_DIR = pathlib.Path(__file__).resolve().parents[3] / "plugins" / "modules"
PACKAGE = "ansible_collections.fracto.hosting.plugins.modules."
ACTIONS = "ansible_collections.fracto.hosting.plugins.action."
MODULE_NAMES = sorted(p.stem for p in MODULES_DIR.glob("*.py") if not p.stem.startswith("_"))

SECRET_TOKENS = {"password", "passwords", "passwd", "passphrase", "pw", "pwd", "secret", "secrets", "token", "tokens",
                 "credential", "credentials", "private", "hash", "hashes", "salt", "salts"}
KEY_TOKENS = {"key", "keys"}
KEY_QUALIFIERS = {"type", "size", "file", "path", "name", "id", "fingerprint", "algorithm", "usage", "bits"}
PUBLIC_TYPES = {"bool", "int", "float"}

# Options whose name does not look secret but whose values carry one.
MUST_BE_NO_LOG = {
    ("backup_jobs", "jobs"),  # a REST repository URL may carry its password (rest:https://user:password@host/)
}

# False positives of the rule, each with the reason it carries no secret: (module, option path).
ALLOWLIST = {
    # (passwords, ssh_key, db_password, database.password, certificates[].key are all no_log)
    ("sftp_access", "users[].keys"),  # SSH public keys (whole lines without options): public by nature, shown in the diff
}

# Opaque options (no suboptions) reviewed as carrying no secret: (module, option path) -> what they carry.
REVIEWED_OPAQUE = {
    ("backup_jobs", "databases"): "{name, client} of the host's databases (the role keeps only those keys)",
    ("backup_jobs", "mailboxes"): "{address, client} of the host's mailboxes (the role keeps only those keys)",
    ("gdpr_report", "state"): "fracto_state_public: the resolved state without secrets (controller side)",
    ("gdpr_report", "evidence"): "gdpr_evidence results: job records (redacted repositories) and mail settings",
    ("gdpr_report", "jobs"): "host -> job names (<client>.<side>)",
    ("gdpr_report", "addresses"): "name -> IPv4 address overrides of the probes",
    ("host_state", "objects"): "the ledger objects of ledger.host_objects (no secret by construction, URLs redacted)",
    ("imap_migrate", "mailboxes"): "mail_migrations without their secrets (address, client, from, port, user, master_user)",
    ("imap_migrate", "destination"): "{host, port, tls, verify} of the destination server",
    ("imap_migrate", "source_addresses"): "from -> address of the source hosts",
    ("mail_server", "domains"): "{domain, client}",
    ("mail_server", "aliases"): "{address, targets, client}",
    ("mail_server", "mail_names"): "{name, branding, clients}",
    ("mail_server", "webmail_names"): "{name, branding, clients}",
    ("mail_server", "certificates"): "{id, names} of stored certificates (the keys stay in the store)",
    ("mail_server", "postfix_settings"): "platform main.cf settings (platform inventory)",
    ("mail_server", "templates"): "Jinja2 sources of the role's configuration templates (the role's templates/ files)",
    ("mail_server", "ip_bindings"): "{address, sides, clients, helo}",
    ("config_files", "sets"): "{service, action, check, files: [{dest, content or src, mode, owner, group}]}: the role's own templates, no secret",
    ("mail_server", "send_limits"): "{client, messages_per_hour, client_messages_per_hour, recipients_per_message}",
    ("mail_server", "mta_sts"): "{domain, client, mx}: a mail domain, its client, the MX name its policy names",
    ("mariadb_databases", "databases"): "{name, user, client} (passwords apart, in the no_log passwords)",
    ("migration_report", "sites"): "site_* results of a migration (no secret: site_config masks its diff)",
    ("plan_report", "state"): "fracto_state_public: the resolved state without secrets",
    ("plan_report", "hosts"): "host names",
    ("plan_report", "nameservers"): "addresses of DNS servers",
    ("ip_pool_info", "nameservers"): "addresses of DNS servers",
    ("web_sites", "sites"): "vhosts (names, docroots, php, tls, certificate ids)",
    ("web_sites", "users"): "{name, client, home, log_retention_days, disk_quota, databases (names)} of the clients' system users",
    ("client_usage", "users"): "the same system users: quotas in bytes and database names, no password",
    ("web_sites", "php_pools"): "{client, user, version, name, php_ini (the package's whitelisted PHP settings)}",
    ("web_sites", "templates"): "Jinja2 sources of the role's configuration templates (the role's templates/ files)",
    ("sftp_access", "templates"): "the Jinja2 source of the role's sshd drop-in template (the role's templates/ file)",
    ("web_sites", "php_ini"): "the platform operator's PHP ini settings of every pool (platform inventory)",
}


class Captured(Exception):
    """Raised by the patched AnsibleModule.__init__ once the spec is known."""


def _documented_spec(module):
    """The options of a module's DOCUMENTATION as an argument_spec (no_log cannot be documented: a secret-looking
    option of an action-only module fails the audit until its action plugin declares an ARGUMENT_SPEC)."""
    def convert(options):
        return {name: {"type": o.get("type", "str"), "choices": o.get("choices"), "no_log": False,
                       "options": convert(o["suboptions"]) if o.get("suboptions") else None}
                for name, o in (options or {}).items()}
    return convert(yaml.safe_load(module.DOCUMENTATION).get("options"))


def argument_spec(monkeypatch, name):
    """The argument_spec of a module: captured from its main(), or, for an action-only module (its documentation
    lives in plugins/modules/, its code in plugins/action/), the action plugin's ARGUMENT_SPEC or its documentation."""
    module = importlib.import_module(PACKAGE + name)
    if not hasattr(module, "main"):
        try:
            action = importlib.import_module(ACTIONS + name)
        except ImportError:
            action = None
        if action is not None and isinstance(getattr(action, "ARGUMENT_SPEC", None), dict):
            return action.ARGUMENT_SPEC
        return _documented_spec(module)
    captured = {}

    def capture(self, argument_spec=None, *args, **kwargs):
        captured["spec"] = argument_spec or {}
        raise Captured()

    monkeypatch.setattr(basic.AnsibleModule, "__init__", capture)
    with pytest.raises(Captured):
        module.main()
    return captured["spec"]


def looks_secret(name, opts):
    if opts.get("choices") or opts.get("type") in PUBLIC_TYPES:
        return False
    tokens = name.lower().split("_")
    if SECRET_TOKENS & set(tokens):
        return True
    for index, token in enumerate(tokens):
        if token in KEY_TOKENS:
            if opts.get("type") == "path" or KEY_QUALIFIERS & set(tokens[index + 1:]):
                continue
            return True
    return False


def opaque(opts):
    """A value the spec does not describe: a dict or raw value, or a list of them (or of anything), without suboptions."""
    if opts.get("options"):
        return False
    kind = opts.get("type", "str")
    return kind in ("dict", "raw", "jsonarg", "json") or (kind == "list" and opts.get("elements") in (None, "dict", "raw"))


def missing_no_log(module_name, spec, parent=""):
    """Option paths (a.b[].c) without no_log=True that look secret, are listed in MUST_BE_NO_LOG, or are opaque and
    not reviewed (marked "(opaque, not reviewed)")."""
    found = []
    for name, opts in sorted(spec.items()):
        opts = opts or {}
        path = parent + name
        if opts.get("no_log"):
            continue  # covered, and so is everything under it
        if (module_name, path) in MUST_BE_NO_LOG or (looks_secret(name, opts) and (module_name, path) not in ALLOWLIST):
            found.append(path)
        elif opaque(opts) and (module_name, path) not in REVIEWED_OPAQUE:
            found.append(path + " (opaque, not reviewed)")
        if opts.get("options"):
            suffix = "[]." if opts.get("type") == "list" else "."
            found.extend(missing_no_log(module_name, opts["options"], path + suffix))
    return found


# --- the rule itself ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, opts, secret", [
    ("password", {"type": "str"}, True),
    ("db_password", {"type": "str"}, True),
    ("master_passwd", {"type": "str"}, True),
    ("password_hash", {"type": "str"}, True),
    ("api_token", {"type": "str"}, True),
    ("ssh_key", {"type": "str"}, True),
    ("private_key", {"type": "str"}, True),
    ("keys", {"type": "list"}, True),
    ("key", {"type": "path"}, False),            # a path to a key file
    ("key_type", {"type": "str"}, False),        # about the key, not the key
    ("ssh_key_file", {"type": "str"}, False),
    ("update_password", {"type": "str", "choices": ["always", "on_create"]}, False),
    ("hash_passwords", {"type": "bool"}, False),
    ("keep", {"type": "dict"}, False),           # "keep" is not "key"
    ("monkey", {"type": "str"}, False),          # tokens, not substrings
    ("known_hosts", {"type": "str"}, False),
])
def test_the_rule(name, opts, secret):
    assert looks_secret(name, opts) is secret


def test_suboptions_of_lists_of_dicts_are_walked_and_a_no_log_parent_covers_them():
    spec = {"users": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str"}, "password": {"type": "str"},
        "keys": {"type": "dict", "no_log": True, "options": {"private": {"type": "str"}}},
        "groups": {"type": "list", "elements": "dict", "options": {"token": {"type": "str"}}}}}}
    assert missing_no_log("m", spec) == ["users[].groups[].token", "users[].password"]


def test_an_opaque_option_must_be_no_log_or_reviewed():
    spec = {"sites": {"type": "list", "elements": "dict"}, "names": {"type": "list", "elements": "str"},
            "secret_stuff": {"type": "dict", "no_log": True}}
    assert missing_no_log("m", spec) == ["sites (opaque, not reviewed)"]
    assert missing_no_log("backup_jobs", {"jobs": {"type": "list", "elements": "dict"}}) == ["jobs"]


# --- every module ------------------------------------------------------------------------------------------------

def test_every_module_is_audited():
    assert len(MODULE_NAMES) >= 20 and "backup_jobs" in MODULE_NAMES


@pytest.mark.parametrize("module_name", MODULE_NAMES)
def test_every_secret_option_is_no_log(monkeypatch, module_name):
    spec = argument_spec(monkeypatch, module_name)
    assert spec, "%s: no argument_spec captured" % module_name
    missing = missing_no_log(module_name, spec)
    assert not missing, "%s: options that carry a secret without no_log=True: %s" % (module_name, ", ".join(missing))


def test_the_allowlist_has_no_stale_entry(monkeypatch):
    for module_name, path in sorted(set(ALLOWLIST) | set(REVIEWED_OPAQUE) | MUST_BE_NO_LOG):
        spec = argument_spec(monkeypatch, module_name)
        node = {"options": spec}
        for part in path.replace("[]", "").split("."):
            node = (node.get("options") or {}).get(part)
            assert node is not None, "ALLOWLIST: %s has no option %s" % (module_name, path)
