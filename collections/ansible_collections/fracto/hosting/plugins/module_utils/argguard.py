# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-side whitelists: every value a module writes into a config file, a path or a command is checked here.

The controller validates the reseller's state first; the modules do not trust their arguments anyway (defence in
depth: a value injected past the controller must not break out of an nginx vhost, a PHP-FPM pool, an ifupdown
stanza, a SQL statement or a path). Every check matches the WHOLE value (re.fullmatch: `re.match` with `$`
accepts a trailing newline) against a grammar that has no newline, NUL, ';', '{', '}', quote, space or other
character any of those syntaxes treats specially. A refusal names the option and the rule, never more than a
short repr() of the value (these values are names, never secrets).

The grammars here (client ids, resellers, DNS names, IPv4 addresses) are the only ones: the mail host's whitelists
(mail/safe.py) match the same kinds of value with them, through fits() and is_ipv4(), and word their own refusals.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

# A client id: a slug that is also a valid system user name (useradd: at most 32 characters; 31 here as the model).
CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")
# A reseller: a slug (file names /etc/network/interfaces.d/fracto-<reseller>, /var/lib/fracto/state/<reseller>.json).
RESELLER = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# A DNS label: a-z, 0-9 and '-', no leading or trailing hyphen, at most 63 characters.
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A DNS name in its canonical form (lowercase, punycode, no trailing dot), at least two labels.
DNS_NAME = re.compile(r"(?:%s\.)+%s" % (LABEL, LABEL))
# The same, a leading wildcard label allowed (certificate names).
CERT_NAME = re.compile(r"(?:\*\.)?(?:%s\.)+%s" % (LABEL, LABEL))
PHP_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = re.compile(r"%s(?:\.%s){3}" % (_OCTET, _OCTET))
# A network interface name as the kernel allows it (IFNAMSIZ - 1 = 15), without '/', ':', '@' or spaces.
INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
# A file name the platform makes from an id (certificate ids: cliente1.test, cliente1-shop-ov, mail.cliente1.test).
SAFE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")
# An absolute path of plain components (no '.' or '..', no spaces, quotes, ';', '{', '}', '$', newline...).
_COMPONENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
ABS_PATH = re.compile(r"(?:/%s)+/?|/" % _COMPONENT)
# A URL path of a site a vhost denies: a directory (ends with '/') or a file, plain components as above.
URL_PATH = re.compile(r"/(?:%s/)*(?:%s)?" % (_COMPONENT, _COMPONENT))
URL_PATH_RULE = ("a denied path starts with '/', is made of components of A-Z, a-z, 0-9, '.', '_', '-' (no '.' or '..',"
                 " none starting with '.'), ends with '/' for a directory, and is at most 200 characters")

# An OpenSSH public key line: type, base64 blob, an optional plain comment. Never options (command=, from=,
# permitopen=...): they are code sshd runs or obeys, and the key's line is the whole value.
SSH_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
SSH_KEY = re.compile(r"(?:%s) AAAA[A-Za-z0-9+/]{12,2000}={0,3}(?: [A-Za-z0-9@._+-]{1,100})?"
                     % "|".join(re.escape(t) for t in SSH_KEY_TYPES))
SSH_KEY_RULE = ("an SSH public key is one line '<type> <base64> [comment]': type %s, a comment of A-Z a-z 0-9 @ . _ + -,"
                " no options" % ", ".join(SSH_KEY_TYPES))
MIN_RSA_BLOB = 270  # bytes of an ssh-rsa blob with a 2048-bit modulus (a 1024-bit one has about 150)
# A SHA-512 crypt hash ($6$), the scheme both glibc's crypt(3) (the host's logins) and libpass verify.
SHA512_CRYPT = re.compile(r"\$6\$(rounds=[1-9][0-9]{3,8}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}")

# Accounts a client id must never be: Debian's system users and those of the services the platform installs.
RESERVED_USERS = frozenset((
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "gnats", "nobody", "nogroup", "sshd", "messagebus", "polkitd", "tss", "uuidd", "avahi",
    "systemd-network", "systemd-resolve", "systemd-timesync", "systemd-coredump", "systemd-journal", "_apt",
    "mysql", "mariadb", "vmail", "postfix", "postdrop", "dovecot", "dovenull", "opendkim", "rspamd", "redis",
    "clamav", "amavis", "debian-exim", "roundcube", "nginx", "php", "php-fpm", "restic", "fracto", "admin",
    "administrator", "operator", "ftp", "postgres", "staff", "adm", "shadow", "utmp", "sudo", "wheel", "disk",
    "kmem", "tty", "audio", "video", "plugdev", "netdev", "input", "kvm", "render", "crontab", "ssl-cert", "docker",
    "lxd", "ubuntu", "debian", "user", "guest", "localhost", "www", "http", "apache", "chrony", "ntp", "bind",
    "named", "unbound", "pebble", "legacy",
))
RESERVED_PREFIXES = ("systemd-", "debian-", "fracto-")


class Refused(ValueError):
    """A value refused by a whitelist; str() names the option and the rule."""

    def __init__(self, option, rule, value=None):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__("%s %s is refused: %s" % (option, shown, rule))
        self.option, self.rule = option, rule


def fits(value, pattern, maxlen=None):
    """Whether value is a str that pattern matches whole (and, given maxlen, of at most maxlen characters)."""
    return isinstance(value, str) and (maxlen is None or len(value) <= maxlen) and pattern.fullmatch(value) is not None


def is_ipv4(value):
    """Whether value is an IPv4 address in dotted-quad form (no leading zero, no other notation)."""
    if not fits(value, IPV4):
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def want(option, value, pattern, rule):
    """value, if it is a str that pattern matches whole; else Refused(option, rule)."""
    if not fits(value, pattern):
        raise Refused(option, rule, value)
    return value


def want_optional(option, value, pattern, rule):
    return None if value is None else want(option, value, pattern, rule)


def client_id(option, value):
    return want(option, value, CLIENT_ID, "a client id is 1-31 of a-z, 0-9 and '-', starting with a letter or digit")


def reseller(option, value, required=True):
    if value is None and not required:
        return None
    return want(option, value, RESELLER, "a reseller is 1-63 of a-z, 0-9 and '-', starting with a letter or digit")


def dns_name(option, value):
    want(option, value, DNS_NAME, "a DNS name is lowercase labels of a-z, 0-9 and '-' (punycode for IDNs), dot-separated")
    if len(value) > 253 or value.rsplit(".", 1)[1].isdigit():
        raise Refused(option, "a DNS name has at most 253 characters and a non-numeric last label", value)
    return value


def cert_name(option, value):
    want(option, value, CERT_NAME, "a certificate name is a DNS name, optionally '*.' and a DNS name")
    dns_name(option, value[2:] if value.startswith("*.") else value)
    return value


def ipv4(option, value):
    if not is_ipv4(value):
        raise Refused(option, "an IPv4 address in dotted-quad form", value)
    return value


def interface(option, value):
    return want(option, value, INTERFACE, "an interface name is 1-15 of A-Z, a-z, 0-9, '_', '.', '-'")


def safe_id(option, value):
    return want(option, value, SAFE_ID, "an id is 1-200 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")


def abs_path(option, value):
    want(option, value, ABS_PATH, "a path is absolute and made of components of A-Z, a-z, 0-9, '.', '_', '-' (no '..')")
    if any(part in (".", "..") for part in value.split("/")):
        raise Refused(option, "a path has no '.' or '..' component", value)
    return value


def url_path(option, value):
    want(option, value, URL_PATH, URL_PATH_RULE)
    if len(value) > 200 or value == "/" or any(part in (".", "..") for part in value.split("/")):
        raise Refused(option, URL_PATH_RULE + "; not '/' itself", value)
    return value


def ssh_public_key(option, value):
    """value, a whole public key line whose blob decodes and names its own type (an RSA key of 2048 bits or more)."""
    want(option, value, SSH_KEY, SSH_KEY_RULE)
    kind, blob = value.split(" ")[:2]
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(option, "the key's base64 does not decode", value) from None
    length = int.from_bytes(raw[:4], "big")
    if raw[4:4 + length] != kind.encode("ascii"):
        raise Refused(option, "the key's blob is not a %s key" % kind, value)
    if kind == "ssh-rsa" and len(raw) < MIN_RSA_BLOB:
        raise Refused(option, "an RSA key has at least 2048 bits", value)
    return value


def shadow_hash(option, value):
    """value, a whole SHA-512 crypt hash (the value is never shown: a hash is a secret)."""
    if not fits(value, SHA512_CRYPT):
        raise Refused(option, "must be a whole SHA-512 crypt hash ($6$[rounds=N$]<salt>$<86 of ./0-9A-Za-z>); the value is"
                      " not shown", "(hidden)")
    return value


def flag(option, value):
    if not isinstance(value, bool):
        raise Refused(option, "must be a boolean", value)
    return value


def reserved_user(name):
    """Whether name is a system or service account a client id must never be."""
    return name in RESERVED_USERS or name.startswith(RESERVED_PREFIXES)


def string_list(option, values, check):
    if not isinstance(values, (list, tuple)):
        raise Refused(option, "must be a list", values)
    return [check("%s[%d]" % (option, i), v) for i, v in enumerate(values)]
