# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared by the modules that converge one host's slice of the resolved state (web_sites, mail_server).
    DOCUMENTATION = r"""
options:
  clients:
    description: Every client present in the reseller's state.
    type: list
    elements: str
    required: true
  prune:
    description:
      - Remove what the module manages for clients that left the state; otherwise it is kept.
      - The module's description says what stays on disk either way.
    type: bool
    default: false
  store:
    description: The certificate store written by M(fracto.hosting.tls_certificates).
    type: path
    default: /etc/fracto/tls
  webroot:
    description: Root of the ACME HTTP-01 challenge files, served by nginx on port 80 for every name.
    type: path
    default: /var/lib/fracto/acme
"""
