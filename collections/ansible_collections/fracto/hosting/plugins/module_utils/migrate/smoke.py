# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smoke test of a migrated site: one request to the old and the new host per name, by address with a Host header."""

from __future__ import annotations

import html
import http.client
import re
import socket
import ssl

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def title_of(body):
    match = _TITLE.search(body or "")
    return " ".join(html.unescape(match.group(1)).split()) if match else None


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with the site's name as SNI (before DNS points the name at the host)."""

    def __init__(self, address, name, context, timeout):
        super().__init__(address, 443, timeout=timeout, context=context)
        self._sni_name = name
        self._sni_context = context

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._sni_context.wrap_socket(sock, server_hostname=self._sni_name)


def fetch(address, name, scheme="http", path="/", timeout=15):
    """(status, title, error) of GET <scheme>://<name><path> sent to address (SNI and Host: name)."""
    try:
        if scheme == "https":
            context = ssl.create_default_context()
            # Content is compared here, not the certificate (the web scenario checks it): before DNS moves the
            # name may not have its certificate yet.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = _SNIConnection(address, name, context, timeout)
        else:
            connection = http.client.HTTPConnection(address, 80, timeout=timeout)
        connection.request("GET", path, headers={"Host": name, "User-Agent": "fracto-migrate-smoke/1"})
        response = connection.getresponse()
        body = response.read(1024 * 1024).decode("utf-8", "replace")
        connection.close()
        return response.status, title_of(body), None
    except (OSError, http.client.HTTPException) as exc:
        return None, None, "%s: %s" % (type(exc).__name__, exc)


def compare(name, old, new):
    """One result per name: {"name", "old": {...}, "new": {...}, "match", "differences"}."""
    differences = []
    (old_status, old_title, old_error), (new_status, new_title, new_error) = old, new
    if old_error:
        differences.append("old site: %s" % old_error)
    if new_error:
        differences.append("new site: %s" % new_error)
    if not old_error and not new_error:
        if old_status != new_status:
            differences.append("status %s on the old site, %s on the new one" % (old_status, new_status))
        if old_title != new_title:
            differences.append("title %r on the old site, %r on the new one" % (old_title, new_title))
    return {"name": name, "old": {"status": old_status, "title": old_title}, "new": {"status": new_status, "title": new_title},
            "match": not differences, "differences": differences}
