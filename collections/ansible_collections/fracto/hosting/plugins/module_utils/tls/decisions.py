# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of an ACME certificate, pure functions: order it now? which names? wait for the CA?"""

from __future__ import annotations

import math

from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import parse_iso, span


def needs_order(wanted_names, installed, now, renew_fraction):
    """Why an ACME certificate must be ordered now: (reason, [detail]), or None when the installed one serves.

    reason: "new" (nothing valid installed), "renew" (less than renew_fraction of the lifetime is left,
    whether or not the names changed), "names" (the wanted names changed).
    """
    if installed is None or not installed.valid:
        return "new", [installed.problem if installed is not None and installed.exists else "no certificate yet"]
    if installed.source not in (None, "acme"):
        return "names", ["source: %s -> acme" % installed.source]
    have, want = set(installed.names), set(wanted_names)
    changed = ["+ %s" % n for n in wanted_names if n not in have] + ["- %s" % n for n in installed.names if n not in want]
    lifetime = installed.not_after - installed.not_before
    left = installed.not_after - now
    if left < lifetime * renew_fraction:
        # Due whatever the names: a renewal may also drop names that fail the precheck.
        return "renew", ["renewal due: %s left of %s" % (span(left), span(lifetime))] + changed
    if changed:
        return "names", changed
    return None


def plan_order(wanted_names, failing, installed, reason):
    """What to order after the precheck: (names or None, lost, waiting).

    failing: {name: reason} of the names that failed the precheck. lost: names the installed, valid
    certificate covers that would lose coverage (coverage reduced). waiting: names that pass but are not
    ordered, because ordering them would drop lost names from a certificate that is not due.
    """
    ordered = [n for n in wanted_names if n not in failing]
    current = installed.names if installed is not None and installed.valid else None
    if current is None:
        return (ordered or None), [], []
    lost = [n for n in current if n in wanted_names and n in failing]
    if not ordered:
        return None, lost, []
    if reason == "renew":
        return ordered, lost, []
    if set(ordered) == set(current) and installed.source in (None, "acme"):
        return None, [], []
    if lost:
        return None, lost, [n for n in ordered if n not in current]
    return ordered, [], []


def retry_wait(meta, now, directory=None):
    """Seconds left before the CA (directory) may be asked again for this certificate (0: go ahead)."""
    meta = meta or {}
    if directory and meta.get("retry_directory") not in (None, directory):
        return 0        # the Retry-After of another CA
    when = parse_iso(meta.get("retry_after"))
    if when is None or when <= now:
        return 0
    return int(math.ceil((when - now).total_seconds()))
