# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The webroot of the HTTP-01 challenges (module_utils/tls/precheck.py)."""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.fracto.hosting.plugins.module_utils.tls.precheck import unreadable_ancestor


def test_unreadable_ancestor():
    base = tempfile.mkdtemp(dir="/tmp")          # /tmp is 1777; pytest's own tmp_path sits under a 0700 directory
    try:
        os.chmod(base, 0o755)
        locked = os.path.join(base, "locked")
        os.makedirs(os.path.join(locked, "acme"))
        os.chmod(locked, 0o700)
        assert unreadable_ancestor(os.path.join(locked, "acme")) == (locked, 0o700)
        os.chmod(locked, 0o711)
        assert unreadable_ancestor(os.path.join(locked, "acme")) is None
        assert unreadable_ancestor(os.path.join(locked, "missing", "acme")) is None
    finally:
        shutil.rmtree(base)
