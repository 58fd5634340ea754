# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names and addresses as the state model compares them (module_utils/state/names.py)."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import (
    InvalidName,
    covered_by,
    is_under,
    normalize_address,
    normalize_name,
    normalize_relative,
)


# -- normalisation -------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("example.test", "example.test"),
    ("Example.TEST", "example.test"),
    ("example.test.", "example.test"),
    ("  Example.Test.  ", "example.test"),
    ("caffè.test", "xn--caff-8oa.test"),
    ("CAFFÈ.test", "xn--caff-8oa.test"),
    ("xn--caff-8oa.test", "xn--caff-8oa.test"),
    ("XN--CAFF-8OA.TEST", "xn--caff-8oa.test"),
    ("shop.caffè.test", "shop.xn--caff-8oa.test"),
    ("münchen.test", "xn--mnchen-3ya.test"),
    ("a-b.example.test", "a-b.example.test"),
    ("123.example.test", "123.example.test"),
])
def test_normalize_name(raw, expected):
    assert normalize_name(raw) == expected


def test_idn_both_ways_are_the_same_name():
    assert normalize_name("caffè.test") == normalize_name("xn--caff-8oa.test") == normalize_name("CAFFÈ.TEST.")


def test_normalize_is_idempotent():
    for raw in ("Caffè.Test.", "WWW.Example.test", "xn--mnchen-3ya.test"):
        once = normalize_name(raw)
        assert normalize_name(once) == once


# -- each rule -----------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, rule", [
    ("", "must not be empty"),
    (".", "must not be empty"),
    ("   ", "must not be empty"),
    ("*.example.test", "wildcards are not allowed"),
    ("shop*.example.test", "wildcards are not allowed"),
    ("example.test/shop", "not a path, address or URL"),
    ("https://example.test", "not a path, address or URL"),
    ("example.test:8080", "not a path, address or URL"),
    ("info@example.test", "not a path, address or URL"),
    ("exa mple.test", "not a path, address or URL"),
    ("exa\\mple.test", "not a path, address or URL"),
    ("example..test", "not a path, address or URL"),
    (".example.test", "has an empty label"),
    ("a" * 64 + ".test", "longer than 63 characters"),
    ("-example.test", "starts or ends with a hyphen"),
    ("example-.test", "starts or ends with a hyphen"),
    ("exa_mple.test", "has characters other than a-z, 0-9 and '-'"),
    ("exa+mple.test", "has characters other than a-z, 0-9 and '-'"),
    ("localhost", "needs at least 2 labels"),
    ("192.0.2.10", "the last label must not be numeric"),
    ("xn--zz.test", "is not valid punycode"),
    (5, "must be a string, got int"),
    (None, "must be a string, got NoneType"),
])
def test_name_rules(raw, rule):
    with pytest.raises(InvalidName) as exc:
        normalize_name(raw)
    assert rule in str(exc.value)


def test_label_of_63_is_allowed_64_is_not():
    assert normalize_name("a" * 63 + ".test") == "a" * 63 + ".test"
    with pytest.raises(InvalidName, match="longer than 63"):
        normalize_name("a" * 64 + ".test")


def test_name_of_253_is_allowed_254_is_not():
    head = ".".join(["a" * 63, "b" * 63, "c" * 63])             # 191 characters
    ok = head + "." + "d" * 56 + ".test"                        # 191 + 1 + 56 + 5 = 253
    assert len(ok) == 253 and normalize_name(ok) == ok
    with pytest.raises(InvalidName, match="longer than 253"):
        normalize_name(head + "." + "d" * 57 + ".test")


def test_min_labels_can_be_lowered():
    assert normalize_name("localhost", min_labels=1) == "localhost"


def test_error_messages_name_only_the_name():
    with pytest.raises(InvalidName) as exc:
        normalize_name("bad_name.test")
    assert "bad_name" in str(exc.value)


# -- relative names (aliases, subdomains) --------------------------------------------------------
@pytest.mark.parametrize("rel, parent, expected", [
    ("www", "example.test", "www.example.test"),
    ("WWW", "example.test", "www.example.test"),
    ("shop.eu", "example.test", "shop.eu.example.test"),
    ("www", "xn--caff-8oa.test", "www.xn--caff-8oa.test"),
    ("tienda", "caffè.test", "tienda.xn--caff-8oa.test"),
])
def test_normalize_relative(rel, parent, expected):
    assert normalize_relative(rel, parent) == expected


@pytest.mark.parametrize("rel, rule", [
    ("www.", "is relative to its domain"),
    ("", "must not be empty"),
    ("  ", "must not be empty"),
    ("*", "wildcards are not allowed"),
    ("shop/blog", "not a path"),
    ("-www", "starts or ends with a hyphen"),
    ("w_w", "has characters other than"),
    (["www"], "must be a string, got list"),
])
def test_relative_rules(rel, rule):
    with pytest.raises(InvalidName) as exc:
        normalize_relative(rel, "example.test")
    assert rule in str(exc.value)


# -- addresses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("info@example.test", ("info@example.test", "info", "example.test")),
    ("Info@Example.TEST", ("info@example.test", "info", "example.test")),
    ("info@caffè.test", ("info@xn--caff-8oa.test", "info", "xn--caff-8oa.test")),
    ("first.last+tag@example.test", ("first.last+tag@example.test", "first.last+tag", "example.test")),
    (" obrien@example.test ", ("obrien@example.test", "obrien", "example.test")),
    ("a@example.test", ("a@example.test", "a", "example.test")),
    ("a_b-c.d+e@example.test", ("a_b-c.d+e@example.test", "a_b-c.d+e", "example.test")),
    ("x" * 64 + "@example.test", ("x" * 64 + "@example.test", "x" * 64, "example.test")),
])
def test_normalize_address(raw, expected):
    assert normalize_address(raw) == expected


@pytest.mark.parametrize("raw, rule", [
    ("info.example.test", "must be one address of the form local@domain"),
    ("a@b@example.test", "must be one address of the form local@domain"),
    ("@example.test", "is not a valid mailbox name"),
    ("in..fo@example.test", "is not a valid mailbox name"),
    (".info@example.test", "is not a valid mailbox name"),
    ("info.@example.test", "is not a valid mailbox name"),
    ("in fo@example.test", "is not a valid mailbox name"),
    ("o'brien@example.test", "is not a valid mailbox name"),
    ("../../etc@example.test", "is not a valid mailbox name"),
    ("a/b@example.test", "is not a valid mailbox name"),
    ("-info@example.test", "is not a valid mailbox name"),
    ("info-@example.test", "is not a valid mailbox name"),
    ("_info@example.test", "is not a valid mailbox name"),
    ("in:fo@example.test", "is not a valid mailbox name"),
    ("in*fo@example.test", "is not a valid mailbox name"),
    ("in%fo@example.test", "is not a valid mailbox name"),
    ("in{fo}@example.test", "is not a valid mailbox name"),
    ("info\n@example.test", "is not a valid mailbox name"),
    ("x" * 65 + "@example.test", "is not a valid mailbox name"),
    ("info@example", "needs at least 2 labels"),
    ("info@-example.test", "starts or ends with a hyphen"),
    (None, "must be a string"),
])
def test_address_rules(raw, rule):
    with pytest.raises(InvalidName) as exc:
        normalize_address(raw)
    assert rule in str(exc.value)


# -- is_under, covered_by ------------------------------------------------------------------------
def test_is_under():
    assert is_under("example.test", "example.test")
    assert is_under("shop.example.test", "example.test")
    assert is_under("a.b.example.test", "example.test")
    assert not is_under("badexample.test", "example.test")
    assert not is_under("example.test", "shop.example.test")


@pytest.mark.parametrize("name, patterns, covered", [
    ("shop.example.test", ["shop.example.test"], True),
    ("shop.example.test", ["SHOP.Example.test."], True),
    ("shop.example.test", ["*.example.test"], True),
    ("example.test", ["*.example.test"], False),                 # a wildcard does not cover its base
    ("a.shop.example.test", ["*.example.test"], False),          # one label only
    ("shop.example.test", ["*.other.test", "example.test"], False),
    ("shop.example.test", ["example.test", "*.example.test"], True),
    ("shop.example.test", [], False),
    ("shop.example.test", ["*.shop.example.test"], False),
])
def test_covered_by(name, patterns, covered):
    assert covered_by(name, patterns) is covered
