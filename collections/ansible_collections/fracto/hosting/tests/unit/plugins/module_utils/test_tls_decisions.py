# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of an ACME certificate (module_utils/tls/decisions.py) and the Retry-After (tls/times.py)."""

from __future__ import annotations

import datetime

from ansible_collections.fracto.hosting.plugins.module_utils.tls.decisions import needs_order, plan_order, retry_wait
from ansible_collections.fracto.hosting.plugins.module_utils.tls.installed import Installed
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import DEFAULT_RETRY_AFTER, parse_retry_after
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.tls_fakes import NAMES, NOW, fake_installed


# -- needs_order ---------------------------------------------------------------------------------------
def test_needs_order_new():
    assert needs_order(NAMES, None, NOW, 0.3333)[0] == "new"
    missing = Installed("cliente1.test")
    assert needs_order(NAMES, missing, NOW, 0.3333) == ("new", ["no certificate yet"])


def test_needs_order_invalid_installed_is_new():
    expired = fake_installed(NAMES, NOW - datetime.timedelta(days=91), NOW - datetime.timedelta(days=1), valid=False)
    reason, detail = needs_order(NAMES, expired, NOW, 0.3333)
    assert reason == "new" and "expired" in detail[0]


def test_needs_order_names_changed():
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    reason, detail = needs_order(NAMES[:1] + ["blog.cliente1.test"], found, NOW, 0.3333)
    assert reason == "names"
    assert detail == ["+ blog.cliente1.test", "- www.cliente1.test"]


def test_needs_order_renewal_by_fraction():
    # 90 days of lifetime, 29 left: under a third.
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=61), NOW + datetime.timedelta(days=29))
    reason, detail = needs_order(NAMES, found, NOW, 0.3333)
    assert reason == "renew" and "29d left of 90d" in detail[0]
    # 31 days left: not yet.
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=59), NOW + datetime.timedelta(days=31))
    assert needs_order(NAMES, found, NOW, 0.3333) is None
    # renew_fraction 1.0: always due.
    assert needs_order(NAMES, found, NOW, 1.0)[0] == "renew"


def test_needs_order_valid_same_names_is_none():
    found = fake_installed(list(reversed(NAMES)), NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert needs_order(NAMES, found, NOW, 0.3333) is None


def test_needs_order_custom_installed_under_acme_id():
    found = fake_installed(NAMES, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89), source="custom")
    assert needs_order(NAMES, found, NOW, 0.3333)[0] == "names"


# -- plan_order: coverage ------------------------------------------------------------------------------
WANTED = ["cliente1.test", "www.cliente1.test", "blog.cliente1.test"]


FAIL_BLOG = {"blog.cliente1.test": "DNS: does not resolve"}


def test_plan_order_new_leaves_failing_names_out():
    assert plan_order(WANTED, FAIL_BLOG, None, "new") == (WANTED[:2], [], [])


def test_plan_order_nothing_passes():
    assert plan_order(WANTED, dict.fromkeys(WANTED, "x"), None, "new") == (None, [], [])


def test_plan_order_coverage_reduced_keeps_the_valid_certificate():
    # The valid certificate covers blog, which now fails; www2 is new: ordering would drop blog.
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    names, lost, waiting = plan_order(WANTED + ["www2.cliente1.test"], FAIL_BLOG, found, "names")
    assert names is None and lost == ["blog.cliente1.test"] and waiting == ["www2.cliente1.test"]


def test_plan_order_coverage_reduced_when_renewal_due_issues_the_reduced_set():
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=80), NOW + datetime.timedelta(days=10))
    names, lost, waiting = plan_order(WANTED, FAIL_BLOG, found, "renew")
    assert names == WANTED[:2] and lost == ["blog.cliente1.test"] and waiting == []


def test_plan_order_same_set_as_installed_is_not_ordered_again():
    # New name fails the precheck: what would be ordered is what is installed.
    found = fake_installed(WANTED[:2], NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert plan_order(WANTED, FAIL_BLOG, found, "names") == (None, [], [])


def test_plan_order_removed_name_is_not_coverage_reduced():
    found = fake_installed(WANTED, NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=89))
    assert plan_order(WANTED[:2], {}, found, "names") == (WANTED[:2], [], [])


# -- Retry-After ----------------------------------------------------------------------------------------
def test_parse_retry_after_seconds_and_dates():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 0 ", NOW) == 0
    assert parse_retry_after("Sun, 29 Nov 2026 13:00:00 GMT", NOW) == 3600
    assert parse_retry_after("Sun, 29 Nov 2026 11:00:00 GMT", NOW) == 0      # in the past
    assert parse_retry_after(None, NOW) == DEFAULT_RETRY_AFTER
    assert parse_retry_after("soon", NOW) == DEFAULT_RETRY_AFTER
    assert parse_retry_after("-5", NOW, default=7) == 7


def test_retry_wait():
    assert retry_wait({}, NOW) == 0
    assert retry_wait({"retry_after": "2026-11-29T12:10:00+00:00"}, NOW) == 600
    assert retry_wait({"retry_after": "2026-11-29T11:00:00+00:00"}, NOW) == 0
    assert retry_wait({"retry_after": "garbage"}, NOW) == 0
