# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash the clients' SFTP passwords on the controller (the host's shadow hash kept while it verifies), then run the
sftp_access module on the web host with hashes only (plugin_utils/password_hashing.py)."""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.plugin_utils.password_hashing import PasswordHashingAction


class ActionModule(PasswordHashingAction):
    MODULE = "fracto.hosting.sftp_access"
    ENTRIES = "users"
    ID_KEY = "client"

    def read_hashes_args(self, args):
        return dict(users=[{"client": u.get("client")} for u in args.get("users") or []], clients=args.get("clients") or [],
                    reseller=args.get("reseller", ""), templates={}, read_hashes=True)
