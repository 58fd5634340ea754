"""The GDPR report (playbooks/gdpr_report.yml) on the demo platform after backups have run.

cliente1 (package gdpr) passes with evidence from the real hosts, and its HTML page, opened in headless Chromium
(Debian's, scripts/ensure-browser.sh), shows every requirement passed (screenshot in .fracto/backup/); made
non-compliant on purpose (HSTS removed from its vhost on cloud01, then its backup records made failed and stale on the
hosts), it fails with the reasons. Every test puts back what it changed.
"""

import datetime
import json
import os
import re
import shlex
import shutil

import pytest
import testinfra
import yaml
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
CLIENTS = PROJECT / "inventories" / "demo" / "group_vars" / "all" / "clients"
GDPR = str(PROJECT / "playbooks" / "gdpr_report.yml")
BACKUP_RUN = PROJECT / "playbooks" / "backup_run.yml"
STATUS = "/var/lib/fracto/backup/status/demo"
VHOST = "/etc/nginx/fracto/sites/cliente1.test.conf"
C1_WEB_NAMES = ["cliente1.test", "www.cliente1.test", "shop.cliente1.test", "blog.cliente1.test", "webmail.cliente1.test"]
REQUIREMENTS = ["https-everywhere", "http-redirects-to-https", "hsts", "tls-only-mail-access", "encrypted-offsite-backup"]
SCENARIO_REPORTS = PROJECT / ".fracto" / "backup"  # what this scenario keeps for people to look at (screenshots)


@pytest.fixture(scope="module")
def ca_bundle(pebble_root, tmp_path_factory):
    """The trust anchors of the lab: Pebble's current root and the demo's commercial CA (shop.cliente1.test)."""
    client = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())["fracto_clients__cliente1"]["cliente1"]
    path = tmp_path_factory.mktemp("gdpr") / "roots.pem"
    path.write_text(pebble_root.strip() + "\n" + client["certificates"][0]["chain"].strip() + "\n")
    return str(path)


def records_fresh():
    """Whether cliente1's two job records exist, say ok, and are less than a day old."""
    day_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=24)
    for host, side in ((CLOUD01, "web"), (MAIL01, "mail")):
        path = "%s/cliente1.%s.json" % (STATUS, side)
        if not host.file(path).exists:
            return False
        record = json.loads(host.file(path).content_string)
        success = datetime.datetime.fromisoformat((record.get("last_success") or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
        if record.get("last_status") != "ok" or success < day_ago:
            return False
    return True


@pytest.fixture(scope="module")
def backups_ran():
    """cliente1's backup jobs have run (the scenario's converge runs them; run them again when their records are not fresh)."""
    if not records_fresh():
        rc, out = run_playbook(PROJECT, str(BACKUP_RUN), "-e", "client=cliente1")
        assert rc == 0, out[-3000:]
    assert records_fresh(), "no fresh ok job record of cliente1 on cloud01/mail01: the backups have not run"


def gdpr_run(ca_bundle, report_dir, *extra):
    rc, out = run_playbook(PROJECT, GDPR, "-e", "fracto_gdpr_ca_bundle=%s" % ca_bundle, "-e", "fracto_report_dir=%s" % report_dir,
                           *extra)
    path = report_dir / "gdpr-demo.json"
    assert path.exists(), out[-3000:]
    return rc, out, json.loads(path.read_text())


def requirement(doc, client, rid):
    return next(r for r in doc["clients"][client]["requirements"] if r["id"] == rid)


@pytest.fixture(scope="module")
def compliant_report(backups_ran, ca_bundle, tmp_path_factory):
    """One report of the demo as converged (cliente1 compliant): (rc, output, JSON document, report directory)."""
    report_dir = tmp_path_factory.mktemp("gdpr-report")
    rc, out, doc = gdpr_run(ca_bundle, report_dir)
    return rc, out, doc, report_dir


def test_the_gdpr_client_passes_with_evidence(compliant_report):
    rc, out, doc, report_dir = compliant_report
    assert rc == 0, out[-4000:]
    assert "client cliente1 (package gdpr, claims GDPR): COMPLIANT" in out
    c1 = doc["clients"]["cliente1"]
    assert c1["claims_gdpr"] and c1["compliant"] and c1["verdict"] == "compliant"
    assert [r["id"] for r in c1["requirements"]] == REQUIREMENTS and all(r["passed"] for r in c1["requirements"])
    https = {e["name"]: e for e in requirement(doc, "cliente1", "https-everywhere")["evidence"]}
    assert sorted(https) == sorted(C1_WEB_NAMES)
    for name, evidence in https.items():
        assert evidence["verified"] and name in evidence["certificate_names"], evidence
    assert https["shop.cliente1.test"]["issuer"] == "Demo Commercial OV CA"
    assert https["cliente1.test"]["issuer"].startswith("Pebble Intermediate CA")
    redirects = requirement(doc, "cliente1", "http-redirects-to-https")["evidence"]
    assert {(e["name"], e["status"], e["location"]) for e in redirects} == {(n, 301, "https://%s/" % n) for n in C1_WEB_NAMES}
    assert all(e["max_age"] >= 15552000 for e in requirement(doc, "cliente1", "hsts")["evidence"])
    mail = requirement(doc, "cliente1", "tls-only-mail-access")["evidence"]
    checks = " ".join(line for e in mail for line in e["checks"])
    assert "LOGINDISABLED" in checks and "Plaintext authentication disallowed" in checks
    assert "IMAPS 993: TLS" in checks and "certificate for mail.cliente1.test verifies" in checks
    assert "disable_plaintext_auth = yes" in checks and "smtpd_tls_auth_only = yes" in checks
    backups = {e["job"]: e for e in requirement(doc, "cliente1", "encrypted-offsite-backup")["evidence"]}
    assert sorted(backups) == ["cliente1.mail", "cliente1.web"]
    for job in backups.values():
        assert job["last_status"] == "ok" and job["encrypted"] and job["outside_host"] and job["snapshot_id"], job
        assert job["repository"].startswith("sftp:") and job["host"] in ("cloud01", "mail01"), job
    # The page a person reads says the same.
    page = (report_dir / "gdpr-demo.md").read_text()
    assert "## cliente1 (package gdpr): COMPLIANT" in page and "### PASS encrypted-offsite-backup" in page
    pages = ["gdpr-demo.html"] + ["gdpr-demo/%s.html" % c for c in sorted(doc["clients"])]
    assert all((report_dir / name).is_file() for name in pages) and "a page per client (3)" in out
    # cliente3 (entry: no AutoSSL, no backup) claims nothing: listed as not compliant, informational, not failing the run.
    c3 = doc["clients"]["cliente3"]
    assert not c3["claims_gdpr"] and not c3["compliant"] and not c3["blocking"]
    assert "no backup job: the package has backup: none (no backup outside the host)" in \
        requirement(doc, "cliente3", "encrypted-offsite-backup")["reasons"]
    assert "cliente3.test: HTTP answers 200, not a redirect to HTTPS" in requirement(doc, "cliente3", "http-redirects-to-https")["reasons"]


def test_the_page_of_cliente1_in_a_real_browser_shows_every_requirement_passed(compliant_report):
    """Headless Chromium opens the page the reseller hands to cliente1 (a file: nothing else may be fetched)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "run scripts/ensure-browser.sh (Debian's chromium)"
    _rc, _out, doc, report_dir = compliant_report
    path = report_dir / "gdpr-demo" / "cliente1.html"
    SCENARIO_REPORTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCENARIO_REPORTS / "gdpr-demo-cliente1.html")
    expected = {r["id"]: "passed" if r["passed"] else "failed" for r in doc["clients"]["cliente1"]["requirements"]}
    assert expected == dict.fromkeys(REQUIREMENTS, "passed")  # the scenario's data makes every requirement pass
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            fetched = []
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(path.as_uri(), timeout=30000)
            assert page.locator("#client").inner_text() == "cliente1" and page.locator("#reseller").inner_text() == "demo"
            assert page.locator("#summary").get_attribute("data-verdict") == "compliant"
            assert "COMPLIANT" in page.locator("#summary .verdict").inner_text()
            assert (page.locator("#passed").inner_text(), page.locator("#failed").inner_text()) == ("5", "0")
            rows = page.locator("tr.requirement")
            shown = {rows.nth(i).get_attribute("data-requirement"): (rows.nth(i).get_attribute("data-status"),
                                                                     rows.nth(i).locator("td.status").inner_text())
                     for i in range(rows.count())}
            assert list(shown) == REQUIREMENTS
            assert {rid: status for rid, (status, _text) in shown.items()} == expected
            assert all("PASSED" in text for _status, text in shown.values()), shown
            text = page.locator("body").inner_text()
            assert "cliente1.test" in text and "cliente2" not in text and "cliente3" not in text
            assert fetched == [path.as_uri()], fetched  # self-contained: no style sheet, font, image or script fetched
            page.screenshot(path=str(SCENARIO_REPORTS / "gdpr-cliente1.png"), full_page=True)
        finally:
            browser.close()
    assert (SCENARIO_REPORTS / "gdpr-cliente1.png").stat().st_size > 0


def test_check_mode_changes_nothing_and_still_reports(backups_ran, ca_bundle, tmp_path):
    before = CLOUD01.check_output("sha256sum %s/* %s", STATUS, VHOST) + MAIL01.check_output("sha256sum %s/*", STATUS)
    rc, out, doc = gdpr_run(ca_bundle, tmp_path, "--check")
    assert rc == 0, out[-3000:]
    assert re.search(r"cloud01\s+: ok=\d+\s+changed=0", out) and re.search(r"mail01\s+: ok=\d+\s+changed=0", out)
    assert doc["settings"]["check_mode"] is True and doc["clients"]["cliente1"]["compliant"]
    after = CLOUD01.check_output("sha256sum %s/* %s", STATUS, VHOST) + MAIL01.check_output("sha256sum %s/*", STATUS)
    assert before == after


@pytest.fixture
def hsts_removed():
    """cliente1.test's vhost on cloud01 without its Strict-Transport-Security header (nginx reloaded); put back after."""
    original = CLOUD01.file(VHOST).content_string
    assert "Strict-Transport-Security" in original
    saved = "/root/.gdpr-test-cliente1.test.conf"
    CLOUD01.check_output("cp -p %s %s && sed -i '/Strict-Transport-Security/d' %s && nginx -t -q && systemctl reload nginx",
                         VHOST, saved, VHOST)
    try:
        yield
    finally:
        CLOUD01.check_output("mv -f %s %s && nginx -t -q && systemctl reload nginx", saved, VHOST)
        assert CLOUD01.file(VHOST).content_string == original


def test_hsts_removed_fails_the_gdpr_client_with_the_reasons(backups_ran, ca_bundle, tmp_path, hsts_removed):
    rc, out, doc = gdpr_run(ca_bundle, tmp_path)
    assert rc != 0
    assert "GDPR packages not compliant: cliente1:" in out
    assert "cliente1.test: no Strict-Transport-Security header (HTTPS answered 200)" in out
    c1 = doc["clients"]["cliente1"]
    assert not c1["compliant"] and c1["blocking"] and c1["missing"] == ["hsts"]
    hsts = requirement(doc, "cliente1", "hsts")
    assert sorted(hsts["reasons"]) == ["cliente1.test: no Strict-Transport-Security header (HTTPS answered 200)",
                                       "www.cliente1.test: no Strict-Transport-Security header (HTTPS answered 200)"]
    # The other names of the client still send it, and the report shows their value.
    assert {e["name"]: e["max_age"] for e in hsts["evidence"]}["shop.cliente1.test"] == 63072000
    # Report only: same verdict, the run does not fail.
    rc, out, doc = gdpr_run(ca_bundle, tmp_path, "-e", "fracto_gdpr_report_only=true")
    assert rc == 0, out[-3000:]
    assert not doc["clients"]["cliente1"]["compliant"]


def _edit_record(host, path, **changes):
    script = "import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.update(json.loads(sys.argv[2])); json.dump(d, open(p, 'w'))"
    host.check_output("python3 -c %s %s %s", script, path, json.dumps(changes))


@pytest.fixture
def records_broken():
    """cliente1's web job recorded as failed on cloud01, its mail job's last success 60 hours old on mail01; put back after."""
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    jobs = [(CLOUD01, "%s/cliente1.web.json" % STATUS, {"last_status": "failed", "last_error": "gdpr test: repository unreachable"}),
            (MAIL01, "%s/cliente1.mail.json" % STATUS, {"last_success": stale})]
    originals = []
    try:
        for host, path, changes in jobs:
            originals.append((host, path, host.file(path).content_string))
            host.check_output("cp -p %s %s", path, path.replace("cliente1.", ".gdpr-test-cliente1."))
            _edit_record(host, path, **changes)
        yield stale
    finally:
        for host, path, content in originals:
            host.check_output("mv -f %s %s", path.replace("cliente1.", ".gdpr-test-cliente1."), path)
            assert host.file(path).content_string == content


def test_failed_and_stale_backups_fail_the_gdpr_client_with_the_reasons(backups_ran, ca_bundle, tmp_path, records_broken):
    rc, out, doc = gdpr_run(ca_bundle, tmp_path)
    assert rc != 0
    c1 = doc["clients"]["cliente1"]
    assert not c1["compliant"] and c1["missing"] == ["encrypted-offsite-backup"]
    reasons = requirement(doc, "cliente1", "encrypted-offsite-backup")["reasons"]
    assert any(r.startswith("cliente1.web: last run ") and r.endswith(" failed: gdpr test: repository unreachable") for r in reasons), reasons
    assert any(r.startswith("cliente1.mail: last successful backup %s is 60." % records_broken) and r.endswith("old (more than 48 h)")
               for r in reasons), reasons
    assert "failed: gdpr test: repository unreachable" in out and "(more than 48 h)" in out


def test_a_missing_job_record_fails(backups_ran, ca_bundle, tmp_path):
    path = "%s/cliente1.mail.json" % STATUS
    saved = path.replace("cliente1.", ".gdpr-test-cliente1.")
    content = MAIL01.file(path).content_string
    MAIL01.check_output("mv %s %s", path, saved)
    try:
        rc, _out, doc = gdpr_run(ca_bundle, tmp_path, "-e", '{"fracto_gdpr_clients": ["cliente1"]}')
    finally:
        MAIL01.check_output("mv -f %s %s", saved, path)
    assert MAIL01.file(path).content_string == content
    assert rc != 0 and list(doc["clients"]) == ["cliente1"]
    assert requirement(doc, "cliente1", "encrypted-offsite-backup")["reasons"] == [
        "cliente1.mail: no job record on mail01 (the job never ran, or its record is missing)"]


def test_the_lab_is_as_found():
    assert "Strict-Transport-Security" in CLOUD01.file(VHOST).content_string
    for host in (CLOUD01, MAIL01):
        leftovers = host.run("ls -a %s %s", STATUS, "/root").stdout
        assert ".gdpr-test-" not in leftovers, shlex.quote(leftovers)
