# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared by the controller-side report modules (gdpr_report, ip_pool_info, migration_report, plan_report),
    # with fracto.hosting.controller; in RETURN too (extends_documentation_fragment: [fracto.hosting.report]).
    DOCUMENTATION = r"""
options:
  dest:
    description:
      - Directory on the controller where the module writes its documents (named in its description); nothing is
        written if unset.
      - Under ansible-runner (an AWX or Automation Platform job, C(ansible-runner run)), each document is also copied
        into the job's artifact directory, C(<artifact dir>/fracto/); ansible-runner names that directory in
        C(AWX_ISOLATED_DATA_DIR).
    type: path
attributes:
  check_mode:
    support: full
    description:
      - Nothing is changed on any host. The report is made the same way in check mode (the description says when it
        is then the plan of the run) and its documents are still written, on the controller.
  diff_mode:
    support: none
    description: The printed report is the readable summary.
"""

    RETURN = r"""
msg:
  description: The printed report.
  returned: always
  type: str
artifacts:
  description: The copies of the documents in the job's artifact directory (C(<artifact dir>/fracto/)).
  returned: when O(dest) is set and the run is under ansible-runner
  type: list
  elements: str
"""
