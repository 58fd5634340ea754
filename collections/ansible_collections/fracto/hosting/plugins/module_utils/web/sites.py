# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the nginx vhosts and PHP-FPM pools of a web host, and compare them with what is there.

Pure functions: no file system access except through the callables passed in, so that the
rendering and the plan are unit-tested without a host. The vhosts and pools are rendered from the
templates the role passes (roles/fracto_web/templates, module_utils/render.py) with a context of
checked values (site_context, pool_context); the first line of each file, which records its owner,
is written here. The shared files (TLS parameters, ACME challenge, default server) stay built here:
web_sites and mail_server both write them, on a host that may be in both groups.
"""

from __future__ import annotations

import os
import re
import stat as stat_mod

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils import tunables
from ansible_collections.fracto.hosting.plugins.module_utils.mail import autoconfig

MARK = "managed by fracto.hosting web_sites"
WEB_ROOT = "/srv/www"
TLS_KINDS = ("none", "acme", "custom")
# What may appear in a value of an nginx or PHP-FPM file: nothing either syntax treats specially (no space, ';',
# '{', '}', quote, '$', '#', '=', '[', newline, NUL...). Every value is also checked by its own rule before.
_CONF_VALUE = re.compile(r"[A-Za-z0-9._:/-]+")
# The comment of a system user the platform created: who created it for which reseller (GECOS field).
GECOS_MARK = "fracto client"
MIN_CLIENT_UID = 1000
MAX_CLIENT_UID = 59999  # Debian: 60000-64999 dynamic system users, 65534 nobody
NOLOGIN = "/usr/sbin/nologin"
NGINX_DIR = "/etc/nginx/fracto"
TLS_PARAMS = "%s/tls-params.conf" % NGINX_DIR
LOG_FORMATS = "%s/log-formats.conf" % NGINX_DIR
# The clients' logs: root's directory under the SFTP chroot, one directory per client that only root writes in, so
# that neither nginx's master nor logrotate (both root) ever opens a path a client can change; the client reaches it
# through the link `logs` in its home (docs/state.md#logs).
LOG_ROOT = "%s/.logs" % WEB_ROOT
LOG_LINK = "logs"
# file -> who writes it: nginx's master (root; reopened by its workers, www-data), PHP-FPM's master (root), or the
# client's PHP workers (error_log is opened by the worker, as the client).
LOG_FILES = {"access.log": "nginx", "error.log": "nginx", "php-error.log": "client", "php-slow.log": "root"}
TRUNCATED_LOG_FORMAT = "fracto_truncated"
LOGROTATE_DIR = "/etc/logrotate.d"
CHALLENGE = "%s/acme-challenge.conf" % NGINX_DIR
# Mozilla's intermediate profile (TLS 1.2 and 1.3).
MOZILLA_INTERMEDIATE_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
))


def conf(value):
    """value, once it is known to be safe inside an nginx or PHP-FPM file (the writer's own last check)."""
    if not isinstance(value, str) or not _CONF_VALUE.fullmatch(value):
        raise g.Refused("a configuration value", "only A-Z, a-z, 0-9, '.', '_', ':', '/', '-' go into nginx and PHP-FPM files",
                        value)
    return value


def home_of(client):
    return "%s/%s" % (WEB_ROOT, client)


def log_path(client, name=None):
    """A client's log directory, or one of its LOG_FILES in it."""
    path = "%s/%s" % (LOG_ROOT, conf(client))
    return path if name is None else "%s/%s" % (path, name)


def logrotate_path(client):
    return "%s/fracto-client-%s" % (LOGROTATE_DIR, g.client_id("logrotate client", client))


def docroot_of(client, name):
    return "%s/%s/public" % (home_of(client), name)


def check_args(sites, pools, users, clients, reseller=None, webroot="/var/lib/fracto/acme", store="/etc/fracto/tls"):
    """Refuse (raise argguard.Refused naming the option and the rule) any value that does not fit its whitelist.

    Names are DNS names, client ids slugs that are no system account, PHP versions N.N, and every path is
    rebuilt from those parts (the home is /srv/www/<client>, a docroot <home>/<name>/public): a path the
    arguments give must be exactly that, so nothing else ever reaches a config file or a file operation.
    """
    g.reseller("reseller", reseller, required=False)
    g.abs_path("webroot", webroot)
    g.abs_path("store", store)
    g.string_list("clients", clients, g.client_id)
    homes = {}
    for i, user in enumerate(users):
        name, home = _check_user("users[%d]" % i, user)
        homes[name] = home
    for i, pool in enumerate(pools):
        _check_pool("php_pools[%d]" % i, pool, homes)
    for i, site in enumerate(sites):
        _check_site("sites[%d]" % i, site, homes)


def _check_user(at, user):
    """One of check_args' users; returns (client id, home)."""
    name = g.client_id(at + ".name", user.get("name"))
    if g.reserved_user(name):
        raise g.Refused(at + ".name", "a client id must not be a system or service account (root, www-data, mysql, ...)", name)
    if user.get("client") != name:
        raise g.Refused(at + ".client", "a client's system user is named after its client id", user.get("client"))
    if user.get("home") != home_of(name):
        raise g.Refused(at + ".home", "a client's home is %s/<client id>" % WEB_ROOT, user.get("home"))
    days = user.get("log_retention_days", tunables.LOG_DAYS_DEFAULT)
    if tunables.log_days_problem(days):
        raise g.Refused(at + ".log_retention_days", tunables.LOG_DAYS_RULE, days)
    return name, user["home"]


def _client_of(at, entry, homes, client_rule, user_rule):
    """The client of a PHP pool or a site (entry): one of homes, and the user it runs as (refused with the rules given)."""
    client = g.client_id(at + ".client", entry.get("client"))
    if client not in homes:
        raise g.Refused(at + ".client", client_rule, client)
    if entry.get("user") != client:
        raise g.Refused(at + ".user", user_rule, entry.get("user"))
    return client


def _check_pool(at, pool, homes):
    """One of check_args' PHP pools, of a client among homes."""
    client = _client_of(at, pool, homes, "a PHP pool's client must be one of users", "a PHP pool runs as its client's own user")
    version = g.want(at + ".version", pool.get("version"), g.PHP_VERSION, "a PHP version is N.N")
    if pool.get("name") != "%s-%s" % (client, version):
        raise g.Refused(at + ".name", "a PHP pool is named <client>-<version>", pool.get("name"))
    php_ini = pool.get("php_ini") or {}
    if not isinstance(php_ini, dict):
        raise g.Refused(at + ".php_ini", "must be a mapping of PHP setting to value", php_ini)
    for name, value in php_ini.items():
        rule = tunables.php_ini_problem(name, value)
        if rule:
            raise g.Refused("%s.php_ini.%s" % (at, name), rule, value)
    if pool.get("max_children") is not None and tunables.max_children_problem(pool["max_children"]):
        raise g.Refused(at + ".max_children", tunables.MAX_CHILDREN_RULE, pool["max_children"])


def _check_site(at, site, homes):
    """One of check_args' sites (vhosts), of a client among homes."""
    client = _client_of(at, site, homes, "a site's client must be one of users", "a site is served as its client's own user")
    name = g.dns_name(at + ".name", site.get("name"))
    g.string_list(at + ".aliases", site.get("aliases", []), g.dns_name)
    if site.get("docroot") != docroot_of(client, name):
        raise g.Refused(at + ".docroot", "a docroot is %s/<client>/<name>/public" % WEB_ROOT, site.get("docroot"))
    if site.get("php") not in (None, False):  # a static site has none
        g.want(at + ".php", site["php"], g.PHP_VERSION, "a PHP version is N.N")
    if site.get("tls") not in TLS_KINDS:
        raise g.Refused(at + ".tls", "one of %s" % ", ".join(TLS_KINDS), site.get("tls"))
    if site.get("certificate") is not None:
        g.safe_id(at + ".certificate", site["certificate"])
    if site.get("ipv4") is not None:
        g.ipv4(at + ".ipv4", site["ipv4"])
    for key in ("https_redirect", "hsts", "log_truncate_ip"):
        g.flag("%s.%s" % (at, key), site.get(key, False))
    g.string_list(at + ".deny", site.get("deny", []), g.url_path)
    if site.get("mail_autoconfig") is not None:
        g.dns_name(at + ".mail_autoconfig", site["mail_autoconfig"])
    if site.get("client_max_body_size") is not None:
        rule = tunables.body_size_problem(site["client_max_body_size"])
        if rule:
            raise g.Refused(at + ".client_max_body_size", rule, site["client_max_body_size"])


def gecos(reseller):
    """The GECOS comment of a system user the platform creates for a client of reseller."""
    return "%s %s" % (GECOS_MARK, reseller or "-")


def account_verdict(name, reseller, account=None, primary_group_gid=None, home_stat=None, www_data_gid=None):
    """What web_sites may do with the system user of client name: (verdict, reason).

    verdict is "create" (no such user), "ours" (created by the platform for this reseller, with the GECOS mark),
    "adopt" (created by an earlier version of the platform: no GECOS, the platform's home, shell and home
    directory; it gets the mark) or None with the reason it is refused: a system or service account, a uid
    below 1000, another reseller's client, or any user the platform did not create. A refused user never gets
    a PHP pool, a home or a docroot.
    account is the pwd entry (None when there is no such user), primary_group_gid the gid of the group named
    like it, home_stat the lstat() of its home (None when missing), www_data_gid the gid of www-data.
    """
    if g.reserved_user(name):
        return None, "a client id must not be a system or service account"
    if account is None:
        return "create", None
    if not MIN_CLIENT_UID <= account.pw_uid <= MAX_CLIENT_UID:
        return None, "the existing user %s has uid %d: a client's user has a uid from %d to %d" % (
            name, account.pw_uid, MIN_CLIENT_UID, MAX_CLIENT_UID)
    if primary_group_gid is None or account.pw_gid != primary_group_gid or not MIN_CLIENT_UID <= account.pw_gid <= MAX_CLIENT_UID:
        return None, "the existing user %s does not have its own group (gid %d) as its primary group" % (name, account.pw_gid)
    comment = account.pw_gecos.split(",", 1)[0]
    if comment == gecos(reseller):
        if account.pw_dir != home_of(name):
            return None, "the existing user %s has home %s, not %s" % (name, account.pw_dir, home_of(name))
        return "ours", None
    if comment.startswith(GECOS_MARK + " "):
        return None, "the user %s is a client of reseller %s on this host" % (name, comment[len(GECOS_MARK) + 1:])
    legacy = (account.pw_gecos == "" and account.pw_dir == home_of(name) and account.pw_shell == NOLOGIN
              and home_stat is not None and stat_mod.S_ISDIR(home_stat.st_mode) and home_stat.st_uid == account.pw_uid
              and home_stat.st_gid == www_data_gid and stat_mod.S_IMODE(home_stat.st_mode) == 0o2750)
    if legacy:
        return "adopt", None
    return None, "the user %s exists and was not created by the platform" % name


def header(client, what, reseller=None):
    """First line of a managed file: who owns it (resellers can share a host, client ids are per reseller)."""
    owner = "reseller=%s client=%s" % (conf(reseller), conf(client)) if reseller else "client=%s" % conf(client)
    return "# %s: %s %s\n" % (MARK, owner, what)


def _field(content, key):
    first = content.split("\n", 1)[0]
    if MARK not in first or key + "=" not in first:
        return None
    return first.split(key + "=", 1)[1].split()[0]


def owner_of(content):
    """The client a managed file belongs to, from its first line; None for a file we do not manage."""
    return _field(content, "client")


def reseller_of(content):
    return _field(content, "reseller")


def php_socket(client, version):
    return "/run/php/fracto-%s-%s.sock" % (conf(client), conf(version))


def shared_files(webroot):
    """Files every web host has: TLS parameters, the ACME challenge location, the default server."""
    tls = (
        "# %s\n" % MARK
        + "ssl_protocols TLSv1.2 TLSv1.3;\n"
        + "ssl_ciphers %s;\n" % MOZILLA_INTERMEDIATE_CIPHERS
        + "ssl_ecdh_curve X25519:prime256v1:secp384r1;\n"
        + "ssl_session_timeout 1d;\n"
        + "ssl_session_cache shared:FractoTLS:10m;\n"
        + "ssl_session_tickets off;\n"
    )
    challenge = (
        "# %s\n" % MARK
        + "location ^~ /.well-known/acme-challenge/ {\n"
        + "    root %s;\n" % conf(webroot)
        + "    default_type text/plain;\n"
        + "    try_files $uri =404;\n"
        + "}\n"
    )
    default = (
        "# %s\n" % MARK
        + "# The default server answers names that no client has: it serves none of the clients' sites.\n"
        + "server {\n"
        + "    listen 80 default_server;\n"
        + "    server_name _;\n"
        + "    include %s;\n" % CHALLENGE
        + "    location / {\n        return 404;\n    }\n"
        + "}\n"
        + "server {\n"
        + "    listen 443 ssl default_server;\n"
        + "    server_name _;\n"
        + "    ssl_reject_handshake on;\n"
        + "    include %s;  # TLS versions are chosen before SNI: the default server sets them\n" % TLS_PARAMS
        + "}\n"
    )
    # A client's access log with the visitor's network only (a package's web.log_truncate_ip): IPv4 keeps its /24,
    # IPv6 its first three groups (/48), anything else becomes "::". No user name (basic auth) either.
    log_formats = (
        "# %s\n" % MARK
        + "map $remote_addr $fracto_truncated_addr {\n"
        + "    \"~^(?<fracto_ipv4_net>[0-9]+\\.[0-9]+\\.[0-9]+)\\.[0-9]+$\" \"${fracto_ipv4_net}.0\";\n"
        + "    \"~^(?<fracto_ipv6_net>[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}):\" \"${fracto_ipv6_net}::\";\n"
        + "    default \"::\";\n"
        + "}\n"
        + "log_format %s '$fracto_truncated_addr - - [$time_local] \"$request\" $status $body_bytes_sent "
          "\"$http_referer\" \"$http_user_agent\"';\n" % TRUNCATED_LOG_FORMAT
    )
    include = "# %s\ninclude %s;\ninclude %s/sites/*.conf;\n" % (MARK, LOG_FORMATS, NGINX_DIR)
    return {
        TLS_PARAMS: tls,
        LOG_FORMATS: log_formats,
        CHALLENGE: challenge,
        "%s/default.conf" % NGINX_DIR: default,
        "/etc/nginx/conf.d/fracto.conf": include + "include %s/default.conf;\n" % NGINX_DIR,
    }


TEMPLATES = ("nginx_site", "php_pool", "logrotate")
# What the platform operator may add to every client server block (fracto_web__nginx_server_extra): lines of nginx
# directives; only a character that would end a line somewhere else than nginx expects is refused.
_EXTRA_LINE = re.compile("[^\x00-\x08\x0a-\x1f\x7f\u2028\u2029]*")
# The operator's PHP ini settings of every pool (fracto_web__php_ini): an ini name and a one-line value.
_INI_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")
_INI_VALUE = re.compile("[^\x00-\x1f\x7f\u2028\u2029\\]]{0,1000}")


def operator_settings(nginx_server_extra="", php_ini=None):
    """(server_extra lines, php_ini) of the platform operator's settings, checked; raises argguard.Refused.

    These are role variables of the platform inventory (a reseller's state never sets them): free-form nginx
    directives and any PHP ini setting, but each line stays one line of its file.
    """
    if not isinstance(nginx_server_extra, str):
        raise g.Refused("nginx_server_extra", "must be a string of nginx directives", nginx_server_extra)
    lines = [line.rstrip() for line in nginx_server_extra.split("\n")]
    for line in lines:
        if not _EXTRA_LINE.fullmatch(line):
            raise g.Refused("nginx_server_extra", "no control character other than a newline or a tab", line)
    if not isinstance(php_ini or {}, dict):
        raise g.Refused("php_ini", "must be a mapping of PHP ini name to value", php_ini)
    settings = {}
    for name, value in sorted((php_ini or {}).items()):
        g.want("php_ini", name, _INI_NAME, "a PHP ini name is [A-Za-z_][A-Za-z0-9_.]*")
        if isinstance(value, bool):
            value = "On" if value else "Off"
        elif isinstance(value, (int, float)):
            value = str(value)
        settings[name] = g.want("php_ini[%s]" % name, value, _INI_VALUE, "a PHP ini value is one line without ']'")
    return [line for line in lines if line.strip()], settings


def _http_servers(names, secure, redirect, ip_default):
    """The port 80 servers of a vhost: the names served over HTTPS redirect there (when the package says so), the
    others serve the site; the first one is the dedicated address's default server when ip_default."""
    groups = ((secure, True), ([n for n in names if n not in secure], False)) if redirect else ((names, False),)
    servers = []
    for group, redirected in groups:
        if group:
            servers.append({"names": group, "redirect": redirected, "default_server": bool(ip_default and not servers)})
    return servers


def site_context(site, cert_paths, ip_default=False, server_extra=()):
    """The context of the nginx_site template, every value checked (conf()) before it is handed over.

    cert_paths is (fullchain, key, covered names) of the site's certificate when it is installed and covers the
    vhost's primary name, else None. Names the certificate does not cover (an alias whose DNS is elsewhere) stay on
    HTTP; the others keep HTTPS. A site of a client with a dedicated address (site["ipv4"]) also listens on it;
    ip_default makes it that address's default server on 80 and 443 (the client's main site, with its certificate).
    """
    names = [conf(n) for n in [site["name"]] + list(site["aliases"])]
    tls = cert_paths is not None
    secure = [n for n in names if tls and n in cert_paths[2]]
    body_size = site.get("client_max_body_size")
    return {
        "site": {
            "name": names[0], "aliases": names[1:], "client": conf(site["client"]), "docroot": conf(site["docroot"]),
            "php": conf(site["php"]) if site["php"] else None, "tls": conf(site["tls"]) if tls else "none",
            "hsts": bool(site["hsts"]), "https_redirect": bool(tls and site["https_redirect"]),
            "ipv4": conf(site["ipv4"]) if site.get("ipv4") else None,
            "client_max_body_size": conf(str(body_size)) if body_size is not None else None,
            "deny": [g.url_path("deny", path) for path in site.get("deny", [])],
            "mail_autoconfig": _mail_autoconfig(names[0], site.get("mail_autoconfig")),
            "logs": {"access": log_path(site["client"], "access.log"), "error": log_path(site["client"], "error.log"),
                     "format": TRUNCATED_LOG_FORMAT if site.get("log_truncate_ip") else None},
        },
        "http_servers": _http_servers(names, secure, tls and site["https_redirect"], ip_default),
        "https": {"names": secure, "certificate": conf(cert_paths[0]), "key": conf(cert_paths[1]),
                  "default_server": bool(ip_default)} if tls else None,
        "php_socket": php_socket(site["client"], site["php"]) if site["php"] else None,
        "challenge": CHALLENGE,
        "tls_params": TLS_PARAMS,
        "nginx_server_extra": list(server_extra),
    }


def _mail_autoconfig(name, mail_name):
    """{path, body} of Thunderbird's document for the site's domain (its mail at mail_name), or None."""
    if not mail_name:
        return None
    return {"path": autoconfig.SITE_PATH,
            "body": autoconfig.nginx_string(autoconfig.thunderbird(name, g.dns_name("mail_autoconfig", mail_name)))}


def render_site(site, cert_paths, reseller=None, ip_default=False, server_extra=(), *, templates):
    """One vhost: port 80 (challenge, then redirect or content) and port 443 when its certificate is present.

    The first line (who owns the file, read back by owner_of and reseller_of) is the module's; the nginx_site
    template of templates (render.Templates) renders the rest from site_context().
    """
    context = site_context(site, cert_paths, ip_default, server_extra)
    what = "site=%s tls=%s" % (context["site"]["name"], context["site"]["tls"])
    return header(site["client"], what, reseller) + templates.render("nginx_site", context)


def pool_context(pool, home, php_ini=None):
    """The context of the php_pool template: the pool's names and paths, its PHP ini settings: the operator's
    (php_ini), and the package's whitelisted ones (pool["php_ini"], module_utils/tunables.py) over them, and its
    process limit (the package's php_max_children, else tunables.MAX_CHILDREN_DEFAULT)."""
    settings = dict(php_ini or {})
    settings.update((conf(name), conf(str(value))) for name, value in (pool.get("php_ini") or {}).items())
    return {
        "pool": {"name": conf(pool["name"]), "client": conf(pool["client"]), "user": conf(pool["user"]),
                 "version": conf(pool["version"])},
        "home": conf(home),
        "socket": php_socket(pool["client"], pool["version"]),
        "logs": {"error": log_path(pool["client"], "php-error.log"), "slow": log_path(pool["client"], "php-slow.log")},
        "php_ini": {name: settings[name] for name in sorted(settings)},
        "max_children": int(pool.get("max_children") or tunables.MAX_CHILDREN_DEFAULT),
    }


def render_pool(pool, home, reseller=None, php_ini=None, *, templates):
    """One PHP-FPM pool; the first line (owner and PHP version) is the module's, the php_pool template the rest."""
    owner = "reseller=%s client=%s" % (conf(reseller), conf(pool["client"])) if reseller else "client=%s" % conf(pool["client"])
    context = pool_context(pool, home, php_ini)
    return "; %s: %s php=%s\n" % (MARK, owner, context["pool"]["version"]) + templates.render("php_pool", context)


def logrotate_context(user):
    """The context of the logrotate template: the client's log files (those root's processes write, and the one its
    own PHP writes), its user and group, how many days are kept."""
    client = conf(user["client"])
    return {"client": client, "user": conf(user["name"]), "group": conf(user["name"]),
            "days": int(user.get("log_retention_days") or tunables.LOG_DAYS_DEFAULT),
            "files": [log_path(client, name) for name, writer in LOG_FILES.items() if writer != "client"],
            "client_files": [log_path(client, name) for name, writer in LOG_FILES.items() if writer == "client"]}


def render_logrotate(user, reseller=None, *, templates):
    """One client's logrotate file; the first line (owner) is the module's, the logrotate template the rest."""
    return header(user["client"], "logs", reseller) + templates.render("logrotate", logrotate_context(user))


def site_path(name):
    return "%s/sites/%s.conf" % (NGINX_DIR, g.dns_name("site name", name))


def pool_path(pool):
    return "/etc/php/%s/fpm/pool.d/fracto-%s.conf" % (g.want("php version", pool["version"], g.PHP_VERSION, "N.N"),
                                                      g.client_id("pool client", pool["client"]))


def ip_default_sites(sites):
    """The names of the sites that are the default server of their dedicated address: the first site of the
    state (clients in order, a client's first domain first) on each address, that is the main site of the
    address's first client."""
    defaults = {}
    for site in sites:
        if site.get("ipv4"):
            defaults.setdefault(site["ipv4"], site["name"])
    return set(defaults.values())


def wanted_files(sites, pools, users, cert_lookup, webroot, reseller=None, server_extra=(), php_ini=None, *, templates):
    """{path: content} of every file the web host should have.

    cert_lookup(certificate id, names) -> (fullchain, key, covered names) when that certificate is
    installed and covers the vhost's primary name, else None: a name is never served over HTTPS with a
    certificate that does not cover it. templates: render.Templates with nginx_site and php_pool; server_extra and
    php_ini: the operator's settings, as operator_settings() returns them.
    """
    homes = {u["client"]: u["home"] for u in users}
    files = dict(shared_files(webroot))
    ip_defaults = ip_default_sites(sites)
    for site in sites:
        names = [site["name"]] + list(site["aliases"])
        cert = cert_lookup(site["certificate"], names) if site["tls"] != "none" and site["certificate"] else None
        files[site_path(site["name"])] = render_site(site, cert, reseller, ip_default=site["name"] in ip_defaults,
                                                     server_extra=server_extra, templates=templates)
    for user in users:
        files[logrotate_path(user["client"])] = render_logrotate(user, reseller, templates=templates)
    for pool in pools:
        files[pool_path(pool)] = render_pool(pool, homes.get(pool["client"], home_of(pool["client"])), reseller, php_ini,
                                             templates=templates)
    return files


def plan_files(current, wanted, present_clients, prune, reseller=None):
    """Compare current managed files with the wanted ones.

    Returns (writes {path: content}, removes [path], kept [path], conflicts [path]): files of clients
    that left the state are kept unless prune; files of another reseller are never touched, and a
    wanted file that another reseller owns is a conflict, not an overwrite.
    """
    conflicts = sorted(p for p in wanted if p in current and reseller_of(current[p]) not in (None, reseller))
    writes = {p: c for p, c in wanted.items() if current.get(p) != c and p not in conflicts}
    removes, kept = [], []
    for path, content in current.items():
        if path in wanted or reseller_of(content) not in (None, reseller):
            continue
        owner = owner_of(content)
        if owner is None or owner in present_clients or prune:
            removes.append(path)
        else:
            kept.append(path)
    return writes, sorted(removes), sorted(kept), conflicts


def describe(path, before, after):
    """A change line of the plan for one managed file (kind vhost, php_pool or web_config)."""
    base = os.path.basename(path)
    if path.startswith(NGINX_DIR + "/sites/"):
        kind, ident = "vhost", base[:-len(".conf")]
    elif "/fpm/pool.d/" in path:
        kind, ident = "php_pool", base[len("fracto-"):-len(".conf")] + " (php " + path.split("/")[3] + ")"
    elif path.startswith(LOGROTATE_DIR + "/"):
        kind, ident = "logrotate", base[len("fracto-client-"):]
    else:
        kind, ident = "web_config", path
    client = owner_of(after if after is not None else before) or "(reseller)"
    if before is None:
        return {"action": "create", "kind": kind, "id": ident, "client": client, "detail": ["nginx/php config written"]}
    if after is None:
        return {"action": "remove", "kind": kind, "id": ident, "client": client, "detail": ["config removed"]}
    detail = []
    old_first, new_first = before.split("\n", 1)[0], after.split("\n", 1)[0]
    if "tls=" in new_first and old_first != new_first:
        detail.append("tls: %s -> %s" % (old_first.rsplit("tls=", 1)[-1], new_first.rsplit("tls=", 1)[-1]))
    if not detail:
        detail.append("config updated")
    return {"action": "change", "kind": kind, "id": ident, "client": client, "detail": detail}
