# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared by the modules that converge files on a platform host.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Reports every change it would make and writes nothing.
  diff_mode:
    support: full
    description: Shows the files before and after; no secret is ever part of them.
  platform:
    support: full
    platforms: posix
    description: Debian 12 hosts of the platform.
"""
