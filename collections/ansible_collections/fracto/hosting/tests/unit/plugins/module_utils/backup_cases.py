# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup jobs of a reseller's two clients, shared by test_backup_runner.py and test_backup_jobs.py (not a test module)."""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.backup import jobs

SECRET = "restic-UNIT-SECRET-1"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nUNIT-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----"
SETTINGS = dict(jobs.DEFAULTS)
JOBS = [
    {"client": "c1", "side": "web", "what": ["files", "databases"], "repository": "sftp://restic@backup.test:2222//srv/restic/c1",
     "keep": {"daily": 7, "weekly": 4}, "managed_by": "client"},
    {"client": "c2", "side": "web", "what": ["files", "databases"], "repository": "sftp:restic@backup.test:/srv/restic/demo/c2",
     "keep": {"daily": 7}, "managed_by": "reseller"},
]
PASSWORDS = {"c1/web": SECRET, "c2/web": SECRET + "2"}
DATABASES = [{"name": "c1_db", "client": "c1"}, {"name": "c2_shop", "client": "c2"}]
KNOWN_HOSTS = ("backup.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY22\n"
               "[backup.test]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUNITKEY2222\n")
REST = "rest:https://restic:UNIT-SECRET-pw@rest.backup.test:8000/c1/"
