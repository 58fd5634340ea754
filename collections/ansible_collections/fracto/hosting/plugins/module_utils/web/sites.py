# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the nginx vhosts and PHP-FPM pools of a web host, and compare them with what is there.

Pure functions: no file system access except through the callables passed in, so that the
rendering and the plan are unit-tested without a host.
"""

from __future__ import annotations

import os

MARK = "managed by fracto.hosting web_sites"
NGINX_DIR = "/etc/nginx/fracto"
TLS_PARAMS = "%s/tls-params.conf" % NGINX_DIR
CHALLENGE = "%s/acme-challenge.conf" % NGINX_DIR
# Mozilla's intermediate profile (TLS 1.2 and 1.3).
MOZILLA_INTERMEDIATE_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
))


def header(client, what, reseller=None):
    """First line of a managed file: who owns it (resellers can share a host, client ids are per reseller)."""
    owner = "reseller=%s client=%s" % (reseller, client) if reseller else "client=%s" % client
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
    return "/run/php/fracto-%s-%s.sock" % (client, version)


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
        + "    root %s;\n" % webroot
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
    include = "# %s\ninclude %s/sites/*.conf;\n" % (MARK, NGINX_DIR)
    return {
        TLS_PARAMS: tls,
        CHALLENGE: challenge,
        "%s/default.conf" % NGINX_DIR: default,
        "/etc/nginx/conf.d/fracto.conf": include + "include %s/default.conf;\n" % NGINX_DIR,
    }


def _site_body(site):
    lines = [
        "    root %s;\n" % site["docroot"],
        "    disable_symlinks if_not_owner;  # a client's symlink cannot reach another client's files\n",
        "    index %s;\n" % ("index.php index.html" if site["php"] else "index.html"),
        "    access_log /var/log/nginx/fracto-%s.access.log;\n" % site["client"],
        "    error_log /var/log/nginx/fracto-%s.error.log;\n" % site["client"],
        "    location ~ /\\.(?!well-known) {\n        deny all;\n    }\n",
    ]
    if site["php"]:
        lines += [
            "    location / {\n        try_files $uri $uri/ /index.php?$args;\n    }\n",
            "    location ~ \\.php$ {\n",
            "        include snippets/fastcgi-php.conf;\n",
            "        fastcgi_pass unix:%s;\n" % php_socket(site["client"], site["php"]),
            "    }\n",
        ]
    else:
        lines.append("    location / {\n        try_files $uri $uri/ =404;\n    }\n")
    return "".join(lines)


def _listen(site, port, options, default):
    """The listen lines of a server: every address, and the client's dedicated address when it has one.

    nginx picks the servers of a connection by the address it arrived on: a server listening on IP:port is
    the only kind considered for connections to IP, so other clients' vhosts never answer there. The
    dedicated address's default server (default) answers requests without a Host header or SNI.
    """
    lines = "    listen %s%s;\n" % (port, options)
    if site.get("ipv4"):
        lines += "    listen %s:%s%s%s;\n" % (site["ipv4"], port, options, " default_server" if default else "")
    return lines


def render_site(site, cert_paths, reseller=None, ip_default=False):
    """One vhost: port 80 (challenge, then redirect or content) and port 443 when its certificate is present.

    cert_paths is (fullchain, key, covered names) of the site's certificate when it is installed and
    covers the vhost's primary name, else None. Names the certificate does not cover (an alias whose
    DNS is elsewhere) stay on HTTP; the others keep HTTPS. A site of a client with a dedicated address
    (site["ipv4"]) also listens on it; ip_default makes it that address's default server on 80 and 443
    (the client's main site, with its certificate).
    """
    all_names = [site["name"]] + list(site["aliases"])
    tls = cert_paths is not None
    secure = [n for n in all_names if tls and n in cert_paths[2]]
    plain = [n for n in all_names if n not in secure]
    out = [header(site["client"], "site=%s tls=%s" % (site["name"], site["tls"] if tls else "none"), reseller)]
    redirect = tls and site["https_redirect"]
    first = True
    for group, redirected in ((secure, True), (plain, False)) if redirect else ((all_names, False),):
        if not group:
            continue
        out.append("server {\n%s    server_name %s;\n    include %s;\n"
                   % (_listen(site, 80, "", ip_default and first), " ".join(group), CHALLENGE))
        first = False
        if redirected:
            out.append("    location / {\n        return 301 https://$host$request_uri;\n    }\n")
        else:
            out.append(_site_body(site))
        out.append("}\n")
    if tls:
        out.append("server {\n%s    server_name %s;\n" % (_listen(site, 443, " ssl http2", ip_default), " ".join(secure)))
        out.append("    ssl_certificate %s;\n    ssl_certificate_key %s;\n    include %s;\n" % (cert_paths[0], cert_paths[1], TLS_PARAMS))
        if site["hsts"]:
            out.append('    add_header Strict-Transport-Security "max-age=63072000" always;\n')
        out.append(_site_body(site))
        out.append("}\n")
    return "".join(out)


def render_pool(pool, home, reseller=None):
    owner = "reseller=%s client=%s" % (reseller, pool["client"]) if reseller else "client=%s" % pool["client"]
    return (
        "; %s: %s php=%s\n" % (MARK, owner, pool["version"])
        + "[%s]\n" % pool["name"]
        + "user = %s\n" % pool["user"]
        + "group = %s\n" % pool["user"]
        + "listen = %s\n" % php_socket(pool["client"], pool["version"])
        + "listen.owner = www-data\nlisten.group = www-data\nlisten.mode = 0660\n"
        + "pm = ondemand\npm.max_children = 5\npm.process_idle_timeout = 60s\n"
        + "chdir = /\n"
        + "php_admin_value[open_basedir] = %s/\n" % home
        # The client's own temporary directory: nothing it leaves there is readable by another client.
        + "php_admin_value[upload_tmp_dir] = %s/tmp\n" % home
        + "php_admin_value[sys_temp_dir] = %s/tmp\n" % home
        + "php_admin_value[session.save_path] = %s/tmp\n" % home
        + "php_admin_flag[log_errors] = on\n"
    )


def site_path(name):
    return "%s/sites/%s.conf" % (NGINX_DIR, name)


def pool_path(pool):
    return "/etc/php/%s/fpm/pool.d/fracto-%s.conf" % (pool["version"], pool["client"])


def ip_default_sites(sites):
    """The names of the sites that are the default server of their dedicated address: the first site of the
    state (clients in order, a client's first domain first) on each address, that is the main site of the
    address's first client."""
    defaults = {}
    for site in sites:
        if site.get("ipv4"):
            defaults.setdefault(site["ipv4"], site["name"])
    return set(defaults.values())


def wanted_files(sites, pools, users, cert_lookup, webroot, reseller=None):
    """{path: content} of every file the web host should have.

    cert_lookup(certificate id, names) -> (fullchain, key, covered names) when that certificate is
    installed and covers the vhost's primary name, else None: a name is never served over HTTPS with a
    certificate that does not cover it.
    """
    homes = {u["client"]: u["home"] for u in users}
    files = dict(shared_files(webroot))
    ip_defaults = ip_default_sites(sites)
    for site in sites:
        names = [site["name"]] + list(site["aliases"])
        cert = cert_lookup(site["certificate"], names) if site["tls"] != "none" and site["certificate"] else None
        files[site_path(site["name"])] = render_site(site, cert, reseller, ip_default=site["name"] in ip_defaults)
    for pool in pools:
        files[pool_path(pool)] = render_pool(pool, homes.get(pool["client"], "/srv/www/%s" % pool["client"]), reseller)
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
