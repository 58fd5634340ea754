# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash the mailbox passwords on the controller, then run the mail_server module on the mail host.

The host's current hashes are read first (a no_log call of the same module with read_hashes=true): a hash is
kept while its password still verifies, so that a rerun changes nothing. The module is only given hashes.
Fingerprints of the verified passwords (HMAC under a key kept on the host) are recorded on the controller in
fingerprint_cache, so that the next run does not verify again what has not changed.
"""

from __future__ import annotations

import hashlib
import json

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.mail.passwords import hashed_mailboxes
from ansible_collections.fracto.hosting.plugins.plugin_utils.password_hashing import PasswordHashingAction

MODULE = "fracto.hosting.mail_server"


def hashed_key_id(key):
    return hashlib.sha256(b"fracto key id\0" + key).hexdigest()[:16]


def load_cache(path, key_id):
    """{address: fingerprint} recorded for this host key, or {} (no file, another key, unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data.get("fingerprints", {}) if isinstance(data, dict) and data.get("key_id") == key_id else {}


def save_cache(path, key_id, fingerprints):
    """Written atomically, 0600: fingerprints are not passwords, but only this controller needs them."""
    write_atomic(path, json.dumps({"key_id": key_id, "fingerprints": fingerprints}, sort_keys=True), mode=0o600,
                 makedirs=True, dir_mode=0o700)


class ActionModule(PasswordHashingAction):
    MODULE = MODULE
    ENTRIES = "mailboxes"
    ID_KEY = "address"
    _cache = ""  # fingerprint_cache, taken out of the module's arguments by prepare()

    def prepare(self, args):
        self._cache = args.pop("fingerprint_cache", None) or ""
        return args

    def read_hashes_args(self, args):
        return dict(hostname=args.get("hostname", ""), reseller=args.get("reseller", ""), clients=args.get("clients") or [],
                    read_hashes=True, **{k: args[k] for k in ("records_dir",) if args.get(k)})

    def hashed(self, entries, current):
        """hashed_mailboxes with the fingerprints of the last run: what has not changed is not verified again."""
        cache = self._cache
        key = bytes.fromhex(current.get("fingerprint_key") or "")
        # The key's own fingerprint names it in the cache: a new key (a rebuilt host) invalidates every entry.
        key_id = hashed_key_id(key) if key else ""
        known = load_cache(cache, key_id) if cache and key else {}
        mailboxes, fingerprints = hashed_mailboxes(entries, current.get("hashes") or {}, key=key, known=known)
        if cache and key and fingerprints != known and not self._task.check_mode:
            save_cache(cache, key_id, fingerprints)
        return mailboxes
