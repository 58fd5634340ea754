# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clients (fracto_clients and fracto_clients__<part>): each client's keys, in order, and the GDPR policy.

ClientChecks is one of the parts StateValidator (model.py) is made of: it reads the client's package, hosts and
features, then hands each section to its own checks (domains.py, own_certificates.py, mail.py, backups.py,
databases.py, migration.py) and checks gdpr: true across them.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.backups import repository_host
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import StatePath, check_mapping
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import InvalidName, normalize_name
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import FEATURES, MAIL_GROUP, WEB_GROUP, merge_client_sources
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import client_names


class ClientChecks:
    """Every client: its package, features and hosts, then each of its sections; the GDPR rules last."""

    def clients(self):
        merged, origin = merge_client_sources(self.vars, self.problems)
        if not merged:
            self.problems.warn(StatePath("fracto_clients"), "no client defined")
        # First pass: claim every domain, so that a name under another client's domain is caught
        # whatever the order of the clients.
        for cid in sorted(merged, key=str):
            client = merged[cid]
            if isinstance(client, dict) and isinstance(client.get("domains"), dict):
                for key in client["domains"]:
                    try:
                        domain = normalize_name(key)
                    except InvalidName:
                        continue
                    self.domain_owner.setdefault(domain, cid)
        self.db_prefixes = {cid: rules.database_prefix(cid) for cid in merged if isinstance(cid, str)}
        for cid in sorted(merged, key=str):
            self.client(StatePath(origin[cid]) / cid, cid, merged[cid])
        self.mail_name_conflicts()

    def client(self, path, cid, raw):
        allowed = ("package", "overrides", "web_host", "mail_host", "domains", "dedicated_ip", "certificates",
                   "mailboxes", "mail_aliases", "backup", "migration", "databases", "sftp")
        rule = rules.client_id_problem(cid)
        if rule:
            self.problems.error(path, rule)
            return
        if not check_mapping(self.problems, path, raw, allowed, required=("package", "web_host", "domains")):
            return
        client = {"id": cid, "path": str(path)}
        package = raw.get("package")
        if not isinstance(package, str) or package not in self.model["packages"]:
            if "package" in raw:  # a missing key is reported as required; package: null is not silently skipped
                self.problems.error(path / "package", "unknown package %r (defined: %s)"
                                    % (package, ", ".join(sorted(self.model["packages"])) or "none"))
            return
        client["package"] = package
        overrides = raw.get("overrides", {}) or {}
        effective = dict(self.model["packages"][package])
        # features() refuses a non-mapping and unknown keys (once); only known keys override.
        over = self.features(path / "overrides", overrides)
        if over is not None:
            effective.update({k: over[k] for k in overrides if k in FEATURES})
            if "mail_limits" in overrides:  # single limits change, the package's others stay
                effective["mail_limits"] = dict(self.model["packages"][package]["mail_limits"], **over["mail_limits"])
        client["features"] = effective
        client["overrides"] = sorted(overrides) if isinstance(overrides, dict) else []
        # A missing web_host or mail_host is reported once, as required.
        client["web_host"] = self.inventory_host(path / "web_host", raw["web_host"], WEB_GROUP) if "web_host" in raw else None
        if effective["mail"] or "mail_host" in raw:
            if "mail_host" not in raw:
                self.problems.error(path / "mail_host", "is required: package %r includes mail" % package)
            mail_host = self.inventory_host(path / "mail_host", raw["mail_host"], MAIL_GROUP) if "mail_host" in raw else None
            # Without mail in the package the host is checked but serves nothing of this client.
            client["mail_host"] = mail_host if effective["mail"] else None
        else:
            client["mail_host"] = None
        self.domains(path / "domains", client, raw.get("domains"))
        self.dedicated_ip(path / "dedicated_ip", client, raw.get("dedicated_ip"))
        self.certificates(path / "certificates", client, raw.get("certificates", []))
        self.mailboxes(path, client, raw)
        self.client_backup(path, client, raw.get("backup"))
        self.databases(path / "databases", client, raw.get("databases", {}))
        self.migration(path / "migration", client, raw.get("migration"))
        self.sftp(path / "sftp", client, raw.get("sftp"))
        self.mail_names(path, client)
        self.gdpr(path, client)
        self.model["clients"][cid] = client

    def gdpr(self, path, client):
        """gdpr: true is a policy; each broken rule is named, at the place that breaks it."""
        feats = client["features"]
        if not feats["gdpr"]:
            return

        def where(key):
            if key in client["overrides"]:
                return path / "overrides" / key
            return StatePath("fracto_packages") / client["package"] / key

        if not feats["autossl"]:
            uncovered = [n for n in client_names(client) if not any(n in c["names"] for c in client["certificates"])]
            if uncovered:
                self.problems.error(where("autossl"), "gdpr rule https-everywhere: autossl is off and no certificate covers %s"
                                    % ", ".join(uncovered))
        if not feats["https_redirect"]:
            self.problems.error(where("https_redirect"), "gdpr rule http-redirects-to-https: https_redirect must be true")
        if not feats["hsts"]:
            self.problems.error(where("hsts"), "gdpr rule hsts: hsts must be true")
        if feats["backup"] == "none":
            self.problems.error(where("backup"), "gdpr rule encrypted-offsite-backup: backup must be reseller or client, not none")
        elif client["backup"]:
            host = repository_host(client["backup"]["repository"])
            own = {client["web_host"], client["mail_host"]} - {None}
            domain = self.model["platform"].get("domain")
            own |= {"%s.%s" % (h, domain) for h in own if domain}
            if host == "":
                self.problems.error(StatePath(client["backup"]["source"]) / "repository",
                                    "gdpr rule encrypted-offsite-backup: a local repository is not outside the host")
            elif host in own:
                self.problems.error(StatePath(client["backup"]["source"]) / "repository",
                                    "gdpr rule encrypted-offsite-backup: %s is a host that serves this client" % host)
