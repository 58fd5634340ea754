# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a migrated database is imported again, and the pieces of the dump and import commands."""

from __future__ import annotations

import re

DUMP_OPTIONS = ("--single-transaction", "--quick", "--routines", "--triggers", "--skip-dump-date", "--skip-comments")
_DEFINER = re.compile(rb"DEFINER=`[^`]*`@`[^`]*`\s*")


def dump_command(database):
    """The remote mysqldump: consistent (one transaction), deterministic (no date, no comments) so equal data hashes equal."""
    return "mysqldump %s -- %s" % (" ".join(DUMP_OPTIONS), database)


def strip_definer(chunk):
    """Views, triggers and routines of the old host name its users; on import they belong to the client's user."""
    return _DEFINER.sub(b"", chunk)


def import_reason(target_tables, recorded, digest):
    """Why the dump must be imported, or None when the target already holds this exact dump.

    The target is imported when it is empty (first migration, or emptied by hand) or when the source changed since
    the dump last imported (its SHA-256 is recorded on the target): a rerun with an unchanged source imports nothing.
    """
    if target_tables == 0:
        return "the target database is empty"
    if recorded is None:
        return "the target database was never imported by a migration"
    if recorded != digest:
        return "the source database changed since the last import"
    return None


def defaults_file(user, password):
    """A client option file for mysql, so that the password is never on a command line."""
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return '[client]\nuser="%s"\npassword="%s"\n' % (user, escaped)
