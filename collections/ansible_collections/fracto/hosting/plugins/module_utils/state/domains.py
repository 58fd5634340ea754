# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's web names: its domains, aliases and subdomains (each name claimed once across the reseller),
the PHP version and the denied paths of each domain, and its dedicated IP addresses.

DomainChecks is one of the parts StateValidator (model.py) is made of.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping, type_name, want_list
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import InvalidName, is_under, normalize_relative

MAX_DENIED = 50  # denied paths per domain


class DomainChecks:
    """domains: (names claimed across the reseller, PHP) and dedicated_ip:."""

    def claim(self, path, cid, name):
        owner = self.name_owner.get(name)
        if owner is not None:
            other, other_path = owner
            who = "this client" if other == cid else "client %s" % other
            self.problems.error(path, "name %s is already claimed by %s (%s)" % (name, who, other_path))
            return False
        # The top-most enclosing domain decides: a client that claims a domain under another
        # client's domain gains no hold over the names of that other client.
        enclosing = [domain for domain in self.domain_owner if is_under(name, domain)]
        if enclosing:
            domain = min(enclosing, key=len)
            domain_cid = self.domain_owner[domain]
            if domain_cid != cid:
                self.problems.error(path, "name %s is under %s, a domain of client %s" % (name, domain, domain_cid))
                return False
        self.name_owner[name] = (cid, str(path))
        return True

    def domains(self, path, client, raw):
        client["domains"] = []
        if not isinstance(raw, dict) or not raw:
            self.problems.error(path, "must be a non-empty mapping of domain name to its settings, got %s" % type_name(raw))
            return
        for key, spec in raw.items():
            dpath = path / key
            domain = self.tenant_name(dpath, key)
            spec = {} if spec is None else spec
            if domain is None or not check_mapping(self.problems, dpath, spec, ("aliases", "subdomains", "php", "deny")):
                continue
            self.claim(dpath, client["id"], domain)
            entry = {"name": domain, "aliases": [], "subdomains": [], "php": self.php(dpath / "php", spec.get("php", False)),
                     "deny": self.deny(dpath / "deny", spec.get("deny", []))}
            for kind in ("aliases", "subdomains"):
                items = spec.get(kind, [])
                if not want_list(self.problems, dpath / kind, items):
                    continue
                for i, rel in enumerate(items):
                    try:
                        fqdn = normalize_relative(rel, domain)
                    except InvalidName as exc:
                        self.problems.error(dpath / kind / i, "invalid name %r: %s" % (rel, exc))
                        continue
                    if self.reserved_name(dpath / kind / i, fqdn):
                        continue
                    if self.claim(dpath / kind / i, client["id"], fqdn):
                        entry[kind].append(fqdn)
            client["domains"].append(entry)

    def deny(self, path, paths):
        """URL paths the domain's vhost answers 403 for (what an old .htaccess denied): a directory ends with '/'."""
        if not want_list(self.problems, path, paths):
            return []
        if len(paths) > MAX_DENIED:
            self.problems.error(path, "at most %d denied paths per domain, got %d" % (MAX_DENIED, len(paths)))
            return []
        kept = []
        for i, value in enumerate(paths):
            try:
                kept.append(g.url_path(str(path / i), value))
            except g.Refused as exc:
                self.problems.error(path / i, "%r is not a denied path: %s" % (value, exc.rule))
        return sorted(set(kept))

    def php(self, path, value):
        if value is False or value is None:
            return None
        if isinstance(value, float):
            self.problems.error(path, 'must be a quoted string such as "8.2" (YAML reads %s as a number)' % value)
            return None
        offered = self.model["platform"].get("php_versions", [])
        if not isinstance(value, str) or value not in offered:
            self.problems.error(path, "PHP %s is not offered by the platform (offered: %s; or false for a static site)"
                                % (value, ", ".join(offered)))
            return None
        return value

    def dedicated_ip(self, path, client, raw):
        client["dedicated_ip"] = {"web": None, "mail": None}
        if raw is None:
            return
        if not client["features"]["dedicated_ip"]:
            self.problems.error(path, "package %r does not allow a dedicated IP (dedicated_ip: false)" % client["package"])
            return
        if isinstance(raw, str):
            sides = {"web": raw}
            if client["mail_host"] and client["mail_host"] == client["web_host"]:
                sides["mail"] = raw
        elif isinstance(raw, dict):
            if not check_mapping(self.problems, path, raw, ("web", "mail")):
                return
            sides = dict(raw)
        else:
            self.problems.error(path, "must be an IPv4 address or {web: IP, mail: IP}, got %s" % type_name(raw))
            return
        for side, value in sides.items():
            spath = path / side if isinstance(raw, dict) else path
            ip = self.ipv4(spath, value)
            if ip is None or not self.pool_allocated(spath, ip):
                continue
            listed = self.model["reseller"].get("dedicated_ips")
            if listed and ip not in listed:
                self.problems.error(spath, "%s is not in fracto_reseller.dedicated_ips" % ip)
                continue
            host = client["web_host"] if side == "web" else client["mail_host"]
            if side == "mail" and not client["features"]["mail"]:
                self.problems.error(spath, "the package has no mail, so no mail address can be bound")
                continue
            pool_host = self.model["pool"][ip]["host"]
            if host and pool_host != host:
                self.problems.error(spath, "%s is on host %s, not on %s which serves the %s of this client"
                                    % (ip, pool_host, host, "sites" if side == "web" else "mail"))
                continue
            client["dedicated_ip"][side] = ip
