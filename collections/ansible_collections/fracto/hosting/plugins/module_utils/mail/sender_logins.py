# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sender binding: which logins may send as which address (the source of Postfix's smtpd_sender_login_maps).

A mailbox logs in (SASL, through Dovecot) with its own address. On submission (587) and submissions (465) Postfix
refuses (553 5.7.1, reject_authenticated_sender_login_mismatch) an envelope sender that the map does not give to the
login. The map gives:

- each mailbox's address to that mailbox;
- each alias to the mailboxes of the alias's own client it delivers to, following aliases of aliases as Postfix does
  (an alias to an outside address, or to a mailbox of another client, gives that mailbox nothing: mail sent as an
  address must come from the client that owns it).

No key is ever a catch-all (@domain): that would let one login send as every address of a domain. A null sender
(MAIL FROM:<>) is not looked up by Postfix at all; docs/mail.md says why that is kept and what closes the rest.
Pure functions on the union of the resellers' records (owners.union()); the map is written by render_map.
"""

from __future__ import annotations

# Postfix's recipient_delimiter (main.cf): info+news@ delivers to info@, and Postfix looks info@ up for it too.
DELIMITER = "+"


def _domain(address):
    return address.rsplit("@", 1)[-1]


def _mailbox_of(address, mailboxes):
    """The mailbox a target address delivers to (itself, or without its +extension), or None."""
    if address in mailboxes:
        return address
    local, _sep, domain = address.rpartition("@")
    base = local.split(DELIMITER, 1)[0]
    return "%s@%s" % (base, domain) if base != local and "%s@%s" % (base, domain) in mailboxes else None


def _client_of(address, mailboxes, domains):
    """The client that owns an address: its mailbox's client, else its domain's (None when nobody is known)."""
    box = mailboxes.get(address)
    return (box or {}).get("client") or domains.get(_domain(address))


def delivers_to(address, aliases, mailboxes, seen=None):
    """The mailboxes an address ends in (sorted), through aliases of aliases; a loop ends where it started."""
    seen = set() if seen is None else seen
    if address in seen:
        return []
    seen.add(address)
    found = set()
    for target in aliases.get(address, ()):
        box = _mailbox_of(target, mailboxes)
        if target in aliases and target != address:
            found.update(delivers_to(target, aliases, mailboxes, seen))
        elif box:
            found.add(box)
    return sorted(found)


def owners(domains, mailboxes, aliases):
    """{address: [logins]}: every mailbox owns its address; an alias is owned by the mailboxes of its own client it
    delivers to (none: the alias is left out, so that no login may send as it).

    domains {domain: client}, mailboxes {address: {client, ...}}, aliases {address: [targets]} (owners.union()).
    """
    found = {address: [address] for address in mailboxes}
    for address in sorted(aliases):
        if address in found:  # a mailbox of the same address (an old file): the mailbox keeps it alone
            continue
        client = _client_of(address, mailboxes, domains)
        logins = [box for box in delivers_to(address, aliases, mailboxes)
                  if client and _client_of(box, mailboxes, domains) == client]
        if logins:
            found[address] = logins
    return found


def entries(shared):
    """The map's entries {address: "login[,login...]"} from owners.union() (Postfix reads a comma-separated list)."""
    return {address: ",".join(logins)
            for address, logins in owners(shared["domains"], shared["mailboxes"], shared["aliases"]).items()}
