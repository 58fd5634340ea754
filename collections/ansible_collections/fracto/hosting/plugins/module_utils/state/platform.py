# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform's part of the state: fracto_platform, fracto_ip_pool, fracto_reseller and fracto_packages.

PlatformChecks is one of the parts StateValidator (model.py) is made of; it fills model["platform"], ["pool"],
["reseller"] and ["packages"], which the client checks then read.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import tunables
from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import (
    StatePath,
    check_mapping,
    type_name,
    want_bool,
    want_choice,
    want_list,
    want_str,
)
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import SLUG
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import FEATURES, PLATFORM_DEFAULTS


class PlatformChecks:
    """fracto_platform, fracto_ip_pool, fracto_reseller, fracto_packages (and the features a client overrides)."""

    def platform(self):
        raw = self.vars.get("fracto_platform")
        path = StatePath("fracto_platform")
        platform = dict(PLATFORM_DEFAULTS)
        if not check_mapping(self.problems, path, raw, PLATFORM_DEFAULTS, required=("domain",)):
            self.model["platform"] = platform
            return
        if "domain" in raw:
            platform["domain"] = self.name(path / "domain", raw["domain"])
        versions = raw.get("php_versions", platform["php_versions"])
        if want_list(self.problems, path / "php_versions", versions):
            for i, version in enumerate(versions):
                want_str(self.problems, path / "php_versions" / i, version, rules.PHP_VERSION,
                         'must be a quoted version such as "8.2"')
            platform["php_versions"] = [str(v) for v in versions]
        directory = raw.get("acme_directory", platform["acme_directory"])
        if want_str(self.problems, path / "acme_directory", directory, rules.ACME_URL,
                    "must be the https:// URL of an ACME directory (https://host[:port]/path)"):
            platform["acme_directory"] = directory
        self.model["platform"] = platform

    def ip_pool(self):
        raw = self.vars.get("fracto_ip_pool", {})
        path = StatePath("fracto_ip_pool")
        if not isinstance(raw, dict):
            self.problems.error(path, "must be a mapping of IPv4 address to {reseller, host}, got %s" % type_name(raw))
            return
        for key, entry in raw.items():
            ip = self.ipv4(path / key, key)
            entry = {} if entry is None else entry
            if ip is None or not check_mapping(self.problems, path / key, entry, ("reseller", "host", "helo")):
                continue
            reseller, host = entry.get("reseller"), entry.get("host")
            if reseller is not None:
                want_str(self.problems, path / key / "reseller", reseller, SLUG, "must be a reseller slug [a-z0-9][a-z0-9-]*")
                if host is None:
                    self.problems.error(path / key / "host", "an address allocated to a reseller needs the host that carries it")
            if host is not None:
                want_str(self.problems, path / key / "host", host)
            helo = None
            if entry.get("helo") is not None:  # the name the address's PTR record already gives, where it is not ours
                helo = self.name(path / key / "helo", entry["helo"])
            if ip in self.model["pool"]:
                self.problems.error(path / key, "address listed twice (%s)" % ip)
            self.model["pool"][ip] = {"reseller": reseller, "host": host, "helo": helo}

    def reseller(self):
        raw = self.vars.get("fracto_reseller")
        path = StatePath("fracto_reseller")
        allowed = ("name", "brand_domain", "contact_email", "dedicated_ips", "backup")
        if not check_mapping(self.problems, path, raw, allowed, required=("name", "brand_domain", "contact_email")):
            return
        model = self.model["reseller"]
        if "name" in raw:
            rule = rules.reseller_name_problem(raw["name"])
            if rule:
                self.problems.error(path / "name", rule)
            else:
                model["name"] = raw["name"]
        if "brand_domain" in raw:
            model["brand_domain"] = self.tenant_name(path / "brand_domain", raw["brand_domain"])
        if "contact_email" in raw:
            model["contact_email"] = self.address(path / "contact_email", raw["contact_email"])
        model["dedicated_ips"] = []
        ips = raw.get("dedicated_ips", [])
        if want_list(self.problems, path / "dedicated_ips", ips):
            for i, item in enumerate(ips):
                ip = self.ipv4(path / "dedicated_ips" / i, item)
                if ip is None:
                    continue
                self.pool_allocated(path / "dedicated_ips" / i, ip)
                model["dedicated_ips"].append(ip)
        if "backup" in raw:
            model["backup"] = self.backup_target(path / "backup", raw["backup"], per_client=True)

    def packages(self):
        raw = self.vars.get("fracto_packages")
        path = StatePath("fracto_packages")
        if not isinstance(raw, dict) or not raw:
            self.problems.error(path, "must be a non-empty mapping of package name to features, got %s" % type_name(raw))
            return
        for name, spec in raw.items():
            if not isinstance(name, str) or not SLUG.fullmatch(name) or len(name) > 64:
                self.problems.error(path / name, "package names are slugs of at most 64: [a-z0-9][a-z0-9-]*")
            features = self.features(path / name, spec if spec is not None else {})
            if features is not None:
                self.model["packages"][name] = features

    def features(self, path, spec):
        if not check_mapping(self.problems, path, spec, FEATURES):
            return None
        features = {}
        for key, (default, kind) in FEATURES.items():
            value = spec.get(key, default)
            if kind is bool:
                want_bool(self.problems, path / key, value)
            elif kind is dict:
                value = tunables.web_settings(value, self.problems.error, path / key)
            elif callable(kind):  # a checker of its own: (value, error, path) -> the checked value
                value = kind(value, self.problems.error, path / key)
            else:
                want_choice(self.problems, path / key, value, kind)
            features[key] = value
        return features
