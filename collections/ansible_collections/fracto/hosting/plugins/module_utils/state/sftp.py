# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's SFTP access (issue 16, docs/state.md#sftp): its key `sftp`, allowed when its package has `sftp: true`.

    sftp:
      password: "{{ vault_cliente1_sftp }}"   # or password_hash: a SHA-512 crypt hash ($6$...)
      keys: ["ssh-ed25519 AAAA... ana@laptop"]

At least one way to log in; at most one of password and password_hash; each key a whole public key line with no
options (argguard.ssh_public_key). The password is hashed on the controller (action sftp_access); no value is shown in
an error.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils import argguard as g
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import MIN_PASSWORD

SFTP_KEYS = ("password", "password_hash", "keys")
MAX_KEYS = 20


class SftpChecks:
    def sftp(self, path, client, raw):
        """client["sftp"]: {password, password_hash, keys} or None (no key, or an error reported)."""
        client["sftp"] = None
        if raw is None:
            return
        if not client["features"]["sftp"]:
            self.problems.error(path, "package %r has no sftp: set sftp: true in the package or in the client's overrides"
                                % client["package"])
            return
        if not check_mapping(self.problems, path, raw, SFTP_KEYS):
            return
        entry = {"password": None, "password_hash": None, "keys": []}
        if "password" in raw and "password_hash" in raw:
            self.problems.error(path, "give at most one of password (from the vault) or password_hash")
        elif "password" in raw:
            if not isinstance(raw["password"], str) or len(raw["password"]) < MIN_PASSWORD:
                self.problems.error(path / "password", "must be a string of at least %d characters" % MIN_PASSWORD)
            else:
                entry["password"] = raw["password"]
        elif "password_hash" in raw:
            try:
                entry["password_hash"] = g.shadow_hash("password_hash", raw["password_hash"])
            except g.Refused as exc:
                self.problems.error(path / "password_hash", exc.rule)
        entry["keys"] = self.sftp_keys(path / "keys", raw.get("keys", []))
        if not (entry["password"] or entry["password_hash"] or entry["keys"] or "password" in raw or "password_hash" in raw):
            self.problems.error(path, "give a password, a password_hash or keys: SFTP with no way to log in")
        client["sftp"] = entry

    def sftp_keys(self, path, keys):
        if not isinstance(keys, list):
            self.problems.error(path, "must be a list of SSH public keys")
            return []
        if len(keys) > MAX_KEYS:
            self.problems.error(path, "at most %d keys" % MAX_KEYS)
            return []
        out = []
        for index, key in enumerate(keys):
            try:
                key = g.ssh_public_key("key", key)
            except g.Refused as exc:
                self.problems.error(path / index, exc.rule)
                continue
            if key in out:
                self.problems.error(path / index, "is listed twice")
                continue
            out.append(key)
        return out
