# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whitelists of the reseller state: reserved names and the grammar of every value (docs/state.md#rules-for-values).

A reseller's state is written by a tenant: every value that reaches a host is matched whole (re.fullmatch,
never re.match with $, which accepts a trailing newline) against what its use allows. Each check returns
the rule it breaks in words, or None; no rule ever carries the value (it may be a secret).
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import InvalidName, is_under, normalize_name

# -- characters ---------------------------------------------------------------------------------------------------
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators: each ends a line for some parser on a host.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_RULE = "contains a control character (newline, NUL, ...)"
PEM_FIELDS = ("cert", "chain", "key")     # certificates[].<field>: multi-line PEM, newlines allowed

# -- reserved names -----------------------------------------------------------------------------------------------
# System accounts of the platform's Debian hosts and of the packages the roles install: a client id names the
# client's system user and PHP pool, so it may be none of them (nor look like one of a family, PREFIXES).
SYSTEM_ACCOUNTS = frozenset((
    # Debian base-passwd and the accounts of a Debian 12 server
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "gnats", "nobody", "nogroup", "messagebus", "sshd", "tss", "uuidd", "tcpdump", "ntp",
    "ntpsec", "chrony", "polkitd", "avahi", "dnsmasq", "bind", "unbound", "statd", "usbmux", "rtkit",
    # groups a user in them would gain power through
    "adm", "wheel", "sudo", "staff", "users", "shadow", "utmp", "tty", "disk", "kmem", "crontab", "ssl-cert",
    "docker", "lxd", "libvirt", "kvm", "systemd",
    # the services the roles install
    "mysql", "mariadb", "vmail", "postfix", "postdrop", "dovecot", "dovenull", "restic", "nginx", "redis", "opendkim",
    "prometheus", "node-exporter", "clamav", "amavis", "rspamd", "memcache", "roundcube", "php", "php-fpm",
    "postgres", "acme", "certbot", "letsencrypt",
    # accounts people and cloud images expect to be the operator's
    "admin", "administrator", "operator", "debian", "ubuntu", "localhost",
))
# Families: systemd-*, debian-* (debian-exim, debian-tor), the platform's own fracto*, and _* (_apt, _rspamd, _chrony).
SYSTEM_ACCOUNT_PREFIXES = ("systemd-", "debian-", "fracto", "_")
SYSTEM_SCHEMAS = frozenset(("mysql", "information_schema", "performance_schema", "sys", "test"))
RESERVED_DB_USERS = frozenset(("root", "mysql", "mariadb.sys", "mariadb_sys", "debian-sys-maint", "debian_sys_maint",
                               "mysql.sys", "mysql.session", "mysql.infoschema", "admin", "fracto", "roundcube",
                               "postfix", "dovecot", "backup", "replication", "repl", "monitor", "exporter"))
# Special-use top-level domains that resolve to the host itself or to nothing (RFC 6761, 6762, 9476): no site there.
SPECIAL_TLDS = ("localhost", "local", "arpa", "invalid", "alt")

# -- grammars -----------------------------------------------------------------------------------------------------
CLIENT_ID = re.compile(r"[a-z][a-z0-9-]{0,30}")          # a Linux user name: starts with a letter, at most 31
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
CERT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")       # part of a file name on the web host
RESELLER = re.compile(r"[a-z][a-z0-9-]{0,30}")
DB_NAME = re.compile(r"[a-z0-9_]{1,64}")
DB_USER = re.compile(r"[a-z0-9_]{1,32}")
OLD_DB_NAME = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}")   # never a leading '-': mysqldump reads it
PHP_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
ACME_URL = re.compile(r"https://(?P<host>[A-Za-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?(/[A-Za-z0-9._~/%+-]*)?")

# Password hashes by scheme (crypt(3) base64 alphabet ./0-9A-Za-z; PHC strings use standard base64 without padding).
_CRYPT64 = "[./0-9A-Za-z]"
HASH_SCHEMES = (
    ("sha512-crypt", "$6$", g.SHA512_CRYPT,
     "$6$[rounds=N$]<salt of 1-16>$<86 of ./0-9A-Za-z>"),
    ("sha256-crypt", "$5$", re.compile(r"\$5\$(rounds=[1-9][0-9]{3,8}\$)?%s{1,16}\$%s{43}" % (_CRYPT64, _CRYPT64)),
     "$5$[rounds=N$]<salt of 1-16>$<43 of ./0-9A-Za-z>"),
    ("bcrypt", "$2", re.compile(r"\$2[by]\$(0[4-9]|[12][0-9]|3[01])\$%s{53}" % _CRYPT64),
     "$2b$ or $2y$, a cost 04-31, $, then 53 of ./0-9A-Za-z"),
    ("argon2id", "$argon2id$", re.compile(r"\$argon2id\$v=(16|19)\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}"
                                          r"\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}"),
     "$argon2id$v=19$m=M,t=T,p=P$<salt>$<hash> in unpadded base64"),
    ("argon2i", "$argon2i$", re.compile(r"\$argon2i\$v=(16|19)\$m=[0-9]{1,10},t=[0-9]{1,10},p=[0-9]{1,3}"
                                        r"\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}"),
     "$argon2i$v=19$m=M,t=T,p=P$<salt>$<hash> in unpadded base64"),
)
HASH_RULE = ("must be a whole password hash: sha512-crypt ($6$), sha256-crypt ($5$), bcrypt ($2b$, $2y$) or "
             "argon2id/argon2i ($argon2id$, $argon2i$); the value is not shown")

# Site migration: the old site lives in a home or a web root of the old platform, never in its system directories.
OLD_HOME = re.compile(r"/(home|var/www)/(?P<account>[a-z0-9][a-z0-9._-]{0,31})(?P<rest>(/[A-Za-z0-9._~+@-]+)*)/?")
OLD_PATH_RULE = ("must be /home/<account>[/...] or /var/www/<site>[/...] on the old host (account, site: "
                 "[a-z0-9][a-z0-9._-]{0,31}; components [A-Za-z0-9._~+@-]; no '.', '..' or empty component)")
IMAP_LOGIN = re.compile(r"[A-Za-z0-9._@+=-]{1,255}")
MASTER_USER = re.compile(r"[A-Za-z0-9._@+-]{1,64}")

# Backup repositories, whole value per restic backend. A path never starts with '-' (restic and ssh read options)
# and never holds '..'; `{client}` is the only placeholder and only in the path.
SFTP_USER = r"[a-z_][a-z0-9_-]{0,31}"
HOST = r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}"
PORT = r"[0-9]{1,5}"
REPO_PATH = r"[A-Za-z0-9._/{}-]*"
USERINFO = r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
REPOSITORY_FORMS = {
    "sftp": (re.compile(r"sftp:((?P<user>%s)@)?(?P<host>%s):(?P<path>%s)" % (SFTP_USER, HOST, REPO_PATH)),
             "sftp:[user@]host:/path"),
    "sftp-url": (re.compile(r"sftp://((?P<user>%s)@)?(?P<host>%s)(:(?P<port>%s))?/(?P<path>%s)" % (SFTP_USER, HOST, PORT, REPO_PATH)),
                 "sftp://[user@]host[:port]//absolute/path"),
    "rest": (re.compile(r"rest:https://((?P<user>%s)(:(?P<secret>%s))?@)?(?P<host>%s)(:(?P<port>%s))?/(?P<path>%s)"
                        % (USERINFO, USERINFO, HOST, PORT, REPO_PATH)),
             "rest:https://[user:password@]host[:port]/path"),
    "s3-url": (re.compile(r"s3:https://(?P<host>%s)(:(?P<port>%s))?/(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(?P<path>%s))?"
                          % (HOST, PORT, REPO_PATH)),
               "s3:https://host[:port]/bucket[/path]"),
    "s3": (re.compile(r"s3:(?P<host>%s)/(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(?P<path>%s))?" % (HOST, REPO_PATH)),
           "s3:host/bucket[/path]"),
    "b2": (re.compile(r"b2:(?P<bucket>[A-Za-z0-9][A-Za-z0-9-]{4,48}[A-Za-z0-9]):(?P<path>%s)" % REPO_PATH),
           "b2:bucket:path"),
}
BACKENDS = {"sftp:": ("sftp-url", "sftp"), "rest:": ("rest",), "s3:": ("s3-url", "s3"), "b2:": ("b2",)}
REFUSED_BACKENDS = ("local:", "azure:", "gs:", "swift:", "rclone:", "opendal:", "smb:")
REPOSITORY_RULE = ("must be a restic repository of a supported backend: sftp:[user@]host:/path, "
                   "sftp://[user@]host[:port]//path, rest:https://[user:password@]host[:port]/path, "
                   "s3:https://host[:port]/bucket[/path], s3:host/bucket[/path] or b2:bucket:path")
PLACEHOLDER = "{client}"


# -- checks -------------------------------------------------------------------------------------------------------
def control_char(text):
    """True when text holds a character that ends a line or a string somewhere on a host."""
    return isinstance(text, str) and CONTROL.search(text) is not None


def is_reserved_account(name):
    return name in SYSTEM_ACCOUNTS or name.startswith(SYSTEM_ACCOUNT_PREFIXES)


def client_id_problem(cid):
    if not isinstance(cid, str) or not CLIENT_ID.fullmatch(cid):
        return "client ids are 1-31 of a-z, 0-9 and '-', starting with a letter (they name the system user)"
    if cid.endswith("-") or "--" in cid:
        return "client ids do not end with '-' nor hold '--' (they name PHP pools and units joined by '-')"
    if is_reserved_account(cid):
        return "client id %s is reserved: it is a system account or looks like one (docs/state.md#rules-for-values)" % cid
    return None


def reseller_name_problem(name):
    if not isinstance(name, str) or not RESELLER.fullmatch(name) or name.endswith("-") or "--" in name:
        return "must be a slug of 1-31 of a-z, 0-9 and '-', starting with a letter, no '--' nor trailing '-'"
    if is_reserved_account(name):
        return "reseller name %s is reserved (docs/state.md#rules-for-values)" % name
    return None


def password_hash_problem(value):
    """None for a whole hash of a known scheme; the rule otherwise (never the value)."""
    if not isinstance(value, str):
        return HASH_RULE
    for scheme, prefix, pattern, form in HASH_SCHEMES:
        if value.startswith(prefix):
            if pattern.fullmatch(value):
                return None
            return "must be a whole password hash: starts like %s but is not %s; the value is not shown" % (scheme, form)
    return HASH_RULE


def database_prefix(cid):
    """Database names and users of a client start with this: its id with '-' as '_', then '_'."""
    return cid.replace("-", "_") + "_"


def database_name_problem(name, prefix):
    if not isinstance(name, str) or not DB_NAME.fullmatch(name):
        return "database names are 1-64 of a-z, 0-9 and _"
    if name in SYSTEM_SCHEMAS:
        return "%s is a system schema of MariaDB" % name
    if not name.startswith(prefix) or name == prefix:
        return "database names start with the client's prefix %s (docs/state.md#rules-for-values)" % prefix
    return None


def database_user_problem(user, prefix):
    if not isinstance(user, str) or not DB_USER.fullmatch(user):
        return "database users are 1-32 of a-z, 0-9 and _"
    if user in RESERVED_DB_USERS:
        return "%s is a reserved MariaDB account" % user
    if not user.startswith(prefix) or user == prefix:
        return "database users start with the client's prefix %s (docs/state.md#rules-for-values)" % prefix
    return None


def host_problem(host):
    """A backup or IMAP host: a DNS name or a public IPv4 address, never this host or the loopback."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    if address is not None:
        if not address.is_global:
            return "the address %s is not a public address (loopback, private, link-local or reserved)" % address
        return None
    try:
        name = normalize_name(host)
    except InvalidName as exc:
        return "the host is not a valid name: %s" % exc
    if special_name(name):
        return "the host %s is a special-use name (localhost, .local, ...)" % name
    return None


def special_name(name):
    return any(is_under(name, tld) for tld in SPECIAL_TLDS)


def path_problem(path, placeholder):
    """The path of a repository: no '..', no leading '-', `{client}` only when allowed and only as itself."""
    if path.startswith("-") or "/-" in path:
        return "a path component must not start with '-'"
    if ".." in path.split("/"):
        return "the path must not contain '..'"
    rest = path.replace(PLACEHOLDER, "") if placeholder else path
    if "{" in rest or "}" in rest:
        return ("%s is the only placeholder, and only in a reseller target" % PLACEHOLDER if placeholder
                else "a client's own target takes no placeholder ({ or })")
    return None


def parse_repository(repository, placeholder=False):
    """(parts, None) for a repository of a supported backend, else (None, rule); the rule never holds the value."""
    if not isinstance(repository, str) or not repository:
        return None, "must be a non-empty string"
    if repository.startswith(REFUSED_BACKENDS):
        return None, "backend %s is not supported; %s" % (repository.split(":", 1)[0], REPOSITORY_RULE)
    forms = next((f for prefix, f in BACKENDS.items() if repository.startswith(prefix)), None)
    if forms is None:
        if repository.startswith(("/", ".", "~")) or ":" not in repository:
            return None, "a local repository (a path on the host itself) is refused: it must be outside the host; " + REPOSITORY_RULE
        return None, REPOSITORY_RULE
    for form in forms:
        match = REPOSITORY_FORMS[form][0].fullmatch(repository)
        if match:
            parts = {k: v for k, v in match.groupdict().items() if v is not None}
            parts["backend"] = form.split("-")[0]
            rule = repository_parts_problem(parts, placeholder)
            return (None, rule) if rule else (parts, None)
    return None, "not a whole %s repository: %s" % (forms[0].split("-")[0], " or ".join(REPOSITORY_FORMS[f][1] for f in forms))


def repository_parts_problem(parts, placeholder):
    for key in ("user", "host", "bucket"):
        if key in parts and "{" in parts[key]:
            return "%s stays in the path: not in the %s" % (PLACEHOLDER, key)
    if "host" in parts:
        rule = host_problem(parts["host"])
        if rule:
            return rule
    if "port" in parts and not 0 < int(parts["port"]) < 65536:
        return "the port must be a number from 1 to 65535"
    if parts["backend"] == "sftp" and not parts.get("path"):
        return "an sftp repository needs a path"
    return path_problem(parts.get("path", ""), placeholder)


def old_site_path_problem(path):
    """migration.site.path: under the client's old home or web root, never a system directory of the old host."""
    match = OLD_HOME.fullmatch(path) if isinstance(path, str) else None
    if not match:
        return OLD_PATH_RULE
    components = [match.group("account")] + match.group("rest").split("/")[1:]
    if any(c in (".", "..") for c in components):
        return OLD_PATH_RULE
    return None


def folder_name_problem(name):
    """An IMAP folder name of folder_map (old or new): it names a directory under the mailbox."""
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        return "folder names are strings of 1-255 characters"
    if control_char(name):
        return CONTROL_RULE
    if name.startswith(("/", "~")):
        return "a folder name must not start with '/' or '~'"
    if ".." in name:
        return "a folder name must not contain '..'"
    if "*" in name or "%" in name:
        return "a folder name must not contain the IMAP wildcards * or %"
    return None
