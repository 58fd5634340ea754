# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Temporary master users of the mail migration, one per reseller, each limited to the mailboxes it migrates.

Dovecot's master passdb (module_utils/mail/config.py, MASTER_PASSDB) looks a master login up as
"<login user>*<master user>" (username_format=%{login_user}*%{user}): the file has one line per mailbox being
migrated, so the master user migrate-<reseller> opens only the mailboxes its run lists, only from the networks of its
allow_nets extra field (the loopback: imap_migrate runs on the mail host), and result_success=continue checks that the
mailbox exists. The password is random for each run (never stored, never shown) and the lines are removed when the
run ends; each block names the process of its run, so that lines left by a run that died are dropped by the next one.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe

LOOPBACK_NETS = ("127.0.0.1/32", "::1/128")
HEADER = "# managed by fracto.hosting imap_migrate: master users of running mail migrations, one line per mailbox\n"
_RUN = re.compile(r"# run pid=([0-9]{1,10}) reseller=([a-z0-9-]{1,63})")


def master_name(reseller):
    """migrate-<reseller>: namespaced per reseller, never a mailbox (no '@')."""
    return "migrate-%s" % safe.reseller(reseller)


def ssha512(password, salt=None):
    """Dovecot's {SSHA512}: base64(SHA512(password + salt) + salt); a random 32-byte password needs no slow hash."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.sha512(password.encode("utf-8") + salt).digest()
    return "{SSHA512}" + base64.b64encode(digest + salt).decode("ascii")


def nets_field(nets):
    """allow_nets=<net>,<net> from networks checked with ipaddress (a newline or ':' cannot pass)."""
    checked = []
    for net in nets:
        try:
            checked.append(str(ipaddress.ip_network(str(net), strict=False)))
        except ValueError:
            raise safe.UnsafeValue("allow_nets", "%r is not a network" % (net,)) from None
    if not checked:
        raise safe.UnsafeValue("allow_nets", "at least one network is needed")
    return "allow_nets=" + ",".join(checked)


def parse(content):
    """[(pid, reseller, [lines])] blocks of the file."""
    blocks = []
    for line in (content or "").splitlines():
        match = _RUN.fullmatch(line)
        if match:
            blocks.append((int(match.group(1)), match.group(2), []))
        elif line and not line.startswith("#") and blocks:
            blocks[-1][2].append(line)
    return blocks


def render(blocks):
    out = [HEADER]
    for pid, reseller, lines in blocks:
        if lines:
            out.append("# run pid=%d reseller=%s\n" % (pid, reseller))
            out += ["%s\n" % line for line in lines]
    return "".join(out)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def entry(address, reseller, pw_hash, nets):
    """One line: <address>*migrate-<reseller>:{SSHA512}...::::::allow_nets=..., every field checked."""
    safe.address(address, "mailboxes[%s].address" % address)
    key = "%s*%s" % (address, master_name(reseller))
    fields = [safe.passwd_field(key, "master user"), safe.passwd_field(pw_hash, "master password hash"), "", "", "", "", "",
              safe.passwd_extra(nets_field(nets), "allow_nets")]
    return ":".join(fields)


def add(content, reseller, addresses, pw_hash, pid, nets=LOOPBACK_NETS, is_alive=alive):
    """The file with this run's block (one line per address) added; blocks of runs whose process is gone dropped, and any
    other line for the same addresses of this reseller's master replaced."""
    mine = {"%s*%s" % (a, master_name(reseller)) for a in addresses}
    blocks = []
    for run_pid, run_reseller, lines in parse(content):
        if run_pid == pid or not is_alive(run_pid):
            continue
        blocks.append((run_pid, run_reseller, [line for line in lines if line.split(":", 1)[0] not in mine]))
    blocks.append((pid, safe.reseller(reseller), [entry(a, reseller, pw_hash, nets) for a in sorted(addresses)]))
    return render(blocks)


def remove(content, pid):
    """The file without this run's block."""
    return render([block for block in parse(content) if block[0] != pid])
