# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to write a file, for every module and action plugin of the collection.

The content goes to a temporary file in the target's directory, created with its final mode (a key is never
readable by others, even for a moment) and owner, flushed to disk, then renamed over the target: a reader sees
the old file or the new one, never half of one, and a failed write leaves the old file as it was.
"""

from __future__ import annotations

import grp
import os
import pwd
import tempfile


def _uid(owner):
    return owner if isinstance(owner, int) else pwd.getpwnam(owner).pw_uid


def _gid(group):
    return group if isinstance(group, int) else grp.getgrnam(group).gr_gid


def write_atomic(path, content, mode=0o644, owner=None, group=None, makedirs=False, dir_mode=0o755):
    """Write content (str as UTF-8, or bytes) to path atomically; owner/group by name or id, None keeps ours."""
    directory = os.path.dirname(os.path.abspath(path))
    if makedirs:
        os.makedirs(directory, mode=dir_mode, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=".%s.fracto-" % os.path.basename(path), dir=directory)
    try:
        os.fchmod(fd, mode)
        if owner is not None or group is not None:
            os.fchown(fd, -1 if owner is None else _uid(owner), -1 if group is None else _gid(group))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_in(directory, name, content, mode=0o644):
    """write_atomic of directory/name; returns the path (the report writers list what they wrote)."""
    path = os.path.join(directory, name)
    write_atomic(path, content, mode=mode)
    return path


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
