# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash mailbox passwords on the controller (libpass, import name passlib), keeping a hash that still verifies.

Only the controller runs this: the mail host is given hashes, never passwords.

Verifying a SHA512-CRYPT hash costs about 4 ms in libpass's pure-Python backend, 20 s for 5,000 mailboxes. A
rerun skips it for a mailbox whose (address, hash, password) matches a fingerprint recorded at the last run:
HMAC-SHA256 under a key that lives only on the mail host (root, 0600), the fingerprints only on the controller.
Neither side alone gives a fast way to test password guesses. What still needs verifying or hashing is spread
over the controller's cores.
"""

from __future__ import annotations

import hashlib
import hmac
import os

try:
    from passlib.context import CryptContext

    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - the controller venv has libpass
    HAS_PASSLIB = False

# SHA512-CRYPT with glibc's default 5,000 rounds, as Dovecot's own `doveadm pw -s SHA512-CRYPT` makes them.
ROUNDS = 5000
SCHEMES = ["sha512_crypt", "sha256_crypt", "bcrypt", "argon2"]
# Below this many hashes to compute, a process pool costs more than it saves.
PARALLEL_FROM = 64


def context():
    return CryptContext(schemes=SCHEMES, default="sha512_crypt", sha512_crypt__default_rounds=ROUNDS)


def verifies(ctx, password, current):
    """Whether password matches the current hash; False for a hash this controller cannot check."""
    if not current:
        return False
    try:
        return ctx.verify(password, current)
    except (ValueError, TypeError, RuntimeError):
        return False  # unknown scheme, or argon2 without argon2-cffi: hash again


def fingerprint(key, address, pw_hash, password):
    """HMAC-SHA256 (hex) of the triple under the host's key; empty without a key."""
    if not key:
        return ""
    message = "\0".join((address, pw_hash, password)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _settle(job):
    """(address, hash to use) for one mailbox: its current hash if the password verifies, else a new one."""
    address, password, current = job
    ctx = context()
    return address, current if verifies(ctx, password, current) else ctx.hash(password)


def _settle_all(jobs, workers):
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        try:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
                return dict(pool.map(_settle, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
        except (OSError, RuntimeError, AssertionError):
            pass  # no fork here (a daemonic parent, a sandbox): the same work in this process
    return dict(_settle(job) for job in jobs)


def hashed_mailboxes(mailboxes, current_hashes, key=b"", known=None, workers=None, id_key="address"):
    """(mailboxes with password_hash set and password dropped, fingerprints to record).

    A given password_hash is taken as is; a password keeps the host's current hash while it verifies (or while its
    fingerprint matches `known`), else gets a new SHA512-CRYPT hash. Entries are named by their id_key (a mailbox's
    address; a client id for SFTP logins, module sftp_access).
    """
    known = known or {}
    jobs, kept = [], {}
    for box in mailboxes:
        password = box.get("password")
        if box.get("password_hash") or password is None:
            continue
        current = current_hashes.get(box[id_key])
        if current and key and hmac.compare_digest(known.get(box[id_key], ""), fingerprint(key, box[id_key], current, password)):
            kept[box[id_key]] = current
        else:
            jobs.append((box[id_key], password, current))
    settled = dict(kept, **_settle_all(jobs, workers or os.cpu_count() or 1))
    out, fingerprints = [], {}
    for box in mailboxes:
        entry = {k: v for k, v in box.items() if k != "password"}
        if box[id_key] in settled:
            entry["password_hash"] = settled[box[id_key]]
            if key:
                fingerprints[box[id_key]] = fingerprint(key, box[id_key], entry["password_hash"], box["password"])
        out.append(entry)
    return out, fingerprints
