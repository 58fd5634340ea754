# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MTA-STS policy of each mail domain (module_utils/mail/mta_sts.py): in the resolved state with the MX of its
branding, a certificate per client and the name in the DNS map; checked again on the host, kept per reseller, and
served by an nginx vhost whose policy is the one the _mta-sts record's id names."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.mail import mta_sts, owners, safe
from ansible_collections.fracto.hosting.plugins.module_utils.mail.dns_records import policy_id
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state
from role_templates import mail_templates


def resolved(state, inventory):
    model, problems = validate_state(state, inventory)
    assert problems.errors == [], problems.errors
    return resolve_state(model)


def test_each_mail_domain_has_a_policy_naming_the_mx_its_record_names(state, inventory):
    public = resolved(state, inventory)
    entries = {e["domain"]: (e["client"], e["mx"]) for e in public["hosts"]["mail01"]["mta_sts"]}
    mx = {r["domain"]: r["value"] for r in public["mail_dns"] if r["purpose"] == "mx"}
    assert {d: m for d, (_c, m) in entries.items()} == mx
    for record in (r for r in public["mail_dns"] if r["purpose"] == "mta-sts"):
        policy = mta_sts.policy_of({"mx": entries[record["domain"]][1]})
        assert record["value"] == "v=STSv1; id=%s" % policy_id(policy) and record["policy"] == policy


def test_the_names_get_a_certificate_per_client_and_point_at_the_mail_host(state, inventory):
    public = resolved(state, inventory)
    certs = [c for c in public["hosts"]["mail01"]["certificates"] if c["id"].startswith("mta-sts.")]
    by_client = {c["client"]: c["names"] for c in certs}
    assert by_client["cliente2"] == ["autoconfig.cliente2.test", "autoconfig.xn--caff-8oa.test", "autodiscover.cliente2.test",
                                     "autodiscover.xn--caff-8oa.test", "mta-sts.cliente2.test", "mta-sts.xn--caff-8oa.test"]
    assert all(c["source"] == "acme" for c in certs)
    for prefix in ("mta-sts.", "autoconfig.", "autodiscover."):
        assert public["dns"][prefix + "cliente2.test"] == {"host": "mail01", "ipv4": None}


def test_a_client_with_more_than_a_hundred_domains_gets_more_certificates():
    entries = [{"domain": "d%03d.test" % i, "client": "c1", "mx": "mail01.example.net"} for i in range(50)]
    certs = mta_sts.certificates(entries)  # a domain's three names stay together: 33 domains (99 names) a certificate
    assert [len(c["names"]) for c in certs] == [99, 51] and certs[1]["id"] == "mta-sts.d033.test"
    assert {"autoconfig.d033.test", "autodiscover.d033.test", "mta-sts.d033.test"} <= set(certs[1]["names"])


@pytest.mark.parametrize("entry, field, rule", [
    ({"domain": "b.test", "client": "c1", "mx": "mail.a.test"}, "mta_sts[0].domain", "not a mail domain of client c1"),
    ({"domain": "a.test", "client": "c2", "mx": "mail.a.test"}, "mta_sts[0].domain", "not a mail domain of client c2"),
    ({"domain": "a.test", "client": "c1", "mx": 'mail.a.test";return 200 "x'}, "mta_sts[0].mx", "host name"),
    ({"domain": "a.test", "client": "c1", "mx": "mail.a.test", "mode": "none"}, "mta_sts[0].mode", "unknown key"),
])
def test_the_host_refuses_a_policy_of_another_clients_domain_or_a_value_that_breaks_nginx(entry, field, rule):
    with pytest.raises(safe.UnsafeValue) as refused:
        mta_sts.checked([entry], {"a.test": "c1", "b.test": "c2"})
    assert refused.value.field == field and rule in str(refused.value)


def test_the_vhost_serves_the_policy_over_https_once_the_certificate_is_there():
    entry = {"domain": "a.test", "client": "c1", "mx": "mail.a.test"}
    path = "/etc/nginx/fracto/sites/mta-sts.a.test.conf"
    before = mta_sts.render([entry], {}, templates=mail_templates())[path]
    assert "listen 443" not in before and "return 404;" in before  # HTTP: the ACME challenge only
    cert = ("/etc/fracto/tls/mta-sts.a.test/fullchain.pem", "/etc/fracto/tls/mta-sts.a.test/privkey.pem")
    after = mta_sts.render([entry], {"mta-sts.a.test": cert}, templates=mail_templates())[path]
    assert after.startswith("# managed by fracto.hosting mail_server: client=c1 mta-sts=mta-sts.a.test tls=acme\n")
    assert "server_name mta-sts.a.test autoconfig.a.test autodiscover.a.test;" in after and "ssl_certificate %s;" % cert[0] in after
    assert "location = /.well-known/mta-sts.txt {" in after and "default_type text/plain;" in after
    assert 'return 200 "version: STSv1\\r\\nmode: testing\\r\\nmx: mail.a.test\\r\\nmax_age: 604800\\r\\n";' in after


def test_each_resellers_record_keeps_its_own_policies_and_the_union_has_all():
    theirs = owners.empty_record("other")
    theirs["domains"] = {"c.test": "c1"}
    theirs["mta_sts"] = [{"domain": "c.test", "client": "c1", "mx": "mail01.example.net"}]
    wanted = ({"a.test": "c1"}, {}, {}, {"mta_sts": [{"domain": "a.test", "client": "c1", "mx": "mail.a.test"}]})
    record, shared, _changes, clashes = owners.plan("demo", {"other": theirs}, wanted, ["c1"], True, ({}, {}, {}))
    assert clashes == [] and [e["domain"] for e in record["mta_sts"]] == ["a.test"]
    assert [e["domain"] for e in shared["mta_sts"]] == ["a.test", "c.test"]


def test_a_resellers_diff_never_shows_another_resellers_policy_or_webmail_files():
    """Their vhost changes when their certificate arrives or the template changes: in this reseller's run, the path
    alone would name their domain."""
    ours = owners.empty_record("demo")
    ours["domains"] = {"a.test": "c1"}
    ours["webmail_names"] = [{"name": "webmail.a.test", "branding": "client", "clients": ["c1"]}]
    writes = {mta_sts.vhost_path(d): "x" for d in ("a.test", "c.test")}
    writes.update({"/etc/nginx/fracto/sites/webmail.a.test.conf": "x", "/etc/nginx/fracto/sites/webmail.c.test.conf": "x",
                   "/etc/roundcube/fracto-webmail.c.test.inc.php": "x", "/etc/roundcube/fracto-webmail.a.test.inc.php": "x",
                   "/etc/nginx/fracto/tls-params.conf": "x", "/etc/rspamd/rspamd.local.lua": "x"})
    shown = sorted(hf.shown_to(writes, hf.own_keys(ours)))
    assert shown == ["/etc/nginx/fracto/sites/mta-sts.a.test.conf", "/etc/nginx/fracto/sites/webmail.a.test.conf",
                     "/etc/nginx/fracto/tls-params.conf", "/etc/roundcube/fracto-webmail.a.test.inc.php",
                     "/etc/rspamd/rspamd.local.lua"]
    assert hf.shown_to(writes, None) == writes  # the platform's own runs (no reseller) see everything


def test_a_policy_or_webmail_vhost_no_record_wants_is_stale_and_nothing_else_there_is(tmp_path):
    mark = "# managed by fracto.hosting mail_server: client=c1 mta-sts=mta-sts.%s tls=acme\nserver {}\n"
    webmail = "# managed by fracto.hosting mail_server: client=c1 webmail=webmail.%s tls=acme\nserver {}\n"
    (tmp_path / "mta-sts.gone.test.conf").write_text(mark % "gone.test")
    (tmp_path / "mta-sts.kept.test.conf").write_text(mark % "kept.test")
    (tmp_path / "mta-sts.site.test.conf").write_text("# a web site someone called mta-sts\nserver {}\n")
    (tmp_path / "webmail.gone.test.conf").write_text(webmail % "gone.test")
    (tmp_path / "webmail.kept.test.conf").write_text(webmail % "kept.test")
    (tmp_path / "shop.test.conf").write_text("# managed by fracto.hosting web_sites: client=c1\nserver {}\n")
    files = {str(tmp_path / "mta-sts.kept.test.conf"): "...", str(tmp_path / "webmail.kept.test.conf"): "..."}
    assert hf.stale(files, str(tmp_path)) == {str(tmp_path / "mta-sts.gone.test.conf"): mark % "gone.test",
                                              str(tmp_path / "webmail.gone.test.conf"): webmail % "gone.test"}
    assert hf.stale({}, str(tmp_path / "absent")) == {}


def test_mail_server_refuses_a_bad_policy_before_anything_is_read():
    """owners.check_extras is what mail_server runs first (refuse_unsafe_arguments): a refusal names the field."""
    p = {"send_limits": [], "greylisting": [], "domains": [{"domain": "a.test", "client": "c1"}],
         "mta_sts": [{"domain": "other.test", "client": "c1", "mx": "mail.a.test"}]}
    with pytest.raises(safe.UnsafeValue) as refused:
        owners.check_extras(p)
    assert refused.value.field == "mta_sts[0].domain"
