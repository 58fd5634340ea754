# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared by the controller-side action plugins (client_state, plan_report).
    DOCUMENTATION = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: all
    description: Runs on the controller (an action plugin); no managed host is contacted.
"""
