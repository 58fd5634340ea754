# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whitelists of the values a mail host writes, and the sinks that refuse what would break their syntax.

The controller validates the reseller state too; the modules on the mail host check again (defence in depth): a
value that reaches Dovecot's passwd-file, a Postfix map source, a path under the vmail root or Roundcube's PHP config
matches its whitelist as a whole (re.fullmatch: no trailing newline), or the module fails naming the field and writes
nothing. Errors never carry a hash or a password.

The kinds of value the other writer modules check too (client ids, resellers, domains, IPv4 addresses) are matched
with argguard's grammars (one definition of each); the refusals here keep the mail host's wording.
"""

from __future__ import annotations

import os
import re

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g

# A domain in its ASCII (IDNA) form (argguard's DNS name); a host name may be a single label.
DOMAIN = g.DNS_NAME
HOSTNAME = re.compile(r"%s(?:\.%s)*" % (g.LABEL, g.LABEL))
# The local part of a mailbox or alias: it names a directory under the vmail root, so no '/', no leading dot or
# hyphen, no '..'; a-z 0-9 and . _ + - only.
LOCAL_PART = re.compile(r"[a-z0-9_+][a-z0-9_+-]*(?:\.[a-z0-9_+-]+)*")
CLIENT = g.CLIENT_ID
RESELLER = g.RESELLER
CERT_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
SETTING = re.compile(r"[a-z][a-z0-9_]{0,99}")
# Password hashes by scheme, each matched whole (crypt(3) alphabets; argon2's PHC string in unpadded base64).
_C64 = r"[./0-9A-Za-z]"
_B64 = r"[A-Za-z0-9+/]"
HASHES = (
    ("$6$", re.compile(r"\$6\$(?:rounds=[1-9][0-9]{3,8}\$)?%s{0,16}\$%s{86}" % (_C64, _C64))),
    ("$5$", re.compile(r"\$5\$(?:rounds=[1-9][0-9]{3,8}\$)?%s{0,16}\$%s{43}" % (_C64, _C64))),
    ("$2", re.compile(r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$%s{53}" % _C64)),
    ("$y$", re.compile(r"\$y\$%s{1,16}\$%s{1,86}\$%s{43}" % (_C64, _C64, _C64))),
    ("$argon2", re.compile(r"\$argon2(?:id|i)\$v=[0-9]{1,3}\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}\$%s{8,88}\$%s{16,128}"
                           % (_B64, _B64))),
)
# Characters no value of a line-based file may hold: every C0 control (newline, NUL, tab, ...) and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeValue(ValueError):
    """A value refused by a whitelist or a sink; str() names the field and the rule, never a secret."""

    def __init__(self, field, rule):
        super().__init__("%s: %s" % (field, rule))
        self.field = field


def _text(value, field):
    if not isinstance(value, str):
        raise UnsafeValue(field, "must be a string, got %s" % type(value).__name__)
    return value


def _shown(value):
    """A refused value as an error shows it: repr (control characters visible), bounded."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(pattern, value, field, rule, maxlen=253):
    _text(value, field)
    if not g.fits(value, pattern, maxlen):
        raise UnsafeValue(field, "%s is refused: %s" % (_shown(value), rule))
    return value


def _whitelist(pattern, rule, default_field=None):
    """The check of one kind of value: checker(value, field) is check(pattern, value, field, rule)."""
    def checker(value, field=default_field):
        return check(pattern, value, field, rule)
    return checker


domain = _whitelist(DOMAIN, "must be a domain name in lower-case ASCII (a-z 0-9 - in dot-separated labels)")
hostname = _whitelist(HOSTNAME, "must be a host name in lower-case ASCII (a-z 0-9 - in dot-separated labels)")
client = _whitelist(CLIENT, "must be a client id: [a-z0-9][a-z0-9-]*, at most 31 characters")
reseller = _whitelist(RESELLER, "must be a reseller slug: [a-z0-9][a-z0-9-]*, at most 63 characters", "reseller")
cert_id = _whitelist(CERT_ID, "must be a certificate id (a-z 0-9 . -, no '/', no leading dot)")


def address(value, field):
    """(local, domain) of a whole mail address; the local part is whitelisted, the domain too."""
    _text(value, field)
    local, sep, dom = value.partition("@")
    if not sep or len(value) > 254:
        raise UnsafeValue(field, "%s is refused: must be one address local@domain" % _shown(value))
    check(LOCAL_PART, local, field, "the local part must be 1-64 of a-z 0-9 . _ + - (no leading dot or hyphen, no '..', no '/')",
          maxlen=64)
    domain(dom, field)
    return local, dom


def ipv4(value, field):
    _text(value, field)
    if not g.is_ipv4(value):
        raise UnsafeValue(field, "%s is refused: must be an IPv4 address" % _shown(value))
    return value


def password_hash(value, field):
    """A hash that fullmatches the format of its scheme ($6$, $5$, $2b$, $y$, $argon2id$); never shown in the error."""
    if not isinstance(value, str):
        raise UnsafeValue(field, "must be a password hash string")
    for prefix, pattern in HASHES:
        if value.startswith(prefix):
            if pattern.fullmatch(value):
                return value
            raise UnsafeValue(field, "the password hash does not match the format of its scheme %s... (value not shown)" % prefix)
    raise UnsafeValue(field, "the password hash has no supported scheme ($6$, $5$, $2b$, $y$, $argon2id$, $argon2i$; value not shown)")


def quota(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UnsafeValue(field, "must be a number of bytes or null")
    return value


# --------------------------------------------------------------------------- sinks

def passwd_field(value, field):
    """One field of Dovecot's passwd-file: no ':' (the separator), no newline, NUL or other control character."""
    _text(value, field)
    if ":" in value or _CONTROL.search(value):
        raise UnsafeValue(field, "%s is refused in Dovecot's passwd-file (':' or a control character)" % _shown(value))
    return value


def passwd_extra(value, field):
    """The extra fields of a passwd-file line: space-separated key=value, ':' allowed only after '=' (quota rules)."""
    _text(value, field)
    if _CONTROL.search(value) or any(not re.fullmatch(r"[a-z_]+=[^\s]*", item) for item in value.split(" ") if value):
        raise UnsafeValue(field, "%s is refused in Dovecot's passwd-file extra fields" % _shown(value))
    return value


def map_token(value, field):
    """A key or value of a Postfix map source: no whitespace or control character, no '#' at its start, not empty."""
    _text(value, field)
    if not value or value.startswith("#") or re.search(r"[\s\x00-\x1f\x7f]", value):
        raise UnsafeValue(field, "%s is refused in a Postfix map (empty, whitespace, control character or '#' at the start)"
                          % _shown(value))
    return value


def config_value(value, field):
    """A value written on one line of a configuration file (main.cf, dovecot.conf): no control character."""
    _text(value, field)
    if _CONTROL.search(value):
        raise UnsafeValue(field, "%s is refused: a newline or control character would add configuration" % _shown(value))
    return value


def maildir_home(root, dom, local, field="mailbox"):
    """root/<domain>/<local>, from a whitelisted domain and local part, checked to stay under root."""
    domain(dom, field)
    check(LOCAL_PART, local, field, "the local part must be 1-64 of a-z 0-9 . _ + -", maxlen=64)
    path = os.path.join(root, dom, local)
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        raise UnsafeValue(field, "the mail home of %s@%s leaves %s" % (local, dom, root))
    return path


def check_arguments(p):
    """Every value of the arguments against its whitelist (the controller checked them too: modules do not trust their
    arguments). Raises UnsafeValue naming the field."""
    hostname(p["hostname"], "hostname")
    reseller(p["reseller"], "reseller")
    for cid in p["clients"]:
        client(cid, "clients")
    for i, entry in enumerate(p["domains"]):
        domain(entry.get("domain"), "domains[%d].domain" % i)
        client(entry.get("client"), "domains[%d].client" % i)
    for i, box in enumerate(p["mailboxes"]):
        addr = box.get("address")
        address(addr, "mailboxes[%d].address" % i)
        client(box.get("client"), "mailboxes[%s].client" % addr)
        quota(box.get("quota"), "mailboxes[%s].quota" % addr)
        if box.get("password_hash"):
            password_hash(box["password_hash"], "mailboxes[%s].password_hash" % addr)
    for i, alias in enumerate(p["aliases"]):
        addr = alias.get("address")
        address(addr, "aliases[%d].address" % i)
        client(alias.get("client"), "aliases[%s].client" % addr)
        targets = alias.get("targets")
        if not isinstance(targets, list) or not targets:
            raise UnsafeValue("aliases[%s].targets" % addr, "must be a non-empty list of addresses")
        for target in targets:
            address(target, "aliases[%s].targets" % addr)
    for key in ("mail_names", "webmail_names"):
        for i, entry in enumerate(p[key]):
            domain(entry.get("name"), "%s[%d].name" % (key, i))
            if entry.get("branding") not in ("generic", "reseller", "client"):
                raise UnsafeValue("%s[%s].branding" % (key, entry["name"]), "must be generic, reseller or client")
            for cid in entry.get("clients") or []:
                client(cid, "%s[%s].clients" % (key, entry["name"]))
    for i, cert in enumerate(p["certificates"]):
        cert_id(cert.get("id"), "certificates[%d].id" % i)
        for name in cert.get("names") or []:
            domain(name, "certificates[%s].names" % cert["id"])
    for i, binding in enumerate(p["ip_bindings"]):
        ipv4(binding.get("address"), "ip_bindings[%d].address" % i)
        if binding.get("helo"):
            hostname(binding["helo"], "ip_bindings[%s].helo" % binding["address"])
        for cid in binding.get("clients") or []:
            client(cid, "ip_bindings[%s].clients" % binding["address"])
    for key, value in p["postfix_settings"].items():
        check(SETTING, key, "postfix_settings", "must be a main.cf parameter name")
        config_value(str(value), "postfix_settings[%s]" % key)
