# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-wide lock every writer module holds while it changes a host.

Many resellers converge the same shared hosts; two runs writing at once would lose each other's changes. A writer
takes an exclusive flock on one file per host, waits a bounded time, and otherwise fails naming who holds it since
when (the holder writes its reseller, module and start time into the file after taking the lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused

LOCK_PATH = "/run/fracto/host.lock"
DEFAULT_WAIT = 300


class HostLockTimeout(RuntimeError):
    """Another run held the lock for longer than the wait."""


def _holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return "another run"
    return "%s (reseller %s, pid %s) since %s" % (info.get("module", "another run"), info.get("reseller", "?"),
                                                  info.get("pid", "?"), info.get("since", "?"))


@contextlib.contextmanager
def host_lock(module_name, reseller=None, wait=DEFAULT_WAIT, path=LOCK_PATH, poll=0.2):
    """Hold the host's writer lock for the duration of the block (no-op wrapper for readers is not needed)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HostLockTimeout("another run holds the host lock %s: %s; waited %d s" % (path, _holder(fd), wait))
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"module": module_name, "reseller": reseller or "?", "pid": os.getpid(),
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode("utf-8"))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_locked(module, name, body, reseller=None):
    """Run body() under the host lock from an AnsibleModule; a timeout fails the module with the holder named."""
    try:
        with host_lock(name, reseller=reseller):
            return body()
    except HostLockTimeout as exc:
        module.fail_json(msg=str(exc))
        return None


def run_writer(module, name, check_args, body, reseller=None):
    """A writer module's run: check_args() first, where argguard.Refused fails the module ("<reason>; nothing was
    changed") before the lock and any write; then body(), at once in check mode (it writes nothing and does not wait
    for the lock), else under the host lock. Returns what body() returns."""
    try:
        check_args()
    except Refused as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    if module.check_mode:
        return body()
    return run_locked(module, name, body, reseller)
