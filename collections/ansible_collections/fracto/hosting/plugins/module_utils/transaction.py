# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a set of files, check them with the server's own checker, put every one back on failure.

A writer module never leaves a service with a configuration its checker refuses (nginx -t, postfix check,
doveconf -n, php-fpm -t, ...), nor half of a change: every file it writes or removes through a Transaction is
kept as it was first (its content, mode and owner, the target of a symlink, or its absence), and rollback() puts
each back exactly, the files that did not exist removed again. Actions that are not files (an address added, a map
compiled, a service reloaded) register their own undo; rollback() runs everything in the reverse order.

    tx = Transaction()
    failure = tx.apply(writes, removes, lambda: check_config(module), makedirs=True)
    if failure:  # every file is already back as it was
        module.fail_json(msg="%s; the previous configuration was put back" % failure)
"""

from __future__ import annotations

import os
import stat

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic

WRITE_FAILED = "writing the configuration failed: %s"


class Kept:
    """What stood at a path before the transaction touched it: a file (content, mode, uid, gid), a symlink (target),
    nothing (absent), or something else (a directory...) that is left alone."""

    __slots__ = ("kind", "content", "mode", "uid", "gid", "target")

    def __init__(self, kind, content=None, mode=None, uid=None, gid=None, target=None):
        self.kind, self.content, self.mode, self.uid, self.gid, self.target = kind, content, mode, uid, gid, target

    @classmethod
    def of(cls, path):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return cls("absent")
        if stat.S_ISLNK(info.st_mode):
            return cls("link", target=os.readlink(path))
        if not stat.S_ISREG(info.st_mode):
            return cls("other")
        with open(path, "rb") as handle:
            content = handle.read()
        return cls("file", content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def put_back(self, path):
        if self.kind == "file":
            write_atomic(path, self.content, mode=self.mode, owner=self.uid, group=self.gid, makedirs=True)
        elif self.kind == "link":
            tmp = os.path.join(os.path.dirname(path), ".%s.fracto-link" % os.path.basename(path))
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.target, tmp)
            os.replace(tmp, path)
        elif self.kind == "absent" and os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)


class Transaction:
    """Files written and removed, and undo actions, all put back by rollback() (see the module's docstring).

    write is the function that writes a file (path, content, **kwargs): write_atomic by default, or a module's own
    writer that picks each file's mode and owner."""

    def __init__(self, write=write_atomic):
        self._write = write
        self._undo = []  # ("file", path, Kept) or ("call", function, args), in the order done
        self._kept = set()

    def _keep(self, path):
        if path not in self._kept:
            self._undo.append(("file", path, Kept.of(path)))
            self._kept.add(path)

    def write(self, path, content, **kwargs):
        """Write path (what was there is kept first)."""
        self._keep(path)
        self._write(path, content, **kwargs)

    def remove(self, path):
        """Remove path if it exists (what was there is kept first)."""
        self._keep(path)
        if os.path.lexists(path):
            os.unlink(path)

    def undo(self, function, *args):
        """Have rollback() call function(*args) (after putting back what was done after this call)."""
        self._undo.append(("call", function, args))

    @property
    def touched(self):
        """The paths written or removed, in the order first touched."""
        return [entry[1] for entry in self._undo if entry[0] == "file"]

    def rollback(self):
        """Put back every file and run every undo action, the last done first (also after a run() that went well, when
        a later step fails). Each is tried; the first OSError met is raised once all were tried."""
        error = None
        for kind, what, extra in reversed(self._undo):
            try:
                if kind == "file":
                    extra.put_back(what)
                else:
                    what(*extra)
            except OSError as exc:
                error = error or exc
        self._undo, self._kept = [], set()
        if error is not None:
            raise error

    def run(self, change, check=None, errors=(OSError,), failed=WRITE_FAILED):
        """change() (which writes and removes through this transaction), then check(), which returns None or the
        checker's message. An exception of errors from either is the failure failed % exc. On a failure everything
        is rolled back and the failure returned; None when all went well. Any other exception (a module's fail_json
        too) rolls back as well and is raised again."""
        try:
            change()
            failure = check() if check is not None else None
        except errors as exc:
            failure = failed % exc
        except BaseException:
            self.rollback()
            raise
        if failure:
            self.rollback()
        return failure

    def apply(self, writes, removes=(), check=None, **kwargs):
        """run() of writing {path: content} (write's kwargs) and removing removes, then check()."""
        def change():
            for path, content in writes.items():
                self.write(path, content, **kwargs)
            for path in removes:
                self.remove(path)
        return self.run(change, check)
