# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""promtool for the metrics tests: scripts/ensure-promtool.sh unpacks it from Debian's prometheus .deb (make setup)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

PROJECT = pathlib.Path(__file__).resolve().parents[8]
CACHED = PROJECT / ".fracto" / "tools" / "prometheus" / "usr" / "bin" / "promtool"


def promtool():
    """The path of promtool, or None when neither the project's cache nor PATH has it (the check is then skipped)."""
    if os.access(CACHED, os.X_OK):
        return str(CACHED)
    return shutil.which("promtool")


def check_metrics(text):
    """(returncode, output) of ``promtool check metrics`` on text; lint findings fail too (--lint=all is the default)."""
    proc = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr
