#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gdpr_evidence
short_description: Read the GDPR evidence kept on a platform host (backup job records, mail TLS settings)
version_added: 1.0.0
description:
  - Read-only. Reads the backup job records of one reseller on the host
    (C(<status_dir>/<reseller>/<client>.<side>.json), written by the backup jobs after every run) and,
    when asked, the mail servers' own settings about plaintext authentication (C(doveconf), C(postconf)),
    the second source of the C(tls-only-mail-access) requirement of C(playbooks/gdpr_report.yml).
  - Only the fields of the job record contract are returned; a record never carries a secret.
  - Changes nothing, in check mode or not.
extends_documentation_fragment:
  - fracto.hosting.read_only
options:
  reseller:
    description: The reseller whose job records are read.
    type: str
    required: true
  status_dir:
    description: Directory of the job records, one sub-directory per reseller.
    type: path
    default: /var/lib/fracto/backup/status
  mail_settings:
    description:
      - Also read C(doveconf ssl disable_plaintext_auth auth_mechanisms),
        C(postconf smtpd_tls_auth_only smtpd_sasl_auth_enable smtpd_tls_security_level) and the TLS and SASL
        overrides of the C(master.cf) services (C(postconf -P)), when those commands exist.
    type: bool
    default: false
attributes:
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform.
author:
  - fracto.hosting founding engineers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read the backup job records and the mail TLS settings of this host
  fracto.hosting.gdpr_evidence:
    reseller: demo
    mail_settings: "{{ inventory_hostname in groups['fracto_mail'] }}"
  register: gdpr__evidence
"""

RETURN = r"""
records:
  description:
    - The job records of the reseller on this host, each with its C(path); C(error) instead of the fields when
      the file cannot be read or is not a JSON object.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /var/lib/fracto/backup/status/demo/cliente1.web.json
      client: cliente1
      side: web
      repository: sftp:restic@backup01.fracto.test:/srv/restic/cliente1
      outside_host: true
      encrypted: true
      last_status: ok
      last_success: "2026-11-29T17:30:00Z"
mail_settings:
  description:
    - The settings read, per server (C(dovecot), C(postfix)), and C(postfix_services) with the overrides per
      C(master.cf) service; empty when not asked or not installed.
  returned: always
  type: dict
  sample:
    dovecot: {ssl: required, disable_plaintext_auth: "yes"}
    postfix: {smtpd_tls_auth_only: "yes", smtpd_sasl_auth_enable: "no"}
    postfix_services: {submission/inet: {smtpd_sasl_auth_enable: "yes", smtpd_tls_security_level: encrypt}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr.hostside import (
    DOVECOT_SETTINGS,
    POSTFIX_SETTINGS,
    parse_settings,
    read_job_records,
    service_overrides,
)


def _settings(module, command, names, parse=parse_settings):
    binary = module.get_bin_path(command)
    if not binary:
        return {}
    rc, out, err = module.run_command([binary] + list(names))
    if rc != 0:
        return {"error": (err or out).strip()[:500]}
    return parse(out)


def main():
    module = AnsibleModule(
        argument_spec={
            "reseller": {"type": "str", "required": True},
            "status_dir": {"type": "path", "default": "/var/lib/fracto/backup/status"},
            "mail_settings": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    records = read_job_records(module.params["status_dir"], module.params["reseller"])
    settings = {}
    if module.params["mail_settings"]:
        for server, command, names in (("dovecot", "doveconf", DOVECOT_SETTINGS), ("postfix", "postconf", POSTFIX_SETTINGS)):
            found = _settings(module, command, names)
            if found:
                settings[server] = found
        services = _settings(module, "postconf", ["-P"], service_overrides)
        if services:
            settings["postfix_services"] = services
    module.exit_json(changed=False, records=records, mail_settings=settings)


if __name__ == "__main__":
    main()
