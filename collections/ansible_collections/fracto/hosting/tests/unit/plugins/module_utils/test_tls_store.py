# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate store (module_utils/tls/store.py) and what it holds, read and checked (tls/installed.py)."""

from __future__ import annotations

import datetime
import json
import os

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.tls.crypto import key_pem, make_key
from ansible_collections.fracto.hosting.plugins.module_utils.tls.installed import read_installed
from ansible_collections.fracto.hosting.plugins.module_utils.tls.params import ParameterError
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import CertificateStore
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.tls_fakes import NOW, FakeCA


# -- the store -------------------------------------------------------------------------------------------
def test_store_install_switches_whole_versions_and_rolls_back(tmp_path):
    store = CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    d = tmp_path / "tls" / "a.test"
    assert d.is_symlink() and store.rollback("a.test") == []
    first = os.readlink(d)
    store.install("a.test", b"chain-2", b"key-2", {"n": 2})
    assert os.readlink(d) != first and not os.path.isabs(os.readlink(d))
    assert (d / "fullchain.pem").read_bytes() == b"chain-2" and (d / "privkey.pem").read_bytes() == b"key-2"
    assert oct((d / "privkey.pem").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "tls" / ".versions").stat().st_mode & 0o777) == "0o755"
    versions = tmp_path / "tls" / ".versions" / "a.test"
    assert sorted(os.listdir(versions)) == sorted([os.path.basename(first), os.path.basename(os.readlink(d)), "previous"])
    assert store.ids() == ["a.test"]
    store.install("a.test", b"chain-3", b"key-3", {"n": 3})
    assert len(os.listdir(versions)) == 3  # the current, the one it replaced, the pointer: version 1 is gone
    assert store.rollback("a.test") == ["fullchain.pem", "privkey.pem", "meta.json"]
    assert (d / "fullchain.pem").read_bytes() == b"chain-2" and (d / "privkey.pem").read_bytes() == b"key-2"
    assert json.loads((d / "meta.json").read_text()) == {"n": 2}
    assert store.rollback("a.test") == []
    assert not [f for f in os.listdir(tmp_path / "tls") if ".link-" in f]


def test_store_takes_over_a_directory_written_before_versions(tmp_path):
    old = tmp_path / "tls" / "a.test"
    old.mkdir(parents=True)
    (old / "fullchain.pem").write_bytes(b"chain-0")
    (old / "privkey.pem").write_bytes(b"key-0")
    store = CertificateStore(str(tmp_path / "tls"))
    store.write_meta("a.test", {"n": 0})  # writes into the directory as it is
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    assert old.is_symlink() and (old / "fullchain.pem").read_bytes() == b"chain-1"
    assert store.rollback("a.test") == ["fullchain.pem", "privkey.pem", "meta.json"]
    assert (old / "privkey.pem").read_bytes() == b"key-0"


def test_store_archive_moves_the_current_version_and_drops_the_others(tmp_path):
    store = CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", b"chain-1", b"key-1", {"n": 1})
    store.install("a.test", b"chain-2", b"key-2", {"n": 2})
    target = store.archive("a.test", NOW)
    assert open(os.path.join(target, "fullchain.pem"), "rb").read() == b"chain-2"
    assert not os.path.lexists(tmp_path / "tls" / "a.test")
    assert not (tmp_path / "tls" / ".versions" / "a.test").exists() and store.ids() == []


def test_store_rejects_unsafe_ids(tmp_path):
    store = CertificateStore(str(tmp_path))
    for bad in ("../etc", ".archive", "a/b", "", None):
        with pytest.raises(ParameterError):
            store.path(bad)


def test_store_read_detects_problems(tmp_path):
    ca = FakeCA()
    key = make_key()
    store = CertificateStore(str(tmp_path / "tls"))
    store.install("a.test", ca.issue(["a.test"], key.public_key()).encode(), key_pem(key), {"source": "acme"})
    assert read_installed(store, "a.test", NOW).valid
    assert read_installed(store, "a.test", NOW + datetime.timedelta(days=100)).problem.startswith("expired on")
    store.install("a.test", ca.issue(["a.test"], make_key().public_key()).encode(), key_pem(key), {"source": "acme"})
    assert read_installed(store, "a.test", NOW).problem == "privkey.pem does not match fullchain.pem"


def test_store_served_gives_the_paths_of_an_installed_certificate(tmp_path):
    store = CertificateStore(str(tmp_path / "tls"))
    assert store.served("a.test") is None                                # nothing installed
    store.install("a.test", b"chain-1", b"key-1", {"names": ["a.test", "*.a.test"]})
    fullchain, key, names = store.served("a.test")
    assert (fullchain, key) == (str(tmp_path / "tls" / "a.test" / "fullchain.pem"), str(tmp_path / "tls" / "a.test" / "privkey.pem"))
    assert names == ["a.test", "*.a.test"] and open(fullchain, "rb").read() == b"chain-1"
    os.unlink(key)
    assert store.served("a.test") is None                                # no key: not served
    store.install("b.test", b"chain-1", b"key-1", {"names": ["b.test"]})
    (tmp_path / "tls" / "b.test" / "meta.json").write_text("not json")
    assert store.served("b.test") is None                                # no readable record: not served
    assert store.served("../b.test") is None and store.served(None) is None
