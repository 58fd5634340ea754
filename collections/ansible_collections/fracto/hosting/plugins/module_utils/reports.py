# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the controller's report actions write their documents (plans, reports, migration and GDPR reports).

Each document goes to the report directory the playbook gives (``dest``: ``fracto_report_dir``, ``$FRACTO_REPORT_DIR``
or ``.fracto/``). Under ansible-runner, and so in an AWX or Automation Platform job, a copy also goes to the job's
artifact directory, ``<artifact dir>/fracto/``: ansible-runner names it in ``AWX_ISOLATED_DATA_DIR`` for the
ansible-playbook it starts (docs/awx.md). Controller-side only: documents carry no secret (their writers redact).
"""

from __future__ import annotations

import os

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic

RUNNER_ARTIFACT_ENV = "AWX_ISOLATED_DATA_DIR"
ARTIFACT_SUBDIR = "fracto"


def artifact_dir(environ=None):
    """``<artifact dir>/fracto`` of the ansible-runner job this run belongs to, or None outside ansible-runner."""
    environ = os.environ if environ is None else environ
    base = environ.get(RUNNER_ARTIFACT_ENV) or ""
    if not os.path.isabs(base) or not os.path.isdir(base):
        return None
    return os.path.join(base, ARTIFACT_SUBDIR)


def report_dir(dest):
    """The report directory, absolute, made if missing."""
    directory = os.path.abspath(os.path.expanduser(str(dest)))
    os.makedirs(directory, exist_ok=True)
    return directory


class ReportWriter:
    """Writes documents into one report directory and, under ansible-runner, copies them into the job's artifacts.

    ``paths`` lists what was written to the report directory, ``artifacts`` the copies (same names)."""

    def __init__(self, dest, environ=None):
        self.directory = report_dir(dest)
        copies = artifact_dir(environ)
        if copies and os.path.realpath(copies) == os.path.realpath(self.directory):
            copies = None  # the report directory is the artifact directory already: one copy
        self.copies = copies
        self.paths = []
        self.artifacts = []

    def write(self, name, content, mode=0o644):
        """Write name (a file name, or sub/name) into the report directory (and its copy); returns the report
        directory's path."""
        path = os.path.join(self.directory, name)
        write_atomic(path, content, mode=mode, makedirs=True, dir_mode=0o755)
        self.paths.append(path)
        if self.copies:
            copy = os.path.join(self.copies, name)
            write_atomic(copy, content, mode=mode, makedirs=True, dir_mode=0o755)
            self.artifacts.append(copy)
        return path

    def prune(self, subdir, suffix):
        """Remove the files of the report directory's subdir ending in suffix that this writer did not write (pages an
        earlier run left for what this run no longer reports); returns their paths. The artifact copies are per job."""
        directory = os.path.join(self.directory, subdir)
        if not os.path.isdir(directory) or os.path.islink(directory):
            return []
        written = set(self.paths)
        removed = []
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            if entry.endswith(suffix) and path not in written and (os.path.islink(path) or os.path.isfile(path)):
                os.unlink(path)
                removed.append(path)
        return removed

    def result(self):
        """What the action returns about its documents: ``artifacts`` only when copies were made."""
        return {"artifacts": list(self.artifacts)} if self.artifacts else {}
