#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: web_sites
short_description: Converge every site of a web host in one call (users, docroots, PHP-FPM pools, nginx vhosts)
version_added: 1.0.0
description:
  - Takes the web slice of the host's desired state (C(fracto.hosting.client_state) with C(resolve=true))
    and converges, in one call, the clients' system users and homes (mode 0750, group C(www-data), so
    that clients cannot read each other's files), a docroot per domain and subdomain (created once, never
    overwritten), one PHP-FPM pool per client and PHP version running as the client's user, and one
    nginx vhost file per domain (with its aliases) and per subdomain.
  - A vhost gets its HTTPS server only once its certificate is installed in O(store) (see
    M(fracto.hosting.tls_certificates)); until then it is served over HTTP. Every port 80 server answers
    C(/.well-known/acme-challenge/) from O(webroot). TLS follows Mozilla's intermediate profile.
  - A default server answers names that no client has (404 over HTTP, handshake refused over HTTPS).
  - The new configuration is checked with C(nginx -t) and C(php-fpm<version> -t) before the module
    returns; on failure every file is put back as it was and the module fails with the checker's message.
    Reloading is left to the role's handlers.
  - Files of clients that left the state are kept unless O(prune=true); their site files are never deleted.
extends_documentation_fragment:
  - fracto.hosting.host_slice
  - fracto.hosting.host_files
options:
  sites:
    description: The vhosts, as C(fracto_state.hosts[host].sites).
    type: list
    elements: dict
    required: true
  users:
    description: The clients' system users, as C(fracto_state.hosts[host].system_users).
    type: list
    elements: dict
    required: true
  php_pools:
    description: The PHP-FPM pools, as C(fracto_state.hosts[host].php_pools).
    type: list
    elements: dict
    default: []
  reseller:
    description:
      - The reseller whose sites these are, written into each managed file. Resellers can share a host;
        files of another reseller are never changed or removed, and a name clash with one fails the run.
    type: str
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Converge every vhost, pool and client user of this host
  fracto.hosting.web_sites:
    sites: "{{ fracto_state.hosts[inventory_hostname].sites }}"
    users: "{{ fracto_state.hosts[inventory_hostname].system_users }}"
    php_pools: "{{ fracto_state.hosts[inventory_hostname].php_pools }}"
    clients: "{{ fracto_state_public.clients | list }}"
"""

RETURN = r"""
changes:
  description: One entry per vhost, pool, user or docroot created, changed or removed (see M(fracto.hosting.host_state)).
  returned: always
  type: list
  elements: dict
nginx_changed:
  description: Whether nginx's configuration changed (the role reloads nginx then).
  returned: always
  type: bool
php_changed:
  description: The PHP versions whose pools changed (the role reloads those php-fpm services).
  returned: always
  type: list
  elements: str
kept:
  description: Files of clients that left the state, kept because O(prune) is off.
  returned: always
  type: list
  elements: str
"""

import glob
import grp
import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text, write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import covered_by
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import NGINX_DIR, describe, plan_files, wanted_files

INDEX = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%(name)s</title></head>
<body><h1>%(name)s</h1><p>This site is hosted on FractoCloud.</p></body></html>
"""


def current_files(wanted):
    paths = set(glob.glob(NGINX_DIR + "/sites/*.conf")) | set(glob.glob("/etc/php/*/fpm/pool.d/fracto-*.conf")) | set(wanted)
    return {p: c for p, c in ((p, read_text(p)) for p in sorted(paths)) if c is not None}


def ensure_users(module, users, sites, check):
    """System users, their homes, docroots and PHP temporary directories; returns change entries.

    Only the home is made by root (its parent /srv/www is root's); everything inside a home is made
    as the client (runuser), so a symlink the client planted cannot turn a root write against the host.
    """
    changes = []
    for user in users:
        try:
            pwd.getpwnam(user["name"])
        except KeyError:
            changes.append({"action": "create", "kind": "system_user", "id": user["name"], "client": user["client"],
                            "detail": ["home %s" % user["home"]]})
            if not check:
                module.run_command(["useradd", "--home-dir", user["home"], "--no-create-home", "--shell", "/usr/sbin/nologin",
                                    "--user-group", user["name"]], check_rc=True)
        if not check:
            ensure_home(module, user["home"], user["name"])
            as_client(module, user["name"], 'mkdir -p -m 0700 "$1/tmp"', user["home"])
    for site in sites:
        if os.path.isdir(site["docroot"]):
            continue
        changes.append({"action": "create", "kind": "docroot", "id": site["docroot"], "client": site["client"], "detail": []})
        if not check:
            as_client(module, site["user"], 'mkdir -p "$1" && { [ -e "$1/index.html" ] || printf "%s" "$2" > "$1/index.html"; }',
                      site["docroot"], INDEX % {"name": site["name"]})
    return changes


def as_client(module, user, script, *args):
    """Run a small sh script as the client, group-readable for nginx (the home is setgid www-data)."""
    module.run_command(["runuser", "-u", user, "--", "sh", "-c", "umask 027; " + script, "sh"] + list(args), check_rc=True)


def ensure_home(module, path, owner):
    """The client's home: owner the client, group www-data (nginx reads), setgid so that what the
    client creates stays readable by nginx, nobody else. Refuses a symlink in its place."""
    try:
        stat = os.lstat(path)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)  # /srv/www on a fresh host (root's)
        os.mkdir(path, 0o750)
        stat = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path):
        module.fail_json(msg="%s is not a directory (a symlink or a file is in the way); nothing was changed there" % path)
    uid, gid = pwd.getpwnam(owner).pw_uid, grp.getgrnam("www-data").gr_gid
    if (stat.st_uid, stat.st_gid) != (uid, gid):
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.st_mode & 0o7777 != 0o2750:
        os.chmod(path, 0o2750)


def check_config(module, pool_versions):
    rc, out, err = module.run_command(["nginx", "-t"])
    if rc != 0:
        return "nginx -t failed: %s" % (err or out).strip()
    for version in sorted(pool_versions):
        rc, out, err = module.run_command(["php-fpm%s" % version, "-t"])
        if rc != 0:
            return "php-fpm%s -t failed: %s" % (version, (err or out).strip())
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sites=dict(type="list", elements="dict", required=True),
            users=dict(type="list", elements="dict", required=True),
            php_pools=dict(type="list", elements="dict", default=[]),
            clients=dict(type="list", elements="str", required=True),
            prune=dict(type="bool", default=False),
            store=dict(type="path", default="/etc/fracto/tls"),
            webroot=dict(type="path", default="/var/lib/fracto/acme"),
            reseller=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    check = module.check_mode

    def cert_lookup(cert_id, names):
        directory = os.path.join(p["store"], cert_id)
        fullchain, key = os.path.join(directory, "fullchain.pem"), os.path.join(directory, "privkey.pem")
        try:
            with open(os.path.join(directory, "meta.json"), encoding="utf-8") as handle:
                patterns = json.load(handle).get("names", [])
        except (OSError, ValueError):
            return None
        covered = {name for name in names if covered_by(name, patterns)}
        if not (os.path.isfile(fullchain) and os.path.isfile(key)) or names[0] not in covered:
            return None
        return fullchain, key, covered

    wanted = wanted_files(p["sites"], p["php_pools"], p["users"], cert_lookup, p["webroot"], p["reseller"])
    current = current_files(wanted)
    writes, removes, kept, conflicts = plan_files(current, wanted, set(p["clients"]), p["prune"], p["reseller"])
    if conflicts:
        module.fail_json(msg="these files belong to another reseller on this host; nothing was changed: %s" % ", ".join(conflicts))
    changes = ensure_users(module, p["users"], p["sites"], check)
    changes += [describe(path, current.get(path), content) for path, content in sorted(writes.items())]
    changes += [describe(path, current[path], None) for path in removes]
    touched = list(writes) + removes
    nginx_changed = any(path.startswith(("/etc/nginx/",)) for path in touched)
    php_changed = sorted({path.split("/")[3] for path in touched if "/fpm/pool.d/" in path})
    result = dict(changed=bool(changes), changes=changes, nginx_changed=nginx_changed, php_changed=php_changed, kept=kept)
    if module._diff:
        result["diff"] = [dict(before_header=path, after_header=path, before=current.get(path) or "", after=writes.get(path, ""))
                          for path in sorted(touched)]
    if check or not touched:
        module.exit_json(**result)

    if not check:
        os.makedirs(os.path.join(p["webroot"], ".well-known", "acme-challenge"), mode=0o755, exist_ok=True)
    try:
        for path, content in writes.items():
            write_atomic(path, content, makedirs=True)
        for path in removes:
            os.unlink(path)
        failure = check_config(module, php_changed)
    except OSError as exc:
        failure = "writing the configuration failed: %s" % exc
    if failure:
        # Put back exactly what was there: a bad run never leaves a service with a broken config.
        for path in touched:
            if path in current:
                write_atomic(path, current[path], makedirs=True)
            elif os.path.exists(path):
                os.unlink(path)
        module.fail_json(msg="%s; the previous configuration was put back" % failure, changes=[], nginx_changed=False, php_changed=[])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
