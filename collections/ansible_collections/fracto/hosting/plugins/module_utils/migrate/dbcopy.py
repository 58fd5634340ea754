# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a migrated database is imported again, and the pieces of the dump and import commands."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import tempfile

DUMP_OPTIONS = ("--single-transaction", "--quick", "--routines", "--triggers", "--skip-dump-date", "--skip-comments")
_DEFINER = re.compile(rb"DEFINER=`[^`]*`@`[^`]*`\s*")


def dump_command(database):
    """The remote mysqldump: consistent (one transaction), deterministic (no date, no comments) so equal data hashes equal."""
    return "mysqldump %s -- %s" % (" ".join(DUMP_OPTIONS), shlex.quote(database))


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
    """A client option file for mysql, so that the password is never on a command line.

    A control character (a newline would start another option) or a non-plain user is refused, not escaped."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,80}", user or ""):
        raise ValueError("the database user is not a plain name")
    if re.search(r"[\x00-\x1f\x7f]", password or ""):
        raise ValueError("the database password has a control character")
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    return '[client]\nuser="%s"\npassword="%s"\n' % (user, escaped)


# Statements a dump of one database has no business running: other databases, accounts, privileges, server
# settings, files of the server or of the importing host, the mysql client's own commands (\! runs a shell).
# Importing as the client's database user makes them fail; they are reported as findings.
_HOSTILE = re.compile(
    rb"^\s*(?:/\*!\d*\s*)?(?P<what>USE\b|CONNECT\b|(?:CREATE|DROP|ALTER)\s+(?:DATABASE|SCHEMA)\b|GRANT\b|REVOKE\b"
    rb"|(?:CREATE|ALTER|DROP|RENAME)\s+USER\b|(?:CREATE|DROP|SET)\s+(?:DEFAULT\s+)?ROLE\b|SET\s+PASSWORD\b|INSTALL\s+(?:PLUGIN|SONAME)\b"
    rb"|UNINSTALL\s+(?:PLUGIN|SONAME)\b|LOAD\s+(?:DATA|XML)\b|SELECT\b.*\bINTO\s+(?:OUT|DUMP)FILE\b|SET\s+(?:GLOBAL\b|@@GLOBAL\.)"
    rb"|SHUTDOWN\b|KILL\b|FLUSH\b|CHANGE\s+MASTER\b|\\[!.TtrRPu]|(?:SYSTEM|SOURCE|TEE|PAGER|DELIMITER\s+\S*\\)\b)",
    re.IGNORECASE)
_QUOTED = re.compile(rb"'(?:\\.|[^'\\])*'?|\"(?:\\.|[^\"\\])*\"?")
LINE_LIMIT = 8 * 1024 * 1024
FINDINGS_LIMIT = 20
SCAN_BYTES = 4096


def finding(number, line):
    """A finding about one line of the dump: its number and its start, quoted values masked."""
    text = _QUOTED.sub(b"'****'", line[:SCAN_BYTES]).decode("utf-8", "replace").strip()
    return "line %d: %s" % (number, text[:120] + ("..." if len(text) > 120 else ""))


def clean_dump(source, target, line_limit=LINE_LIMIT):
    """Copy a dump from one binary stream to another without DEFINER clauses; the findings about hostile statements.

    Lines are read with a bound (a dump made of one huge line cannot fill the memory); a DEFINER split across two
    reads is kept, and the import as the client's user then refuses it."""
    findings, number = [], 0
    for line in iter(lambda: source.readline(line_limit), b""):
        number += 1
        if _HOSTILE.match(line[:SCAN_BYTES]):
            if len(findings) < FINDINGS_LIMIT:
                findings.append(finding(number, line))
            elif len(findings) == FINDINGS_LIMIT:
                findings.append("more statements of this kind follow (only the first %d are listed)" % FINDINGS_LIMIT)
        target.write(strip_definer(line))
    return findings


IMPORT_OPTIONS = ("--binary-mode", "--local-infile=0", "--batch", "--skip-reconnect")


def import_argv(run_as, options_file, database):
    """The mysql that imports the dump (on its standard input) as the client: its system user runs the client
    program (a client command that slipped through runs with the client's rights only) and its database user
    writes (another database, an account or a privilege is refused by the server).

    --binary-mode: no client command (\\!, system, source, tee, pager) is interpreted from the dump;
    --local-infile=0: LOAD DATA LOCAL cannot read a file of this host; --defaults-file first: only our options."""
    return ["runuser", "-u", run_as, "--", "mysql", "--defaults-file=%s" % options_file] + list(IMPORT_OPTIONS) + ["--", database]


def stream_dump(argv, sink, timeout=None):
    """Run the dump over SSH (argv, no shell) into sink (a binary file, or None in check mode: only hashed).

    Returns (rc, stderr, sha256, size): the stream is hashed as it passes, nothing is held in memory; stderr goes to a
    file, so a chatty remote never blocks the stream."""
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as errors:
        # run_command holds the whole output in memory: a dump is streamed instead.
        with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,  # pylint: disable=ansible-bad-function
                              cwd="/") as process:
            for chunk in iter(lambda: process.stdout.read(1024 * 1024), b""):
                digest.update(chunk)
                size += len(chunk)
                if sink is not None:
                    sink.write(chunk)
            rc = process.wait(timeout)
        errors.seek(0)
        err = errors.read(65536)
    return rc, err.decode("utf-8", "replace"), digest.hexdigest(), size


def run_import(argv, dump_path):
    """Run the import argv with the dump file on its standard input; (rc, stderr)."""
    with open(dump_path, "rb") as stdin, tempfile.TemporaryFile() as errors:
        # The dump is a file on the standard input (run_command would read it into memory first).
        rc = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=errors, cwd="/",  # pylint: disable=ansible-bad-function
                            check=False).returncode
        errors.seek(0)
        return rc, errors.read(65536).decode("utf-8", "replace")
