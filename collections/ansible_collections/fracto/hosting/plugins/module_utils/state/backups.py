# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup targets: the reseller's (fracto_reseller.backup, one repository per client) and a client's own
(backup:), by the package's backup mode.

BackupChecks is one of the parts StateValidator (model.py) is made of. No message ever shows a repository's
password.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url
from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping, want_str
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import MAIL_GROUP, MIN_PASSWORD, WEB_GROUP

MAX_KEEP = 100000


def repository_host(repository):
    """The host of a valid restic repository string (lowercase), None for a backend without one or an invalid one."""
    parts, _rule = rules.parse_repository(repository, placeholder=True)
    return parts["host"].lower() if parts and "host" in parts else None


class BackupChecks:
    """fracto_reseller.backup and a client's backup:."""

    def backup_target(self, path, raw, per_client):
        if not check_mapping(self.problems, path, raw, ("repository", "password", "keep"), required=("repository", "password")):
            return None
        repository, password = raw.get("repository"), raw.get("password")
        if not want_str(self.problems, path / "repository", repository):
            return None
        if not self.repository(path / "repository", repository, per_client):
            return None
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            self.problems.error(path / "password", "must be a string of at least %d characters (restic encrypts with it)" % MIN_PASSWORD)
            return None
        keep = raw.get("keep", {"daily": 7, "weekly": 4, "monthly": 6})
        if check_mapping(self.problems, path / "keep", keep, ("last", "hourly", "daily", "weekly", "monthly", "yearly")):
            for key, value in keep.items():
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_KEEP:
                    self.problems.error(path / "keep" / key, "must be an integer from 0 to %d" % MAX_KEEP)
        return {"repository": repository, "password": password, "keep": keep}

    def repository(self, path, repository, per_client):
        """The whole repository by its backend's grammar, not on a host that runs jobs; errors never show it."""
        parts, rule = rules.parse_repository(repository, placeholder=per_client)
        if rule is None and per_client and rules.PLACEHOLDER not in repository:
            rule = "a reseller target must contain {client}: one repository per client"
        if rule is None and parts.get("host", "").lower() in self.platform_host_names(WEB_GROUP, MAIL_GROUP):
            rule = "%s is a host of the platform that runs backups: a repository must be outside it" % parts["host"].lower()
        if rule:
            # A rest URL carries a password: the rule names parts, never the value; redact_url is a second guard.
            self.problems.error(path, redact_url(rule))
            return False
        return True

    def client_backup(self, path, client, raw):
        mode = client["features"]["backup"]
        client["backup"] = None
        if raw is not None and mode != "client":
            self.problems.error(path / "backup", "a client-managed target is only used when the package says backup: client (it says %s)" % mode)
            return
        if mode == "client":
            if raw is None:
                self.problems.error(path / "backup", "is required: the package says backup: client")
                return
            target = self.backup_target(path / "backup", raw, per_client=False)
            if target:
                client["backup"] = dict(target, managed_by="client", source=str(path / "backup"))
        elif mode == "reseller":
            target = self.model["reseller"].get("backup")
            if not target:
                if "backup" not in self.model["reseller"]:  # an invalid one is reported at fracto_reseller.backup
                    self.problems.error(path / "package", "package %r says backup: reseller but fracto_reseller.backup is not set"
                                        % client["package"])
                return
            client["backup"] = dict(target, repository=target["repository"].replace("{client}", client["id"]),
                                    managed_by="reseller", source="fracto_reseller.backup")
