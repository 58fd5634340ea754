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
  - The arguments are not trusted (the controller validates them first), so every value that reaches a file or a
    command is matched whole against a whitelist (client ids, DNS names, PHP versions, addresses, certificate
    ids), and every path is rebuilt from those parts (home C(/srv/www/<client>), docroot
    C(<home>/<name>/public)); anything else fails the module, naming the option and the rule, before anything is
    written. The nginx and PHP-FPM writers refuse by themselves any value with a character their syntax treats
    specially.
  - A client's system user is one the platform created for this reseller (its GECOS comment is
    C(fracto client <reseller>)); a system or service account (C(root), C(www-data), C(mysql), C(vmail), ...),
    a uid below 1000, another reseller's client or any other existing user is refused and never gets a PHP pool,
    a home or a docroot. A user made by an earlier version of the platform (no comment, home C(/srv/www/<client>)
    owned by it with group C(www-data) and mode 2750, shell C(nologin)) is taken over and gets the comment.
  - Root makes only the home, through directory handles opened without following links from C(/srv/www) (which
    must be root's and writable by root only); everything inside a home is made as the client (C(runuser)).
  - Each client's logs (nginx access and error, PHP error and slow) are written to C(/srv/www/.logs/<client>), a
    directory that only root writes in (mode 0751, the client's group), files mode 0640 readable by the client
    alone; the client reaches them through the link C(logs) in its home (and over SFTP). One logrotate file per
    client (C(/etc/logrotate.d/fracto-client-<client>)) keeps the package's number of days, checked with
    C(logrotate --debug) before the module returns.
  - The changes are made under the host-wide lock of the platform's writer modules (another run on the host is
    waited for, then named).
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
  templates:
    description:
      - The Jinja2 sources of the files the module renders on the host, C(nginx_site) (one vhost), C(php_pool)
        (one PHP-FPM pool) and C(logrotate) (one client's logs); the role C(fracto_web) reads them on the controller from its C(templates/) (or the files
        its C(fracto_web__*_template) variables name) and passes them here. Required to converge.
      - Rendered in a sandbox (C(StrictUndefined), C(trim_blocks), C(lstrip_blocks)) from values already checked;
        the first line of each file, which records its owner, is the module's. A template that does not compile or
        names something its context lacks fails the module, naming the template, before anything is written.
      - The platform operator's (role variables); never from a reseller's state.
    type: dict
    default: {}
  nginx_server_extra:
    description:
      - nginx directives the platform operator adds to every client server block that serves a site (one per line);
        C(nginx -t) checks them with the rest.
    type: str
    default: ""
  php_ini:
    description:
      - PHP ini settings the platform operator sets in every client pool (C(php_admin_value[name] = value));
        the package's whitelisted C(web.php_ini) settings of a pool (C(php_pools[].php_ini)) win over them.
    type: dict
    default: {}
requirements:
  - jinja2 on the host (Debian C(python3-jinja2), installed by the roles)
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
    # The sources, read on the controller (rstrip=false keeps the template's last newline).
    templates:
      nginx_site: "{{ lookup('ansible.builtin.file', 'templates/etc/nginx/fracto/sites/site.conf.j2', rstrip=false) }}"
      php_pool: "{{ lookup('ansible.builtin.file', 'templates/etc/php/fpm/pool.d/pool.conf.j2', rstrip=false) }}"
      logrotate: "{{ lookup('ansible.builtin.file', 'templates/etc/logrotate.d/fracto-client.j2', rstrip=false) }}"
    nginx_server_extra: |
      add_header X-Content-Type-Options nosniff always;
    php_ini: {expose_php: "Off"}
"""

RETURN = r"""
changes:
  description: One entry per vhost, pool, logrotate file, user, docroot or log file created, changed or removed (see M(fracto.hosting.host_state)).
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
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils import render
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.files import read_text
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_writer
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError, Templates
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import covered_by
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import CertificateStore
from ansible_collections.fracto.hosting.plugins.module_utils.transaction import Transaction
from ansible_collections.fracto.hosting.plugins.module_utils.web.accounts import verdict_of
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import (
    LOG_FILES,
    LOG_LINK,
    LOG_ROOT,
    LOGROTATE_DIR,
    NGINX_DIR,
    NOLOGIN,
    TEMPLATES,
    check_args,
    describe,
    gecos,
    operator_settings,
    plan_files,
    wanted_files,
)

INDEX = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%(name)s</title></head>
<body><h1>%(name)s</h1><p>This site is hosted on FractoCloud.</p></body></html>
"""


def current_files(wanted):
    paths = (set(glob.glob(NGINX_DIR + "/sites/*.conf")) | set(glob.glob("/etc/php/*/fpm/pool.d/fracto-*.conf"))
             | set(glob.glob(LOGROTATE_DIR + "/fracto-client-*")) | set(wanted))
    return {p: c for p, c in ((p, read_text(p)) for p in sorted(paths)) if c is not None}


def verify_users(module, users, reseller):
    """{user: verdict} of every client user; fails, before anything is written, when one is refused."""
    verdicts = {}
    for i, user in enumerate(users):
        verdict, reason = verdict_of(user["name"], reseller)
        if verdict is None:
            module.fail_json(msg="users[%d].name %s is refused: %s; nothing was changed (a client's PHP pool, home and docroots "
                                 "only ever run as and belong to a user the platform created for it)" % (i, user["name"], reason))
        verdicts[user["name"]] = verdict
    return verdicts


def ensure_users(module, users, sites, check, verdicts, reseller):
    """System users, their homes, docroots and PHP temporary directories; returns change entries.

    Only the home is made by root (its parent /srv/www is root's), through directory handles opened without
    following links; everything inside a home is made as the client (runuser), so a symlink the client planted
    cannot turn a root write against the host.
    """
    changes = []
    for user in users:
        verdict = verdicts[user["name"]]
        if verdict == "create":
            changes.append({"action": "create", "kind": "system_user", "id": user["name"], "client": user["client"],
                            "detail": ["home %s" % user["home"]]})
            if not check:
                module.run_command(["useradd", "--home-dir", user["home"], "--no-create-home", "--shell", NOLOGIN,
                                    "--comment", gecos(reseller), "--user-group", "--", user["name"]], check_rc=True)
                again, reason = verdict_of(user["name"], reseller)
                if again != "ours":
                    module.run_command(["userdel", "--", user["name"]])
                    module.fail_json(msg="users %s: the user useradd made is refused (%s); it was removed again" % (user["name"], reason))
        elif verdict == "adopt" and not check:
            # Made by an earlier version of the platform (no mark yet): it gets the mark of this reseller.
            module.run_command(["usermod", "--comment", gecos(reseller), "--", user["name"]], check_rc=True)
        if not check:
            ensure_home(module, user["home"], user["name"])
            as_client(module, user["name"], 'mkdir -p -m 0700 -- "$1/tmp"', user["home"])
            # The way to its logs, made as the client: a link it may remove (the next run puts it back), or a file
            # of its own in its place, left alone.
            as_client(module, user["name"], '[ -e "$1/%s" ] || [ -L "$1/%s" ] || ln -s -- "$2" "$1/%s"' % ((LOG_LINK,) * 3),
                      user["home"], "../%s/%s" % (os.path.basename(LOG_ROOT), user["name"]))
    for site in sites:
        if os.path.isdir(site["docroot"]):
            continue
        changes.append({"action": "create", "kind": "docroot", "id": site["docroot"], "client": site["client"], "detail": []})
        if not check:
            as_client(module, site["user"], 'mkdir -p -- "$1" && { [ -e "$1/index.html" ] || printf "%s" "$2" > "$1/index.html"; }',
                      site["docroot"], INDEX % {"name": site["name"]})
    return changes


def as_client(module, user, script, *args):
    """Run a small sh script as the client, group-readable for nginx (the home is setgid www-data)."""
    module.run_command(["runuser", "-u", user, "--", "sh", "-c", "umask 027; " + script, "sh"] + list(args), check_rc=True)


def ensure_home(module, path, owner):
    """The client's home: owner the client, group www-data (nginx reads), setgid so that what the
    client creates stays readable by nginx, nobody else. Made and fixed through directory handles opened
    with O_NOFOLLOW from its parent, which must be root's and writable by root only: a symlink or a file in its
    place is refused, never followed."""
    parent, name = os.path.split(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)  # /srv/www on a fresh host (root's)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        parent_fd = os.open(parent, flags)
    except OSError as exc:
        module.fail_json(msg="%s cannot be opened as a directory (%s); nothing was changed there" % (parent, exc))
    try:
        info = os.fstat(parent_fd)
        if info.st_uid != 0 or info.st_mode & 0o022:
            module.fail_json(msg="%s must be root's and writable by root only; nothing was changed there" % parent)
        try:
            os.mkdir(name, 0o750, dir_fd=parent_fd)
        except FileExistsError:
            pass
        try:
            fd = os.open(name, flags, dir_fd=parent_fd)
        except OSError:
            module.fail_json(msg="%s is not a directory (a symlink or a file is in the way); nothing was changed there" % path)
        try:
            stat = os.fstat(fd)
            uid, gid = pwd.getpwnam(owner).pw_uid, grp.getgrnam("www-data").gr_gid
            if (stat.st_uid, stat.st_gid) != (uid, gid):
                os.fchown(fd, uid, gid)
            if stat.st_mode & 0o7777 != 0o2750:
                os.fchmod(fd, 0o2750)
        finally:
            os.close(fd)
    finally:
        os.close(parent_fd)


def check_config(module, pool_versions, logrotate_files=()):
    for path in sorted(logrotate_files):
        rc, out, err = module.run_command(["logrotate", "--debug", path])
        if rc != 0:
            return "logrotate --debug %s failed: %s" % (path, (err or out).strip()[-2000:])
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
            templates=dict(type="dict", default={}),
            nginx_server_extra=dict(type="str", default=""),
            php_ini=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def check_all():
        check_args(p["sites"], p["php_pools"], p["users"], p["clients"], p["reseller"], p["webroot"], p["store"])
        operator_settings(p["nginx_server_extra"], p["php_ini"])
        render.require(module, p["templates"], TEMPLATES, "fracto_web")

    run_writer(module, "fracto.hosting.web_sites", check_all, lambda: converge(module, p, module.check_mode), p["reseller"])


def _open_dir(name, dir_fd, mode, uid, gid, check):
    """A directory under dir_fd made (unless check) and fixed to root-chosen owner and mode, opened without following
    a link; returns (fd or None in check mode when it is missing, what was made or fixed)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        if check:
            return None, ["created, mode %04o" % mode]
        os.mkdir(name, mode, dir_fd=dir_fd)
        fd = os.open(name, flags, dir_fd=dir_fd)
    info = os.fstat(fd)
    done = []
    if (info.st_uid, info.st_gid) != (uid, gid) or info.st_mode & 0o7777 != mode:
        done.append("mode %04o, owner %d:%d" % (mode, uid, gid))  # also after os.mkdir: the umask took bits
        if not check:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
    return fd, done


def ensure_logs(users, check, root=LOG_ROOT, www_uid=None):
    """The clients' log directories and files (LOG_FILES), made before nginx -t opens them: nginx's master would make
    a missing log world-readable. Only root writes in root and in each client's directory (root:<client>, 0751:
    nginx's workers reopen the files they own), so nothing here follows a path a client can change; every file is
    mode 0640, group the client's, owned by who writes it. Returns change entries."""
    if not users:
        return []
    www_uid = pwd.getpwnam("www-data").pw_uid if www_uid is None else www_uid
    changes = []
    parent, base = os.path.split(root)
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:  # check mode on a new host: /srv/www is still to be made
        return [{"action": "create", "kind": "log", "id": "%s/%s" % (root, user["name"]), "client": user["client"],
                 "detail": sorted(LOG_FILES)} for user in users]
    try:
        root_fd, done = _open_dir(base, parent_fd, 0o711, 0, 0, check)
    finally:
        os.close(parent_fd)
    if done:
        changes.append({"action": _made_or_fixed(done), "kind": "log", "id": root, "client": "(reseller)", "detail": done})
    try:
        for user in users:
            try:
                account = pwd.getpwnam(user["name"])
            except KeyError:  # check mode, user still to be created
                changes.append({"action": "create", "kind": "log", "id": "%s/%s" % (root, user["name"]),
                                "client": user["client"], "detail": sorted(LOG_FILES)})
                continue
            changes += _client_logs(user, account, root, root_fd, www_uid, check)
    finally:
        if root_fd is not None:
            os.close(root_fd)
    return changes


def _client_logs(user, account, root, root_fd, www_uid, check):
    """One client's log directory and files (ensure_logs)."""
    path = "%s/%s" % (root, user["name"])
    if root_fd is None:
        return [{"action": "create", "kind": "log", "id": path, "client": user["client"], "detail": sorted(LOG_FILES)}]
    dir_fd, done = _open_dir(user["name"], root_fd, 0o751, 0, account.pw_gid, check)
    owners = {"nginx": www_uid, "root": 0, "client": account.pw_uid}
    try:
        for name, writer in sorted(LOG_FILES.items()):
            uid = owners[writer]
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False) if dir_fd is not None else None
            except FileNotFoundError:
                info = None
            # nginx's master makes its files root's, its reopen (USR1) gives them to www-data: both are fine.
            owner_ok = info is not None and (info.st_uid == uid or writer == "nginx" and info.st_uid in (0, www_uid))
            if owner_ok and info.st_gid == account.pw_gid and info.st_mode & 0o7777 == 0o640:
                continue
            done.append("%s: mode 0640, owner %d:%d" % (name, uid, account.pw_gid))
            if check:
                continue
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640, dir_fd=dir_fd)
            try:
                os.fchown(fd, -1 if owner_ok else uid, account.pw_gid)
                os.fchmod(fd, 0o640)
            finally:
                os.close(fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    return [{"action": _made_or_fixed(done), "kind": "log", "id": path, "client": user["client"], "detail": done}] if done else []


def _made_or_fixed(done):
    return "create" if done and done[0].startswith("created") else "change"


def converge(module, p, check):
    """Plan and (unless check) apply; exits the module. Runs under the host lock when it writes."""
    verdicts = verify_users(module, p["users"], p["reseller"])

    store = CertificateStore(p["store"])

    def cert_lookup(cert_id, names):
        served = store.served(cert_id)
        if served is None:
            return None
        fullchain, key, patterns = served
        covered = {name for name in names if covered_by(name, patterns)}
        return (fullchain, key, covered) if names[0] in covered else None

    try:
        server_extra, php_ini = operator_settings(p["nginx_server_extra"], p["php_ini"])
        wanted = wanted_files(p["sites"], p["php_pools"], p["users"], cert_lookup, p["webroot"], p["reseller"], server_extra,
                              php_ini, templates=Templates(p["templates"]))
    except (Refused, RenderError) as exc:  # the writers' own last check (check_args refuses first), or a template
        module.fail_json(msg="%s; nothing was changed" % exc)
    current = current_files(wanted)
    writes, removes, kept, conflicts = plan_files(current, wanted, set(p["clients"]), p["prune"], p["reseller"])
    if conflicts:
        module.fail_json(msg="these files belong to another reseller on this host; nothing was changed: %s" % ", ".join(conflicts))
    changes = ensure_users(module, p["users"], p["sites"], check, verdicts, p["reseller"])
    changes += ensure_logs(p["users"], check)
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

    os.makedirs(os.path.join(p["webroot"], ".well-known", "acme-challenge"), mode=0o755, exist_ok=True)
    # A bad run never leaves a service with a broken config: on a failure every file is already put back.
    logrotate_changed = [path for path in writes if path.startswith(LOGROTATE_DIR + "/")]
    failure = Transaction().apply(writes, removes, lambda: check_config(module, php_changed, logrotate_changed), makedirs=True)
    if failure:
        module.fail_json(msg="%s; the previous configuration was put back" % failure, changes=[], nginx_changed=False, php_changed=[])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
