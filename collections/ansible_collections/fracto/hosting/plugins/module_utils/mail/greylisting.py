# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Greylisting of a client's inbound mail (issue 13, docs/mail.md#greylisting), on or off per package.

The package sets it (``fracto_packages.<p>.mail_greylisting``, a client's ``overrides`` may change it); mail_server
gets the clients that have it on (its ``greylisting`` option) and writes, from every reseller's record on the host,
the one map rspamd reads: the mail domains whose inbound mail is greylisted. rspamd.local.lua adds the symbol
FRACTO_NOT_GREYLISTED to a message unless every recipient's domain is in the map, and rspamd's greylist module
(local.d/greylist.conf, a role file) skips any message that has it: a client that did not choose greylisting never
waits for its mail, whatever other clients on the host chose.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe

DOMAINS_MAP = "/etc/rspamd/fracto/greylisted_domains.map"  # set: one mail domain per line
SKIP_SYMBOL = "FRACTO_NOT_GREYLISTED"


def checked(clients):
    """The client ids of mail_server's greylisting parameter, sorted; raises safe.UnsafeValue naming the field."""
    return sorted({safe.client(cid, "greylisting[%d]" % index) for index, cid in enumerate(clients)})


def domains(records):
    """The mail domains, of every record, whose client has greylisting on (its record's greylisting list)."""
    out = set()
    for record in records.values():
        chosen = set(record.get("greylisting") or ())
        out |= {domain for domain, client in record["domains"].items() if client in chosen}
    return sorted(out)


def render(greylisted):
    """{path: content} of the map of the greylisted domains (domains())."""
    lines = "".join("%s\n" % domain for domain in greylisted)
    return {DOMAINS_MAP: "# managed by fracto.hosting mail_server: the mail domains whose inbound mail is greylisted\n" + lines}
