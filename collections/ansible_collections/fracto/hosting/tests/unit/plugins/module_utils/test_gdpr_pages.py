# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GDPR report's HTML pages (module_utils/gdpr/pages.py, templates/gdpr.html.j2) and their writing by the action.

A demo-like report (cliente1 compliant on package gdpr; cliente2 on business with a name still on its old platform and
a failed mail backup whose record carries a repository password; cliente3 on entry without HTTPS nor backup) is
rendered and compared with golden/gdpr/ (set FRACTO_UPDATE_GOLDEN=1 to rewrite them after a deliberate change).
Hostile values (a client id, package, certificate subject, header or error holding markup) come out escaped; a
client's page names no other client; the summary counts what passed and failed.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate as ev
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import pages
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import report as rp
from ansible_collections.fracto.hosting.plugins.module_utils.render import RenderError
from ansible_collections.fracto.hosting.plugins.module_utils.reports import ARTIFACT_SUBDIR, RUNNER_ARTIFACT_ENV
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "gdpr"
NOW = datetime.datetime(2026, 11, 29, 18, 0, tzinfo=datetime.timezone.utc)
GENERATED = "2026-11-29T18:00:00Z"
SETTINGS = {"ca_bundle": "/srv/platform/roots.pem", "hsts_min_age": 15552000, "max_backup_age_hours": 48,
            "addresses": {"cloud01": "198.51.100.21", "mail01": "198.51.100.22"}, "check_mode": False}
SECRET = "pw-PAGES-SECRET"
LEAKY = "rest:https://restic:%s@rest.backup.test:8000/cliente2/" % SECRET
PEBBLE = "Pebble Intermediate CA 6b5c1a"
FEATURES = {"mail": True, "gdpr": True}
CLIENTS = {
    "cliente1": {"package": "gdpr", "gdpr": True, "features": FEATURES, "web_host": "cloud01", "mail_host": "mail01",
                 "names": ["cliente1.test", "www.cliente1.test", "shop.cliente1.test", "blog.cliente1.test"],
                 "webmail_names": ["webmail.cliente1.test"], "mail_names": ["mail.cliente1.test"], "backup": "client"},
    "cliente2": {"package": "business", "gdpr": False, "features": {"mail": True}, "web_host": "cloud01", "mail_host": "mail01",
                 "names": ["cliente2.test", "www.cliente2.test", "old.cliente2.test"],
                 "webmail_names": ["webmail.dominioreseller.test"], "mail_names": ["mail.dominioreseller.test"], "backup": "reseller"},
    "cliente3": {"package": "entry", "gdpr": False, "features": {"mail": False}, "web_host": "cloud01", "mail_host": None,
                 "names": ["cliente3.test", "www.cliente3.test"], "webmail_names": [], "mail_names": [], "backup": "none"},
}
MAIL_CONFIG = {"dovecot": {"ssl": "required", "disable_plaintext_auth": "yes", "auth_mechanisms": "plain login"},
               "postfix": {"smtpd_tls_auth_only": "yes", "smtpd_sasl_auth_enable": "yes", "smtpd_tls_security_level": "may"},
               "postfix_services": {"submission/inet": {"smtpd_tls_security_level": "encrypt"}}}


def cert(names, issuer=PEBBLE):
    return {"subject": names[0], "issuer": issuer, "names": names, "not_after": "2027-02-27T12:00:00Z"}


def https(name, address="198.51.100.21", names=None, **changes):
    probe = {"address": address, "port": 443, "name": name, "reachable": True, "verified": True, "error": None,
             "certificate": cert(names or [name]), "tls_version": "TLSv1.3", "status": 200, "hsts": "max-age=63072000",
             "location": None}
    probe.update(changes)
    return probe


def http(name, address="198.51.100.21", **changes):
    probe = {"address": address, "port": 80, "name": name, "status": 301, "location": "https://%s/" % name, "error": None}
    probe.update(changes)
    return probe


def tls(port, name):
    return {"address": "198.51.100.22", "port": port, "name": name, "reachable": True, "verified": True, "error": None,
            "certificate": cert([name]), "tls_version": "TLSv1.3"}


def mail(name):
    return {
        "name": name, "address": "198.51.100.22",
        "imap": {"protocol": "imap", "port": 143, "open": True, "refused": False, "error": None,
                 "capabilities": ["IMAP4rev1", "SASL-IR", "STARTTLS", "LOGINDISABLED"]},
        "pop3": {"protocol": "pop3", "port": 110, "open": True, "refused": False, "error": None, "capabilities": ["STLS", "USER"],
                 "user_accepted": False, "user_answer": "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."},
        "smtp": {"protocol": "smtp", "port": 25, "open": True, "refused": False, "error": None,
                 "extensions": ["PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"], "auth": []},
        "submission": {"protocol": "smtp", "port": 587, "open": True, "refused": False, "error": None,
                       "extensions": ["PIPELINING", "STARTTLS"], "auth": []},
        "imaps": tls(993, name), "pop3s": tls(995, name), "submissions": tls(465, name),
    }


def record(client, side, host, **changes):
    base = {"reseller": "demo", "client": client, "side": side, "what": ["files"], "managed_by": "reseller",
            "repository": "sftp:restic@backup01.fracto.test:/srv/restic/demo/%s" % client, "outside_host": True,
            "encrypted": True, "last_attempt": "2026-11-29T03:00:00Z", "last_status": "ok",
            "last_success": "2026-11-29T03:00:00Z", "last_error": None, "snapshot_id": "5f1e2d3c", "size_bytes": 52428800,
            "host": host, "path": "/var/lib/fracto/backup/status/demo/%s.%s.json" % (client, side)}
    base.update(changes)
    return base


def demo_probes():
    c1 = CLIENTS["cliente1"]["names"]
    found = {"https": {n: https(n, names=c1) for n in c1}, "http": {n: http(n) for n in c1 + ["cliente2.test", "www.cliente2.test"]},
             "mail": {n: mail(n) for n in ("mail.cliente1.test", "mail.dominioreseller.test")}}
    found["https"]["shop.cliente1.test"] = https("shop.cliente1.test", "198.51.100.100", names=["shop.cliente1.test"],
                                                 hsts="max-age=63072000; includeSubDomains")
    found["https"]["shop.cliente1.test"]["certificate"]["issuer"] = "Demo Commercial OV CA"
    found["http"]["shop.cliente1.test"] = http("shop.cliente1.test", "198.51.100.100")
    for name, address in (("webmail.cliente1.test", "198.51.100.22"), ("webmail.dominioreseller.test", "198.51.100.22")):
        found["https"][name], found["http"][name] = https(name, address), http(name, address)
    for name in ("cliente2.test", "www.cliente2.test"):
        found["https"][name] = https(name, names=["cliente2.test", "www.cliente2.test"])
    found["https"]["old.cliente2.test"] = https("old.cliente2.test", "192.0.2.80", verified=False, status=None, hsts=None,
                                                error="certificate verify failed: self-signed certificate",
                                                certificate=cert(["old.cliente2.test"], issuer="old.cliente2.test"))
    found["http"]["old.cliente2.test"] = http("old.cliente2.test", "192.0.2.80", status=200, location=None)
    for name in CLIENTS["cliente3"]["names"]:
        found["https"][name] = https(name, verified=False, status=None, hsts=None, certificate=cert(["cloud01.fracto.test"]),
                                     error="hostname mismatch, certificate is not valid for '%s'" % name)
        found["http"][name] = http(name, status=200, location=None)
    return found


def demo_records():
    return [record("cliente1", "web", "cloud01", managed_by="client",
                   repository="sftp://restic@backup01.fracto.test:2222//srv/restic/cliente1"),
            record("cliente1", "mail", "mail01", managed_by="client", snapshot_id="9a8b7c6d", size_bytes=1048576,
                   repository="sftp://restic@backup01.fracto.test:2222//srv/restic/cliente1"),
            record("cliente2", "web", "cloud01"),
            record("cliente2", "mail", "mail01", repository=LEAKY, last_status="failed", last_attempt="2026-11-29T03:10:00Z",
                   last_success="2026-11-28T03:10:00Z", last_error="Fatal: unable to open repository at %s: 401" % LEAKY)]


def demo_doc(clients=None):
    """The report as the action makes it: evaluated, then redacted as a whole (the JSON and the Markdown are this)."""
    clients = clients or CLIENTS
    found, records = demo_probes(), demo_records()
    verdicts = [ev.evaluate_client(cid, client, found, records, NOW, mail_config=MAIL_CONFIG if client["mail_host"] else None)
                for cid, client in sorted(clients.items())]
    return redact(rp.document("demo", verdicts, GENERATED, SETTINGS))


def default_template():
    with open(pages.DEFAULT_TEMPLATE, encoding="utf-8") as handle:
        return pages.template(handle.read())


def rendered(doc=None):
    return pages.render(doc or demo_doc(), default_template())


def statuses(page):
    """{requirement id: passed/failed} as the page shows them (its rows' data-status)."""
    return dict(re.findall(r'data-requirement="([a-z-]+)" data-status="(passed|failed)"', page))


def check_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("FRACTO_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), "%s changed (FRACTO_UPDATE_GOLDEN=1 rewrites it)" % name


# --- rendering ----------------------------------------------------------------------------------------------------

def test_the_demo_pages_are_rendered_as_the_golden_files():
    found = rendered()
    assert list(found) == ["gdpr-demo.html", "gdpr-demo/cliente1.html", "gdpr-demo/cliente2.html", "gdpr-demo/cliente3.html"]
    check_golden("index.html", found["gdpr-demo.html"])
    check_golden("cliente1.html", found["gdpr-demo/cliente1.html"])
    check_golden("cliente2.html", found["gdpr-demo/cliente2.html"])


def test_a_client_page_has_the_header_one_row_per_requirement_and_the_evidence():
    doc = demo_doc()
    page = rendered(doc)["gdpr-demo/cliente1.html"]
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</html>\n")
    assert '<dd id="client">cliente1</dd>' in page and '<dd id="reseller">demo</dd>' in page
    assert '<dd id="package">gdpr (claims GDPR compliance)</dd>' in page
    assert '<time id="generated" datetime="2026-11-29T18:00:00Z">2026-11-29 18:00:00 UTC</time>' in page
    assert list(statuses(page)) == [rid for rid, _title in ev.REQUIREMENTS]
    for req in doc["clients"]["cliente1"]["requirements"]:
        assert req["title"] in page
    assert "shop.cliente1.test at 198.51.100.100: certificate shop.cliente1.test issued by Demo Commercial OV CA" in page
    assert "Strict-Transport-Security: max-age=63072000 (max-age 63072000 s = 730 days)" in page
    assert "IMAP 143: capabilities before STARTTLS: IMAP4REV1 SASL-IR STARTTLS LOGINDISABLED" in page
    assert "doveconf: auth_mechanisms = plain login, disable_plaintext_auth = yes, ssl = required" in page
    assert "job cliente1.web on cloud01: last success 2026-11-29T03:00:00Z (15.0 h ago)" in page
    assert "at least 180 days" in page and "within 48 hours" in page  # what was checked, with the thresholds used


def test_a_page_is_self_contained_and_has_no_script():
    for page in rendered().values():
        assert "<script" not in page.lower() and "<link" not in page.lower() and "<img" not in page.lower()
        assert not re.search(r"(src|href)=\"(https?:)?//", page) and "@import" not in page and "url(" not in page
        assert "<style>" in page and "default-src 'none'" in page


def test_the_evidence_is_redacted_as_in_the_json_and_the_markdown():
    doc = demo_doc()
    text = json.dumps(doc) + rp.markdown(doc)
    assert SECRET not in text and "restic:****@rest.backup.test" in text
    page = rendered(doc)["gdpr-demo/cliente2.html"]
    assert SECRET not in page
    assert "repository rest:https://restic:****@rest.backup.test:8000/cliente2/ (managed by reseller" in page
    assert "Fatal: unable to open repository at rest:https://restic:****@rest.backup.test:8000/cliente2/: 401" in page


def test_the_page_context_is_redacted_even_from_a_document_that_is_not():
    doc = rp.document("demo", [ev.evaluate_client("cliente2", CLIENTS["cliente2"], demo_probes(), demo_records(), NOW)],
                      GENERATED, SETTINGS)
    doc["clients"]["cliente2"]["requirements"][0]["reasons"].append("seen at %s" % LEAKY)
    assert SECRET not in rendered(doc)["gdpr-demo/cliente2.html"]


# --- pass/fail at a glance ----------------------------------------------------------------------------------------

def test_the_summary_counts_what_passed_and_failed():
    found = rendered()
    c1, c2, c3 = (found["gdpr-demo/%s.html" % c] for c in ("cliente1", "cliente2", "cliente3"))
    assert '<span id="passed">5</span> of 5 requirements passed, <span id="failed">0</span> failed.' in c1
    assert 'class="summary pass" data-verdict="compliant"' in c1 and "&#10004; COMPLIANT" in c1
    assert "Every requirement of the GDPR policy is met." in c1
    assert set(statuses(c1).values()) == {"passed"}
    assert statuses(c2) == {"https-everywhere": "failed", "http-redirects-to-https": "failed", "hsts": "failed",
                            "tls-only-mail-access": "passed", "encrypted-offsite-backup": "failed"}
    assert '<span id="passed">1</span> of 5 requirements passed, <span id="failed">4</span> failed.' in c2
    assert 'class="summary fail" data-verdict="not compliant"' in c2 and "&#10008; NOT COMPLIANT" in c2
    assert "The package does not claim GDPR compliance" in c2
    assert "old.cliente2.test: certificate verify failed: self-signed certificate" in c2  # why it fails
    # cliente3 has no mail: the requirement passes as not applicable, and says so.
    assert statuses(c3)["tls-only-mail-access"] == "passed" and "the package has no mail: not applicable" in c3


def test_the_page_statuses_are_the_json_statuses():
    doc = demo_doc()
    found = rendered(doc)
    for cid, verdict in doc["clients"].items():
        shown = statuses(found["gdpr-demo/%s.html" % cid])
        assert shown == {r["id"]: "passed" if r["passed"] else "failed" for r in verdict["requirements"]}


def test_the_index_lists_every_client_with_its_counts_and_link():
    index = rendered()["gdpr-demo.html"]
    rows = re.findall(r'<tr class="(pass|fail)" data-client="([a-z0-9-]+)" data-status="([a-z ]+)">', index)
    assert rows == [("pass", "cliente1", "compliant"), ("fail", "cliente2", "not compliant"), ("fail", "cliente3", "not compliant")]
    assert '<a href="gdpr-demo/cliente1.html">cliente1</a>' in index
    assert "1 of 3 clients compliant" in index and "<span id=\"blocking\">0</span> not compliant with a package" in index
    assert "https-everywhere, http-redirects-to-https, hsts, encrypted-offsite-backup" in index


# --- hostile values -----------------------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script>'


def hostile_doc():
    """A report whose every reseller- or host-given string holds markup (the action refuses such ids as file names;
    the template must escape them anyway)."""
    client = dict(CLIENTS["cliente1"], package="gdpr" + HOSTILE)
    found = demo_probes()
    found["https"]["cliente1.test"]["certificate"]["subject"] = "CN=" + HOSTILE
    found["https"]["www.cliente1.test"]["hsts"] = "max-age=1; " + HOSTILE
    found["mail"]["mail.cliente1.test"]["pop3"]["user_answer"] = "-ERR " + HOSTILE
    verdict = ev.evaluate_client("cliente1", client, found, demo_records(), NOW, mail_config=MAIL_CONFIG)
    verdict["client"] = "c1" + HOSTILE
    return redact(rp.document("demo" + HOSTILE, [verdict], GENERATED, SETTINGS))


def test_every_hostile_value_comes_out_escaped():
    doc = hostile_doc()
    found = rendered(doc)
    assert len(found) == 2
    for page in found.values():
        assert "<script" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    page = found[pages.page_name(doc["reseller"], "c1" + HOSTILE)]
    assert '<dd id="client">c1&lt;script&gt;' in page and 'data-verdict="not compliant"' in page
    assert "CN=&lt;script&gt;" in page and "max-age=1; &lt;script&gt;" in page and "-ERR &lt;script&gt;" in page
    assert 'href="gdpr-demo&lt;script&gt;' in found["gdpr-demo<script>alert(\"x\")</script>.html"]


def test_the_template_runs_in_the_sandbox():
    with pytest.raises(RenderError, match="SecurityError"):
        pages.template("{{ ''.__class__.__mro__ }}").render("page", {})
    assert pages.template("{{ v }}").render("page", {"v": "<b>"}) == "&lt;b&gt;"


def test_a_broken_template_is_named():
    with pytest.raises(RenderError, match=r"template html_template.page: does not compile"):
        pages.template("{% if %}")


# --- per-client isolation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", sorted(CLIENTS))
def test_a_client_page_names_no_other_client(cid):
    page = rendered()["gdpr-demo/%s.html" % cid]
    others = [other for other in CLIENTS if other != cid]
    for other in others:
        assert other not in page
        for name in CLIENTS[other]["names"]:
            assert name not in page
    given = {"page", "reseller", "generated", "generated_text", "thresholds", "client", "counts", "requirements"}
    assert set(pages.client_context(demo_doc(), cid)) == given


def test_the_client_page_ignores_the_settings_of_the_platform():
    page = rendered()["gdpr-demo/cliente1.html"]
    assert "/srv/platform/roots.pem" not in page and "198.51.100.22" not in page.split("<table", 1)[0]


# --- the action: written next to the JSON and the Markdown, copied as runner artifacts, listed in its return -------

def run_action(tmp_path, environ=None, **args):
    """fracto.hosting.gdpr_report on the demo-like data, the probes replaced by demo_probes(); (result, probe mock)."""
    from ansible_collections.fracto.hosting.plugins.action import gdpr_report

    evidence = {"cloud01": {"records": [r for r in demo_records() if r["host"] == "cloud01"]},
                "mail01": {"records": [r for r in demo_records() if r["host"] == "mail01"], "mail_settings": MAIL_CONFIG}}
    task = mock.MagicMock()
    task.args = dict({"state": {"reseller": {"name": "demo"}, "clients": CLIENTS, "dns": {}}, "evidence": evidence,
                      "addresses": SETTINGS["addresses"], "dest": str(tmp_path / "reports")}, **args)
    task.async_val = 0
    action = gdpr_report.ActionModule(task, mock.MagicMock(), mock.MagicMock(), mock.MagicMock(), mock.MagicMock(),
                                      mock.MagicMock())
    action._display = mock.MagicMock()
    with mock.patch.object(gdpr_report.gather, "probe_all", return_value=demo_probes()) as probe_all, \
            mock.patch.dict(os.environ, environ or {}, clear=False):
        if not environ:
            os.environ.pop(RUNNER_ARTIFACT_ENV, None)
        try:
            return action.run(task_vars={}), probe_all
        except AnsibleActionFail as exc:
            return exc, probe_all


def test_the_action_writes_the_pages_next_to_the_report_and_lists_them(tmp_path):
    reports = tmp_path / "reports"
    (reports / "gdpr-demo").mkdir(parents=True)
    (reports / "gdpr-demo" / "cliente9.html").write_text("an earlier run's page of a client that is gone")
    (reports / "gdpr-demo" / "notes.txt").write_text("not a page")
    result, _probe = run_action(tmp_path)
    names = ["gdpr-demo.json", "gdpr-demo.md", "gdpr-demo.html"] + ["gdpr-demo/%s.html" % c for c in sorted(CLIENTS)]
    assert result["paths"] == [str(reports / name) for name in names]
    assert result["pages"] == {"index": str(reports / "gdpr-demo.html"),
                               "clients": {c: str(reports / "gdpr-demo" / ("%s.html" % c)) for c in sorted(CLIENTS)},
                               "removed": [str(reports / "gdpr-demo" / "cliente9.html")]}
    assert sorted(os.listdir(reports / "gdpr-demo")) == ["cliente1.html", "cliente2.html", "cliente3.html", "notes.txt"]
    doc = json.loads((reports / "gdpr-demo.json").read_text())
    for cid, verdict in doc["clients"].items():
        shown = statuses((reports / "gdpr-demo" / ("%s.html" % cid)).read_text())
        assert shown == {r["id"]: "passed" if r["passed"] else "failed" for r in verdict["requirements"]}
    written = "".join((reports / name).read_text() for name in names)
    assert SECRET not in written and SECRET not in json.dumps(result)
    assert "a page per client (3) in %s" % (reports / "gdpr-demo") in result["msg"] and "cliente9.html" in result["msg"]


def test_under_ansible_runner_the_pages_are_artifacts_too(tmp_path):
    artifacts = tmp_path / "artifacts" / "job-7"
    artifacts.mkdir(parents=True)
    result, _probe = run_action(tmp_path, environ={RUNNER_ARTIFACT_ENV: str(artifacts)})
    copies = artifacts / ARTIFACT_SUBDIR
    assert result["artifacts"] == [str(copies / "gdpr-demo.json"), str(copies / "gdpr-demo.md"), str(copies / "gdpr-demo.html")] + \
        [str(copies / "gdpr-demo" / ("%s.html" % c)) for c in sorted(CLIENTS)]
    assert (copies / "gdpr-demo" / "cliente1.html").read_text() == (tmp_path / "reports" / "gdpr-demo" / "cliente1.html").read_text()


def test_an_operator_template_replaces_the_collection_one(tmp_path):
    own = tmp_path / "own.html.j2"
    own.write_text("<p>{{ page }} {{ reseller }}{% if page == 'client' %} {{ client.id }} {{ counts.failed }}{% endif %}</p>\n")
    result, _probe = run_action(tmp_path, html_template=str(own))
    assert (tmp_path / "reports" / "gdpr-demo.html").read_text() == "<p>index demo</p>\n"
    assert (tmp_path / "reports" / "gdpr-demo" / "cliente2.html").read_text() == "<p>client demo cliente2 4</p>\n"
    assert result["pages"]["removed"] == []


@pytest.mark.parametrize("source, message", [
    ("{% for %}", "does not compile"),
    ("{{ nothing.here }}", "UndefinedError"),
])
def test_a_bad_operator_template_fails_naming_it_and_writes_nothing(tmp_path, source, message):
    own = tmp_path / "own.html.j2"
    own.write_text(source)
    error, probe = run_action(tmp_path, html_template=str(own))
    assert isinstance(error, AnsibleActionFail)
    assert "html_template %s: " % own in str(error) and message in str(error)
    assert not (tmp_path / "reports").exists() or not os.listdir(tmp_path / "reports")
    assert probe.called == (message == "UndefinedError")  # one that does not compile fails before any probe


def test_a_missing_template_fails_before_any_probe(tmp_path):
    error, probe = run_action(tmp_path, html_template=str(tmp_path / "missing.j2"))
    assert isinstance(error, AnsibleActionFail) and "html_template %s: cannot be read" % (tmp_path / "missing.j2") in str(error)
    assert not probe.called


def test_a_client_id_that_cannot_name_a_file_is_refused_before_any_probe(tmp_path):
    from ansible_collections.fracto.hosting.plugins.action import gdpr_report

    state = {"reseller": {"name": "demo"}, "clients": {"../../x": CLIENTS["cliente1"]}, "dns": {}}
    with pytest.raises(AnsibleActionFail, match=r"state.clients.../../x: client ids are 1-31 of a-z"):
        gdpr_report.ActionModule._page_template(None, "demo", state["clients"])
    error, probe = run_action(tmp_path, state=state)
    assert isinstance(error, AnsibleActionFail) and not probe.called
