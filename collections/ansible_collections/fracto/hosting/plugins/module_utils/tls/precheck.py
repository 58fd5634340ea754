# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain control before ordering, like cPanel's AutoSSL, and the webroot of the HTTP-01 challenges.

HttpPrecheck writes a random token into the webroot and fetches it at http://<name>/.well-known/acme-challenge/
through the system resolver; DnsPrecheck (check mode, nothing written) only resolves the names. Both are
callables names -> {name: reason} of the names that fail.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic

CHALLENGE_PATH = ".well-known/acme-challenge"
USER_AGENT = "fracto.hosting-tls_certificates"


def pool_size(count, cap=32):
    """Threads of a pool for count jobs: at least 1, at most cap."""
    return max(1, min(cap, count))


class HttpPrecheck:
    """Fetch http://<name>/.well-known/acme-challenge/<token> for a token written in the webroot."""

    def __init__(self, webroot, timeout=5.0, workers=16):
        self.webroot = webroot
        self.timeout = timeout
        self.workers = workers

    def __call__(self, names):
        if not names:
            return {}
        directory = ensure_challenge_dir(self.webroot)
        token = "fracto-precheck-" + secrets.token_urlsafe(16)
        value = secrets.token_urlsafe(32)
        path = os.path.join(directory, token)
        write_atomic(path, value.encode("ascii"), 0o644)
        try:
            with ThreadPoolExecutor(max_workers=pool_size(min(self.workers, len(names)))) as pool:
                answers = list(pool.map(lambda n: self.one(n, token, value), names))
        finally:
            os.unlink(path)
        return {name: why for name, why in zip(names, answers) if why}

    def one(self, name, token, value):
        """None when the name serves our token; otherwise why not."""
        try:
            addresses = sorted({info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)})
        except socket.gaierror as exc:
            return "DNS: %s does not resolve (%s)" % (name, exc.strerror or exc)
        where = ", ".join(addresses)
        conn = http.client.HTTPConnection(name, 80, timeout=self.timeout)
        try:
            conn.request("GET", "/%s/%s" % (CHALLENGE_PATH, token), headers={"User-Agent": USER_AGENT, "Connection": "close"})
            response = conn.getresponse()
            body = response.read(4096)
        except socket.timeout:
            return "HTTP: no answer from %s port 80 within %gs" % (where, self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            return "HTTP: %s port 80: %s" % (where, getattr(exc, "strerror", None) or exc.__class__.__name__)
        finally:
            conn.close()
        if response.status != 200:
            return "HTTP %d from %s for the challenge path (does the name point to this host?)" % (response.status, where)
        if body.strip() != value.encode("ascii"):
            return "%s answers the challenge path with other content: the name points to another server" % where
        return None


class DnsPrecheck:
    """Check mode: the names must resolve (nothing is written, so no token can be fetched)."""

    def __init__(self, workers=16):
        self.workers = workers

    def __call__(self, names):
        def one(name):
            try:
                socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                return "DNS: %s does not resolve (%s)" % (name, exc.strerror or exc)
            return None
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=pool_size(min(self.workers, len(names)))) as pool:
            answers = list(pool.map(one, names))
        return {name: why for name, why in zip(names, answers) if why}


def ensure_challenge_dir(webroot):
    directory = os.path.join(webroot, CHALLENGE_PATH)
    for path in (webroot, os.path.join(webroot, ".well-known"), directory):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            os.chmod(path, 0o755)
    return directory


def unreadable_ancestor(path):
    """The first directory on the way to path that others (nginx's workers) cannot traverse, or None."""
    path = os.path.abspath(path)
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        current = "/" + "/".join(parts[:i])
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return None
        if not mode & 0o001:
            return current, mode & 0o7777
    return None


def webroot_warning(webroot):
    """The warning of tls_certificates when nginx's workers cannot reach the webroot of the challenges, or None."""
    blocked = unreadable_ancestor(webroot)
    if not blocked:
        return None
    return ("nginx's workers cannot read the ACME webroot %s: %s has mode %04o (others need x); "
            "prechecks and HTTP-01 validations will fail" % (webroot, blocked[0], blocked[1]))
