# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain names and mail addresses as the state model compares them.

Names are lowercase, IDNs are punycode (IDNA 2008 with UTS 46 mapping, as
browsers resolve them), trailing dots are dropped. Every rule violation raises
InvalidName with the rule in words, never with anything but the name itself.
"""

from __future__ import annotations

import re

try:
    import idna
    HAS_IDNA = True
except ImportError:  # pragma: no cover - the controller venv always has it
    HAS_IDNA = False

MAX_NAME = 253
MAX_LABEL = 63
MAX_LOCAL = 64
# Names per certificate: the CAs' limit (Let's Encrypt), for the ACME groups of the state and the orders on the host.
MAX_NAMES_PER_CERT = 100
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
# A local part names a Maildir directory, a passwd-file line and a backup path: letters, digits, '.', '_', '+', '-',
# a letter or digit at both ends, never '..' nor '/' (docs/state.md#rules-for-values).
_LOCAL_PART = re.compile(r"[a-z0-9]([a-z0-9._+-]*[a-z0-9])?")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


class InvalidName(ValueError):
    """A name that breaks one of the naming rules; str() is the rule."""


def _to_ascii_label(label):
    if label.isascii():
        if label.startswith("xn--"):
            # An A-label must decode; a broken one would be refused by resolvers and CAs.
            if not HAS_IDNA:
                raise InvalidName("the Python package idna is needed to check IDN labels")
            try:
                idna.decode(label)
            except idna.IDNAError as exc:
                raise InvalidName("label %r is not valid punycode (%s)" % (label, exc))
        return label
    if not HAS_IDNA:
        raise InvalidName("the Python package idna is needed to convert IDN labels")
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidName("label %r is not a valid internationalised label (%s)" % (label, exc))


def normalize_name(raw, min_labels=2):
    """Return the canonical form of a DNS name, or raise InvalidName."""
    if not isinstance(raw, str):
        raise InvalidName("must be a string, got %s" % type(raw).__name__)
    name = raw.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidName("must not be empty")
    if "*" in name:
        raise InvalidName("wildcards are not allowed")
    if any(c in name for c in "/\\:@ \t\n") or ".." in name:
        raise InvalidName("must be a host name, not a path, address or URL (no '/', '\\', ':', '@', spaces or '..')")
    labels = []
    for label in name.split("."):
        if not label:
            raise InvalidName("has an empty label")
        label = _to_ascii_label(label.lower())
        if len(label) > MAX_LABEL:
            raise InvalidName("label %r is longer than %d characters" % (label[:20] + "...", MAX_LABEL))
        if label.startswith("-") or label.endswith("-"):
            raise InvalidName("label %r starts or ends with a hyphen" % label)
        if not _LABEL.fullmatch(label):
            raise InvalidName("label %r has characters other than a-z, 0-9 and '-'" % label)
        labels.append(label)
    if len(labels) < min_labels:
        raise InvalidName("needs at least %d labels" % min_labels)
    if labels[-1].isdigit():
        raise InvalidName("the last label must not be numeric (an IP address is not a name)")
    result = ".".join(labels)
    if len(result) > MAX_NAME:
        raise InvalidName("is longer than %d characters" % MAX_NAME)
    return result


def normalize_relative(raw, parent):
    """A name given relative to a domain (alias 'www', subdomain 'shop') -> FQDN."""
    if not isinstance(raw, str):
        raise InvalidName("must be a string, got %s" % type(raw).__name__)
    rel = raw.strip()
    if rel.endswith("."):
        raise InvalidName("is relative to its domain: give 'www', not an absolute name")
    if not rel:
        raise InvalidName("must not be empty")
    return normalize_name(rel + "." + parent)


def normalize_address(raw):
    """Return (address, local_part, domain) for a mail address, or raise InvalidName."""
    if not isinstance(raw, str):
        raise InvalidName("must be a string, got %s" % type(raw).__name__)
    text = raw.strip()
    if text.count("@") != 1:
        raise InvalidName("must be one address of the form local@domain")
    local, domain = text.split("@")
    local = local.lower()
    if not local_part_ok(local):
        raise InvalidName("local part %r is not a valid mailbox name (1-64 of a-z 0-9 . _ + -, a letter or digit at "
                          "both ends, no '..')" % local)
    domain = normalize_name(domain)
    return "%s@%s" % (local, domain), local, domain


def local_part_ok(local):
    return 0 < len(local) <= MAX_LOCAL and _LOCAL_PART.fullmatch(local) is not None and ".." not in local


def is_under(child, parent):
    """True when child is the domain parent itself or one of its subdomains."""
    return child == parent or child.endswith("." + parent)


def covered_by(name, patterns):
    """True when a certificate's DNS names (wildcards allowed) cover name."""
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name:
            if name.split(".", 1)[1] == pattern[2:]:
                return True
    return False
