# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Times of the certificates: UTC moments, ISO text, durations for people, the CA's Retry-After."""

from __future__ import annotations

import datetime
import math
from email.utils import parsedate_to_datetime

UTC = datetime.timezone.utc
# A certificate whose notBefore is this little in the future counts as valid: CAs that do not backdate
# (Pebble) and a host clock a little behind the CA's would otherwise hide a certificate just issued.
CLOCK_SKEW = datetime.timedelta(minutes=5)
DEFAULT_RETRY_AFTER = 3600          # seconds, when a 429/503 comes without a usable Retry-After


def now_utc():
    return datetime.datetime.now(UTC)


def iso(moment):
    return moment.astimezone(UTC).replace(microsecond=0).isoformat() if moment else None


def parse_iso(value):
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def span(delta):
    """A duration for people: 61d, 5h 20m, 42s."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + span(-delta)
    if seconds >= 2 * 86400:
        return "%dd" % (seconds // 86400)
    if seconds >= 3600:
        return "%dh %dm" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%dm" % (seconds // 60)
    return "%ds" % seconds


def parse_retry_after(value, now=None, default=DEFAULT_RETRY_AFTER):
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; default when absent or bad."""
    if value is None:
        return default
    value = str(value).strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    if when is None:
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(math.ceil((when - (now or now_utc())).total_seconds())))
