# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's migration from the old platform (migration:): the old site and database, the old IMAP server and
the mailboxes that move, each only of this client's accounts on the old platform.

MigrationChecks is one of the parts StateValidator (model.py) is made of.
"""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping, type_name, want_str
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import client_names


class MigrationChecks:
    """migration.site and migration.mail of a client."""

    def migration(self, path, client, raw):
        client["migration"] = {}
        if raw is None or not check_mapping(self.problems, path, raw, ("site", "mail")):
            return
        site = raw.get("site")
        if site is not None and check_mapping(self.problems, path / "site", site, ("from", "path", "database", "domain", "target_database"),
                                              required=("from", "path")):
            self.migration_site(path / "site", client, site)
        mail = raw.get("mail")
        if mail is not None and check_mapping(self.problems, path / "mail", mail,
                                              ("from", "mailboxes", "master_user", "master_password", "folder_map", "delete_extra"),
                                              required=("from",)):
            self.migration_mail(path / "mail", client, mail)

    def migration_mail(self, path, client, mail):
        """migration.mail: the old IMAP server, the mailboxes that move and how the migrator logs in there."""
        source, port = self.imap_server(path / "from", mail.get("from"))
        master_user, master_password = mail.get("master_user"), mail.get("master_password")
        self.master_login(path, mail)
        folder_map = mail.get("folder_map", {})
        self.folder_map(path / "folder_map", folder_map)
        delete_extra = mail.get("delete_extra", False)
        if not isinstance(delete_extra, bool):
            self.problems.error(path / "delete_extra", "must be true or false, got %s" % type_name(delete_extra))
        moved = self.moved_mailboxes(path / "mailboxes", client, mail.get("mailboxes", {}), source, master_user)
        client["migration"]["mail"] = {
            "from": source, "port": port, "mailboxes": moved, "master_user": master_user,
            "master_password": master_password, "folder_map": folder_map if isinstance(folder_map, dict) else {},
            "delete_extra": delete_extra is True,
        }

    def imap_server(self, path, source):
        """migration.mail.from, host[:port]: (the old IMAP server, its port, 993 by default)."""
        port = 993
        if want_str(self.problems, path, source):
            source, _sep, port_text = source.partition(":")
            if port_text and not (re.fullmatch(r"[0-9]{1,5}", port_text) and 0 < int(port_text) < 65536):
                self.problems.error(path, "port must be a number from 1 to 65535")
            elif port_text:
                port = int(port_text)
            source = self.imap_source(path, source)
        return source, port

    def master_login(self, path, mail):
        """master_user and master_password: both or neither."""
        if "master_user" not in mail and "master_password" not in mail:
            return
        if not ("master_user" in mail and "master_password" in mail):
            self.problems.error(path / ("master_password" if "master_user" in mail else "master_user"),
                                "is required with %s" % ("master_user" if "master_user" in mail else "master_password"))
        if "master_user" in mail:
            want_str(self.problems, path / "master_user", mail["master_user"], rules.MASTER_USER,
                     "must be a user name: 1-64 of A-Z, a-z, 0-9, '.', '_', '@', '+' and '-'")
        if "master_password" in mail:
            want_str(self.problems, path / "master_password", mail["master_password"])

    def folder_map(self, path, folder_map):
        """folder_map: old folder name -> new folder name, both valid IMAP folder names."""
        if not check_mapping(self.problems, path, folder_map, folder_map if isinstance(folder_map, dict) else ()):
            return
        for key, value in folder_map.items():
            if not isinstance(value, str) or not value or not isinstance(key, str) or not key:
                self.problems.error(path / str(key), "must map an old folder name to a new folder name (strings)")
                continue
            for what, folder in (("old", key), ("new", value)):
                rule = rules.folder_name_problem(folder)
                if rule:
                    self.problems.error(path / key, "the %s folder name: %s" % (what, rule))

    def moved_mailboxes(self, path, client, boxes, source, master_user):
        """migration.mail.mailboxes: the client's mailboxes that move, each with its login on the old server."""
        own = {b["address"] for b in client["mailboxes"]}
        moved = []
        if not check_mapping(self.problems, path, boxes, boxes if isinstance(boxes, dict) else ()):
            return moved
        for key, spec in boxes.items():
            mpath = path / key
            address = self.address(mpath, key)
            if address and address not in own:
                self.problems.error(mpath, "%s is not a mailbox of this client (mailboxes:)" % address)
            spec = {} if spec is None else spec
            if not check_mapping(self.problems, mpath, spec, ("user", "password")):
                continue
            if "user" in spec:
                want_str(self.problems, mpath / "user", spec["user"], rules.IMAP_LOGIN,
                         "must be the login on the old server: 1-255 of A-Z, a-z, 0-9, '.', '_', '@', '+', '=' and '-'")
            if "password" in spec:
                want_str(self.problems, mpath / "password", spec["password"])
            elif master_user is None:
                self.problems.error(mpath / "password", "is required without master_user/master_password "
                                                        "(the migrator logs in to the old server as this user)")
            if address:
                moved.append({"address": address, "user": spec.get("user", address), "password": spec.get("password")})
                self.own_old_login(mpath, client, source, spec.get("user", address), master_user is not None)
        return moved

    def migration_site(self, path, client, site):
        """migration.site: the old site, the client's vhost that receives it, the database it moves into."""
        ok = True
        host = self.legacy_host(path / "from", site.get("from"))
        src = site.get("path")
        if not want_str(self.problems, path / "path", src):
            ok = False
        elif rules.old_site_path_problem(src):
            self.problems.error(path / "path", rules.old_site_path_problem(src))
            ok = False
        vhosts = [d["name"] for d in client["domains"]] + [s for d in client["domains"] for s in d["subdomains"]]
        if "domain" in site:
            domain = self.name(path / "domain", site["domain"])
            if domain and domain not in vhosts:
                self.problems.error(path / "domain", "%s is not a domain or subdomain of this client (domains:)" % domain)
                domain = None
            ok = ok and domain is not None
        else:
            domain = vhosts[0] if vhosts else None
        database = site.get("database")
        target = None
        if database is not None:
            if not want_str(self.problems, path / "database", database, rules.OLD_DB_NAME,
                            "must be the name of the old database: 1-64 of A-Z, a-z, 0-9, _, $ and -, not starting with -"):
                ok = False
            target = site.get("target_database", database)
            where = path / ("target_database" if "target_database" in site else "database")
            own = [d["name"] for d in client["databases"]]
            if target not in own:
                self.problems.error(where, "the site's database moves into %r, which must be one of the client's databases "
                                           "(databases: %s)" % (target, ", ".join(own) or "none"))
                ok = False
        elif "target_database" in site:
            self.problems.error(path / "target_database", "needs database (the old database to migrate)")
            ok = False
        if host and ok and not self.legacy_account_of(path, client["id"], host, src, database):
            ok = False
        if host and ok and domain:
            client["migration"]["site"] = {"from": host, "path": src.rstrip("/"), "database": database,
                                           "domain": domain, "target_database": target}

    def own_old_login(self, path, client, source, user, master):
        """On the shared old platform, or through an old server's master user (any name or address may reach a shared
        server), a login opens one tenant's mailbox: it must be an address of this client's domains."""
        legacy = self.groups.get("fracto_legacy", set())
        domain = self.model["platform"].get("domain")
        if not master and source not in legacy and not any(source == "%s.%s" % (h, domain) for h in legacy):
            return
        own = set(client_names(client, aliases=False))
        if not isinstance(user, str) or user.count("@") != 1 or user.split("@")[1].lower() not in own:
            self.problems.error(path / "user", "on the old platform or through its master user (%s) the old login must be an "
                                               "address of this client's domains" % source)

    def legacy_account_of(self, path, cid, host, src, database):
        """The old site's account must be this client's in the platform's map of the old platform (a reseller
        cannot name another tenant's old home or database); True when it is."""
        accounts = self.vars.get("fracto_legacy_accounts") or {}
        account = src.strip("/").split("/")[1] if src.startswith("/home/") else src.strip("/").split("/")[2]
        entry = accounts.get(host, {}).get(account) if isinstance(accounts.get(host), dict) else None
        me = self.model["reseller"].get("name")
        if not isinstance(entry, dict) or entry.get("reseller") != me or entry.get("client") != cid:
            self.problems.error(path / "path", "%s on %s is not an account of client %s of the old platform: the platform "
                                               "inventory's fracto_legacy_accounts maps each old account to its reseller "
                                               "and client" % (account, host, cid))
            return False
        if database is not None and (database.lower() in rules.SYSTEM_SCHEMAS or database not in (entry.get("databases") or [])):
            self.problems.error(path / "database", "%s is not a database of the old account %s (fracto_legacy_accounts: %s)"
                                % (database, account, ", ".join(entry.get("databases") or []) or "none"))
            return False
        return True
