# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of single values of the state: no control character anywhere, names, addresses, hosts, pool addresses.

ValueChecks is one of the parts StateValidator (model.py) is made of; each check reports to self.problems and
returns the normalised value, or None (False) when it reported a problem.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import StatePath, type_name
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import InvalidName, is_under, normalize_address, normalize_name
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import LEGACY_GROUP, MAIL_GROUP, WEB_GROUP, pem_field, state_variables


class ValueChecks:
    """Single values: every string, names and addresses, inventory hosts, addresses of the IP pool."""

    # -- every string ---------------------------------------------------------------------------
    def controls(self):
        """No control character in any key or string of the state (PEM fields may hold newlines)."""
        for var in state_variables(self.vars):
            self.walk(StatePath(var), (var,), self.vars[var])

    def walk(self, path, keys, value):
        if isinstance(value, dict):
            for key, item in value.items():
                if rules.control_char(key):
                    self.problems.error(path / key, "the key " + rules.CONTROL_RULE)
                self.walk(path / key, keys + (key,), item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self.walk(path / i, keys + (i,), item)
        elif isinstance(value, str) and rules.control_char(value.replace("\n", "") if pem_field(keys) else value):
            self.problems.error(path, rules.CONTROL_RULE)

    # -- names, addresses, hosts ------------------------------------------------------------------
    def name(self, path, raw):
        try:
            return normalize_name(raw)
        except InvalidName as exc:
            self.problems.error(path, "invalid name %r: %s" % (raw if isinstance(raw, str) else type_name(raw), exc))
            return None

    def tenant_name(self, path, raw):
        """A name a reseller or client claims: valid, and none of the platform's own names."""
        name = self.name(path, raw)
        if name is not None and self.reserved_name(path, name):
            return None
        return name

    def reserved_name(self, path, name):
        """True (and reported) for the platform's domain, a name under it or above it, a host's name, a special name."""
        domain = self.model["platform"].get("domain")
        rule = None
        if rules.special_name(name):
            rule = "%s is a special-use name (localhost, .local, .arpa, .invalid, .alt): never a site" % name
        elif domain and (is_under(name, domain) or is_under(domain, name)):
            rule = "%s is reserved: the platform's domain %s, a name under it or a domain above it" % (name, domain)
        elif name in self.platform_host_names():
            rule = "%s is reserved: the name of a host of the platform" % name
        if rule:
            self.problems.error(path, rule)
        return rule is not None

    def platform_host_names(self, *groups):
        """The lowercase names of the inventory's hosts (of groups, when given), short and as <host>.<platform domain>."""
        hosts = set().union(*(self.groups.get(g, ()) for g in groups)) if groups else self.hosts
        domain = self.model["platform"].get("domain")
        names = {h.lower() for h in hosts if isinstance(h, str)}
        return names | {"%s.%s" % (h, domain) for h in names if domain}

    def legacy_host(self, path, host):
        """migration.site.from: a host of the old platform (group fracto_legacy), never one of the new."""
        host = self.inventory_host(path, host, LEGACY_GROUP)
        if host and host in self.groups.get(WEB_GROUP, ()) | self.groups.get(MAIL_GROUP, ()):
            self.problems.error(path, "host %s is a host of the platform (%s/%s), not of the old one" % (host, WEB_GROUP, MAIL_GROUP))
            return None
        return host

    def imap_source(self, path, host):
        """migration.mail.from: a host of the old platform, or an outside DNS name or public address (normalised)."""
        if host in self.hosts:
            return self.legacy_host(path, host)
        rule = rules.host_problem(host)
        name = host
        domain = self.model["platform"].get("domain")
        if rule is None:
            try:
                name = normalize_name(host)
            except InvalidName:  # a public IPv4 address (host_problem allowed nothing else)
                name = host
            if name in self.platform_host_names():
                rule = "%s is a host of the platform" % name
            elif domain and is_under(name, domain):
                rule = "%s is under the platform's domain %s: the old server must be outside the platform" % (name, domain)
        if rule:
            self.problems.error(path, "must be a host of the group %s or an outside IMAP server: %s" % (LEGACY_GROUP, rule))
            return None
        return name

    def address(self, path, raw):
        try:
            return normalize_address(raw)[0]
        except InvalidName as exc:
            self.problems.error(path, "invalid address: %s" % exc)
            return None

    def mail_address(self, path, raw, mail_domains):
        address = self.address(path, raw)
        if address and address.split("@")[1] not in mail_domains:
            self.problems.error(path, "the domain of %s is not a domain or subdomain of this client" % address)
            return None
        return address

    def ipv4(self, path, raw):
        try:
            return str(ipaddress.IPv4Address(str(raw) if not isinstance(raw, (bool, int)) else "x"))
        except ValueError:
            self.problems.error(path, "%r is not an IPv4 address" % (raw,))
            return None

    def pool_allocated(self, path, ip):
        entry = self.model["pool"].get(ip)
        raw = self.vars.get("fracto_reseller")
        me = self.model["reseller"].get("name") or (raw.get("name") if isinstance(raw, dict) else None)
        if entry is None:
            self.problems.error(path, "%s is not in fracto_ip_pool" % ip)
        elif entry["reseller"] is None:
            self.problems.error(path, "%s is not allocated to any reseller in fracto_ip_pool" % ip)
        elif entry["reseller"] != me:
            self.problems.error(path, "%s is allocated to reseller %s, not to %s" % (ip, entry["reseller"], me))
        else:
            return True
        return False

    def inventory_host(self, path, host, group):
        if not isinstance(host, str) or not host:
            self.problems.error(path, "must be an inventory host name, got %s" % type_name(host))
            return None
        if host not in self.hosts:
            self.problems.error(path, "host %s is not in the inventory" % host)
            return None
        if group and host not in self.groups.get(group, ()):
            self.problems.error(path, "host %s is not in the inventory group %s" % (host, group))
            return None
        return host
