# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root never follows a path the client can change (docs/security.md).

Two ways, each used where it fits:

- act as the client: a forked child drops to the client's uid and gid (no supplementary group) before it opens
  anything, so a symlink or a directory the client swapped in only leads where the client itself could write
  (read_as / write_as, the site's config files);
- act as root on handles: a directory is opened component by component with O_NOFOLLOW from "/", each component
  checked (root's and not writable by others, or the client's), and everything below is reached from that
  handle with *at() calls that do not follow symlinks (open_client_dir / fix_tree, the group and setgid bit
  that a receiving rsync running as the client cannot set).
"""

from __future__ import annotations

import json
import os
import stat

READ_LIMIT = 1024 * 1024
MAX_DEPTH = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ClientFsError(OSError):
    """An operation refused or failed in the client's tree (the message names the path, never file content)."""


def _drop_privileges(uid, gid):
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - the kernel refused silently
        raise PermissionError("could not become uid %d" % uid)


def as_client(uid, gid, func, *args):
    """func(*args) in a child process running as uid:gid; its JSON-able result, or its error raised here.

    The child has no supplementary group and cannot regain privileges (setresuid on all three ids)."""
    uid, gid = int(uid), int(gid)
    if uid == 0 or gid == 0:
        raise ClientFsError("refusing to act as root in a client's tree")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child (covered by the tests through the parent's result)
        status = 0
        try:
            os.close(read_end)
            try:
                _drop_privileges(uid, gid)
                payload = {"ok": func(*args)}
            except OSError as exc:
                payload = {"error": type(exc).__name__, "errno": exc.errno, "message": exc.strerror or str(exc)}
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
                payload = {"error": type(exc).__name__, "errno": None, "message": str(exc)}
            data = json.dumps(payload).encode("utf-8")
            while data:
                data = data[os.write(write_end, data):]
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        for chunk in iter(lambda: reader.read(65536), b""):
            chunks.append(chunk)
    _pid, status = os.waitpid(pid, 0)
    try:
        payload = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError:
        raise ClientFsError("the child acting as uid %d ended without a result (status %d)" % (uid, status)) from None
    if "ok" in payload:
        return payload["ok"]
    if payload["error"] == "FileNotFoundError":
        raise FileNotFoundError(payload["errno"], payload["message"])
    raise ClientFsError(payload["errno"] or 0, "%s: %s" % (payload["error"], payload["message"]))


def _read(path, limit):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the file itself is a symlink
            raise ClientFsError(exc.errno, "%s is a symlink: refused" % path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ClientFsError("%s is not a regular file" % path)
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise ClientFsError("%s is larger than %d bytes" % (path, limit))
    finally:
        os.close(fd)
    return {"text": data.decode("utf-8", "replace"), "uid": info.st_uid, "gid": info.st_gid,
            "mode": stat.S_IMODE(info.st_mode), "nlink": info.st_nlink}


def read_as(path, uid, gid, limit=READ_LIMIT):
    """{"text", "uid", "gid", "mode", "nlink"} of a regular file read as the client, or None when it is absent.

    The file itself must not be a symlink; every directory on its way is resolved with the client's rights."""
    try:
        return as_client(uid, gid, _read, path, limit)
    except FileNotFoundError:
        return None


def _read_many(paths, limit):
    texts = {}
    for path in paths:
        try:
            texts[path] = _read(path, limit)["text"]
        except OSError:
            texts[path] = None
    return texts


def read_many_as(paths, uid, gid, limit=READ_LIMIT):
    """{path: text or None} of files read as uid:gid in one child; a symlink, a missing or unreadable file gives None."""
    return as_client(uid, gid, _read_many, list(paths), limit)


def _write(path, text, mode):
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, ".%s.fracto-%s" % (name, os.urandom(6).hex()))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fchmod(fd, mode)
        os.fsync(fd)
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    os.close(fd)
    os.rename(temporary, path)  # replaces the entry itself, even a symlink: never its target
    return {"uid": info.st_uid, "gid": info.st_gid, "mode": stat.S_IMODE(info.st_mode)}


def write_as(path, text, uid, gid, mode=0o640):
    """Write text to path as the client: a new file in the same directory, then renamed over path."""
    return as_client(uid, gid, _write, path, text, mode)


def open_client_dir(path, uid):
    """A handle on directory path, opened from "/" one component at a time without following a symlink.

    Components above the client's tree must be root's and not writable by group or others (or sticky, like /tmp:
    nobody else can replace the entries in it); from the first
    component owned by uid on, every component must be uid's. Raises ClientFsError otherwise."""
    if not path.startswith("/"):
        raise ClientFsError("%s is not an absolute path" % path)
    fd = os.open("/", _DIR_FLAGS)
    inside = False
    walked = ""
    try:
        for part in [p for p in path.split("/") if p]:
            if part in (".", ".."):
                raise ClientFsError("%s has a '%s' component" % (path, part))
            walked += "/" + part
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise ClientFsError(exc.errno, "%s: %s (a symlink or no directory)" % (walked, exc.strerror)) from None
            os.close(fd)
            fd = child
            info = os.fstat(fd)
            if info.st_uid == uid:
                inside = True
            elif inside or info.st_uid != 0 or (info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX):
                raise ClientFsError("%s is owned by uid %d (mode %o): not the client's tree nor root's"
                                    % (walked, info.st_uid, stat.S_IMODE(info.st_mode)))
        if not inside:
            raise ClientFsError("%s is not in the client's tree (no component owned by uid %d)" % (path, uid))
        return fd
    except BaseException:
        os.close(fd)
        raise


def fix_tree(top_fd, uid, gid, dir_mode=0o2750, max_depth=MAX_DEPTH):
    """Give what uid owns under top_fd the group gid, and directories dir_mode (setgid: new files inherit gid).

    A receiving rsync running as the client cannot do it (the client is not in the web server's group). Every
    directory is opened from its parent's handle with O_NOFOLLOW, files and symlinks are changed with
    fchownat(AT_SYMLINK_NOFOLLOW): a symlink is never followed, and nothing that uid does not own is touched.
    Returns the relative paths changed. top_fd stays open (the caller's)."""
    fixer = _GroupFixer(uid, gid, dir_mode)
    fixer.fix_dir(top_fd, "")
    top = os.dup(top_fd)
    stack = [(top, "", _listing(top))]  # one open handle per level: depth, not width, bounds the handles held
    try:
        while stack:
            fd, rel, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                os.close(fd)
                stack.pop()
                continue
            name, info = entry
            if info.st_uid != uid:
                continue
            path = rel + name
            if stat.S_ISDIR(info.st_mode):
                child = fixer.enter_dir(fd, name, path + "/") if len(stack) <= max_depth else None
                if child is not None:
                    stack.append((child, path + "/", _listing(child)))
            elif (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)) and info.st_gid != gid:
                fixer.fix_file(fd, name, path)
    finally:
        for fd, _rel, _entries in stack:
            os.close(fd)
    return fixer.changed


def _listing(fd):
    """(name, lstat) of the entries of the directory fd, read at once (none when it cannot be read)."""
    try:
        with os.scandir(fd) as entries:
            return iter([(e.name, e.stat(follow_symlinks=False)) for e in entries])
    except OSError:
        return iter(())


class _GroupFixer:
    """fix_tree's changes to uid's entries (group gid, directories dir_mode), with the relative paths changed."""

    def __init__(self, uid, gid, dir_mode):
        self.uid, self.gid, self.dir_mode = uid, gid, dir_mode
        self.changed = []

    def fix_dir(self, fd, rel):
        """The directory fd (rel: its relative path), if uid's: group gid and mode dir_mode."""
        info = os.fstat(fd)
        if info.st_uid != self.uid:
            return
        if info.st_gid != self.gid:
            os.fchown(fd, -1, self.gid)
        if stat.S_IMODE(info.st_mode) != self.dir_mode or info.st_gid != self.gid:
            os.fchmod(fd, self.dir_mode)
            self.changed.append(rel or "./")

    def enter_dir(self, fd, name, rel):
        """The handle of the directory name under fd, fixed; None when it is left alone."""
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            return None  # swapped for a symlink or removed meanwhile: left alone
        try:
            self.fix_dir(child, rel)
        except OSError:
            os.close(child)
            return None
        return child

    def fix_file(self, fd, name, path):
        """A file or symlink under fd, given the group (the link itself, never its target)."""
        try:
            os.chown(name, -1, self.gid, dir_fd=fd, follow_symlinks=False)
            self.changed.append(path)
        except OSError:
            pass
