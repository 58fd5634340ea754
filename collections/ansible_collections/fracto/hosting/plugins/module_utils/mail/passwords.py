# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hash mailbox passwords on the controller (libpass, import name passlib), keeping a hash that still verifies.

Only the controller runs this: the mail host is given hashes, never passwords.
"""

from __future__ import annotations

try:
    from passlib.context import CryptContext

    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - the controller venv has libpass
    HAS_PASSLIB = False

# SHA512-CRYPT with glibc's default 5,000 rounds, as Dovecot's own `doveadm pw -s SHA512-CRYPT` makes them:
# a rerun verifies every password against its hash, so the cost per hash bounds the rerun of a big host.
ROUNDS = 5000
SCHEMES = ["sha512_crypt", "sha256_crypt", "bcrypt", "argon2"]


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


def hashed_mailboxes(mailboxes, current_hashes, ctx=None):
    """The mailboxes with password_hash set and password dropped.

    A given password_hash is taken as is; a password keeps the host's current hash while it verifies,
    else gets a new SHA512-CRYPT hash.
    """
    ctx = ctx or context()
    out = []
    for box in mailboxes:
        entry = {k: v for k, v in box.items() if k != "password"}
        password = box.get("password")
        if not box.get("password_hash") and password is not None:
            current = current_hashes.get(box["address"])
            entry["password_hash"] = current if verifies(ctx, password, current) else ctx.hash(password)
        out.append(entry)
    return out
