# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state's variables, their keys and defaults, and the inventory groups its hosts belong to.

Shared by every part of the validation (model.py and the checks it is made of); no check lives here.
"""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.mail import send_limits
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dkim import DEFAULT_KEY_SET, KEY_SETS
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import DEFAULT_DMARC_POLICY, DMARC_POLICIES
from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import StatePath, type_name

WEB_GROUP = "fracto_web"
MAIL_GROUP = "fracto_mail"
LEGACY_GROUP = "fracto_legacy"     # the old platform: the only hosts a migration may read from
CLIENT_SOURCES = re.compile(r"fracto_clients(__[A-Za-z0-9_]+)?")
STATE_VARIABLES = ("fracto_platform", "fracto_ip_pool", "fracto_reseller", "fracto_packages")

FEATURES = {
    # key: (default, allowed values or bool)
    "gdpr": (False, bool),
    "autossl": (False, bool),
    "https_redirect": (False, bool),
    "hsts": (False, bool),
    "mail": (False, bool),
    "mail_branding": ("generic", ("generic", "reseller", "client")),
    # The p= of the DMARC record its clients publish (module_utils/mail/dns_records.py, docs/mail.md).
    "mail_dmarc_policy": (DEFAULT_DMARC_POLICY, DMARC_POLICIES),
    # The DKIM keys its clients' mail is signed with: rsa (2048), or rsa+ed25519 (two signatures; module_utils/mail/dkim.py).
    "mail_dkim_keys": (DEFAULT_KEY_SET, tuple(KEY_SETS)),
    # Outgoing limits of each client's mail (module_utils/mail/send_limits.py): the keys given, each a whole number;
    # a client's overrides change single keys, the defaults fill the rest (send_limits.with_defaults).
    "mail_limits": ({}, send_limits.settings),
    # Greylisting of its clients' inbound mail (module_utils/mail/greylisting.py, docs/mail.md#greylisting).
    "mail_greylisting": (False, bool),
    "webmail": (False, bool),
    "backup": ("none", ("none", "reseller", "client")),
    "dedicated_ip": (False, bool),
    "web": ({}, dict),  # nginx and PHP settings, whitelisted whole values (module_utils/tunables.py)
    # SFTP to the client's own files, chrooted, no shell (state/sftp.py, docs/state.md#sftp).
    "sftp": (False, bool),
}
PLATFORM_DEFAULTS = {"domain": None, "php_versions": ["8.2"], "acme_directory": "https://acme-v02.api.letsencrypt.org/directory"}
MIN_PASSWORD = 10


def merge_client_sources(variables, problems):
    """Merge fracto_clients and every fracto_clients__<part> variable; one id twice is an error."""
    merged, origin = {}, {}
    for var in sorted(v for v in variables if CLIENT_SOURCES.fullmatch(v)):
        value = variables[var]
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.error(StatePath(var), "must be a mapping of client id to client, got %s" % type_name(value))
            continue
        for cid, client in value.items():
            if cid in merged:
                problems.error(StatePath(var) / cid, "duplicate client id: also defined in %s" % origin[cid])
                continue
            merged[cid], origin[cid] = client, var
    return merged, origin


def state_variables(variables):
    """The names of the state variables present, in the order they are checked."""
    names = [v for v in STATE_VARIABLES if v in variables]
    return names + sorted(v for v in variables if CLIENT_SOURCES.fullmatch(v))


def pem_field(keys):
    """True for fracto_clients*.<id>.certificates[<i>].cert/chain/key: PEM text, where newlines belong."""
    return (len(keys) == 5 and CLIENT_SOURCES.fullmatch(str(keys[0])) is not None and keys[2] == "certificates"
            and isinstance(keys[3], int) and keys[4] in rules.PEM_FIELDS)
