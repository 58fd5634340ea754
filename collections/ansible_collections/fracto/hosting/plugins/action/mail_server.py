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

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.mail.passwords import HAS_PASSLIB, hashed_mailboxes

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


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        cache = args.pop("fingerprint_cache", None) or ""
        mailboxes = args.get("mailboxes") or []
        if any(b.get("password") is not None and not b.get("password_hash") for b in mailboxes):
            if not HAS_PASSLIB:
                raise AnsibleActionFail("fracto.hosting.mail_server needs libpass (passlib) on the controller to hash passwords")
            current = self._execute_module(module_name=MODULE, module_args=dict(
                hostname=args.get("hostname", ""), reseller=args.get("reseller", ""), clients=args.get("clients") or [],
                read_hashes=True, **{k: args[k] for k in ("records_dir",) if args.get(k)}), task_vars=task_vars)
            if current.get("failed"):
                result.update(failed=True, msg="reading the current hashes failed: %s" % current.get("msg", ""))
                return result
            key = bytes.fromhex(current.get("fingerprint_key") or "")
            # The key's own fingerprint names it in the cache: a new key (a rebuilt host) invalidates every entry.
            key_id = hashed_key_id(key) if key else ""
            known = load_cache(cache, key_id) if cache and key else {}
            args["mailboxes"], fingerprints = hashed_mailboxes(mailboxes, current.get("hashes") or {}, key=key, known=known)
            if cache and key and fingerprints != known and not self._task.check_mode:
                save_cache(cache, key_id, fingerprints)
        args.pop("read_hashes", None)
        result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        return result
