# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's system user as it is on this host now, judged by web/sites.account_verdict (host side: pwd, grp, lstat).

Every module that acts for a client's user (web_sites makes it, sftp_access gives it SFTP) asks verdict_of first: only
a user the platform created for this reseller is ever changed.
"""

from __future__ import annotations

import grp
import os
import pwd

from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import account_verdict, home_of


def account_of(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def gid_of(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def verdict_of(name, reseller):
    """account_verdict of the client's system user as it is on this host now: (verdict, reason)."""
    account = account_of(name)
    home_stat = None
    if account is not None:
        try:
            home_stat = os.lstat(home_of(name))
        except OSError:
            pass
    return account_verdict(name, reseller, account, gid_of(name), home_stat, gid_of("www-data"))
