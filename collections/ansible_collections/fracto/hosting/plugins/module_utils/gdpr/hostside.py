# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the GDPR report reads on a host: the backup job records and the mail servers' own settings (read-only)."""

from __future__ import annotations

import json
import os

from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact

STATUS_DIR = "/var/lib/fracto/backup/status"
DOVECOT_SETTINGS = ("ssl", "disable_plaintext_auth", "auth_mechanisms")
POSTFIX_SETTINGS = ("smtpd_tls_auth_only", "smtpd_sasl_auth_enable", "smtpd_tls_security_level")
POSTFIX_SERVICE_SETTINGS = POSTFIX_SETTINGS + ("smtpd_tls_wrappermode",)
RECORD_FIELDS = ("reseller", "client", "side", "what", "managed_by", "repository", "outside_host", "encrypted", "last_attempt",
                 "last_status", "last_success", "last_error", "snapshot_id", "size_bytes")


def read_job_records(status_dir, reseller):
    """Every job record <status_dir>/<reseller>/<client>.<side>.json, each with its path; unreadable ones carry error."""
    directory = os.path.join(status_dir, reseller)
    records = []
    if not os.path.isdir(directory):
        return records
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        stem = entry[: -len(".json")]
        client, _dot, side = stem.rpartition(".")
        record = {"path": path, "client": client or stem, "side": side if client else None}
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            record["error"] = str(exc)
            records.append(record)
            continue
        # Only the contract's fields: a record never carries a secret, and nothing else is reported.
        # Redacted too: a record written before redaction may still carry a repository password.
        record.update(redact({k: data.get(k) for k in RECORD_FIELDS if k in data}))
        records.append(record)
    return records


def parse_settings(text):
    """'name = value' lines (doveconf NAME..., postconf NAME...) as {name: value}."""
    settings = {}
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and " " not in name.strip():
            settings[name.strip()] = value.strip()
    return settings


def service_overrides(text):
    """The TLS/SASL overrides of master.cf services (postconf -P) as {service/type: {name: value}}."""
    services = {}
    for key, value in parse_settings(text).items():
        service, _sep, name = key.rpartition("/")
        if service and name in POSTFIX_SERVICE_SETTINGS:
            services.setdefault(service, {})[name] = value
    return services
