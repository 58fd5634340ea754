# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate store on disk, the only code that knows its layout (no cryptography here).

<store>/<id>/{fullchain.pem, privkey.pem (0600), meta.json}, where <id> is a symlink to a version directory
(<store>/.versions/<id>/<serial>/): a new certificate is written whole into a new version, then <id> is switched
to it with one atomic rename, so nginx, Dovecot and postmap never read a key of one certificate beside the chain
of another; the version replaced is kept for rollback. <store>/.archive/ holds the certificates removed.

Readers: CertificateStore.served() for the servers' configurations (web_sites, mail_server),
tls/installed.py's read_installed() for the converge of tls_certificates.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import shutil

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.tls.params import ParameterError
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import UTC, iso

FULLCHAIN, PRIVKEY, META = "fullchain.pem", "privkey.pem", "meta.json"
FILES = (FULLCHAIN, PRIVKEY, META)
VERSIONS = ".versions"
PREVIOUS = "previous"   # in .versions/<id>/: a symlink to the version replaced last
_SAFE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def point(link, target):
    """Make link a symlink to target, atomically (a new link renamed over the old one)."""
    tmp = os.path.join(os.path.dirname(link), ".%s.link-%s" % (os.path.basename(link), secrets.token_hex(4)))
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        os.unlink(tmp)
        raise


class CertificateStore:
    """<root>/<id>/{fullchain.pem, privkey.pem (0600), meta.json}, and <root>/.archive/."""

    def __init__(self, root):
        self.root = root

    # reading
    def path(self, cert_id, name=None):
        if not _SAFE_ID.match(cert_id or ""):
            raise ParameterError("certificate id %r is not a safe file name" % (cert_id,))
        return os.path.join(self.root, cert_id, name) if name else os.path.join(self.root, cert_id)

    def ids(self):
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if _SAFE_ID.match(e) and os.path.isdir(os.path.join(self.root, e)))

    def meta(self, cert_id):
        """The record of meta.json ({} when it is missing or unreadable)."""
        try:
            with open(self.path(cert_id, META), encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def served(self, cert_id):
        """(fullchain path, key path, names of meta.json) of an installed certificate, for a server's configuration;
        None when its record, its chain or its key is missing (or the id is not one of the store)."""
        try:
            fullchain, key = self.path(cert_id, FULLCHAIN), self.path(cert_id, PRIVKEY)
        except ParameterError:
            return None
        meta = self.meta(cert_id)
        if not meta or not (os.path.isfile(fullchain) and os.path.isfile(key)):
            return None
        return fullchain, key, list(meta.get("names") or [])

    # writing
    def _dir(self, cert_id):
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        path = self.path(cert_id)
        os.makedirs(path, mode=0o755, exist_ok=True)
        return path

    def _versions(self, cert_id):
        return os.path.join(self.root, VERSIONS, cert_id)

    def install(self, cert_id, fullchain, privkey, meta):
        """Write the three files into a new version (the key first, 0600), then switch <id> to it with one
        rename; the version replaced stays as the rollback target, older ones are removed."""
        link = self.path(cert_id)
        versions = self._versions(cert_id)
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        os.makedirs(versions, mode=0o755, exist_ok=True)
        os.chmod(os.path.join(self.root, VERSIONS), 0o755)
        serial = "%s-%s" % (datetime.datetime.now(UTC).strftime("%Y%m%dT%H%M%S"), secrets.token_hex(3))
        version = os.path.join(versions, serial)
        os.mkdir(version, 0o755)
        for name, data, mode in ((PRIVKEY, privkey, 0o600), (FULLCHAIN, fullchain, 0o644), (META, render_meta(meta), 0o644)):
            write_atomic(os.path.join(version, name), data, mode)
        replaced = None
        if os.path.islink(link):
            replaced = os.path.basename(os.path.realpath(link))
        elif os.path.isdir(link):
            # A store written before versions: its directory becomes the first version (a rename, once).
            replaced = "legacy-" + secrets.token_hex(3)
            os.rename(link, os.path.join(versions, replaced))
        point(link, os.path.join(VERSIONS, cert_id, serial))
        if replaced:
            point(os.path.join(versions, PREVIOUS), replaced)
        for entry in os.listdir(versions):
            if entry not in (serial, replaced, PREVIOUS):
                shutil.rmtree(os.path.join(versions, entry), ignore_errors=True)

    def write_meta(self, cert_id, meta):
        self._dir(cert_id)
        write_atomic(self.path(cert_id, META), render_meta(meta), 0o644)

    def rollback(self, cert_id):
        """Switch <id> back to the version it replaced last (after a failed `nginx -t`); return the names
        restored ([] when there is none)."""
        previous = os.path.join(self._versions(cert_id), PREVIOUS)
        if not os.path.islink(previous) or not os.path.isdir(previous):
            return []
        point(self.path(cert_id), os.path.join(VERSIONS, cert_id, os.readlink(previous)))
        os.unlink(previous)
        return [name for name in FILES if os.path.exists(self.path(cert_id, name))]

    def archive(self, cert_id, now):
        """Move the current version to .archive/<id>-<timestamp>/ and drop <id> and its other versions;
        return the new path."""
        archive = os.path.join(self.root, ".archive")
        os.makedirs(archive, mode=0o700, exist_ok=True)
        target = os.path.join(archive, "%s-%s" % (cert_id, now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")))
        if os.path.exists(target):
            target += "-" + secrets.token_hex(3)
        link = self.path(cert_id)
        if os.path.islink(link):
            os.rename(os.path.realpath(link), target)
            os.unlink(link)
            shutil.rmtree(self._versions(cert_id), ignore_errors=True)
        else:
            os.rename(link, target)
        return target


def render_meta(meta):
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


def make_meta(entry, reseller, not_before, not_after, fp, issuer, names):
    """The record of meta.json for a certificate of entry (a parameter of tls_certificates)."""
    return {"source": entry["source"], "names": list(names), "not_before": iso(not_before), "not_after": iso(not_after),
            "fingerprint": fp, "issuer": issuer, "client": entry["client"], "reseller": reseller}
