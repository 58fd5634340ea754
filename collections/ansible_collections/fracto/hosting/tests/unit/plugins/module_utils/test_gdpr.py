"""The GDPR evidence (module_utils/gdpr/): verdicts from evidence, the report, the host-side readers, probes on loopback."""

import copy
import datetime
import http.server
import json
import socket
import threading

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate as ev
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import hostside, probes
from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import report as rp

NOW = datetime.datetime(2026, 11, 29, 18, 0, tzinfo=datetime.timezone.utc)
CLIENT = {
    "package": "gdpr", "gdpr": True, "features": {"mail": True, "gdpr": True}, "web_host": "cloud01", "mail_host": "mail01",
    "names": ["c1.test", "www.c1.test"], "webmail_names": ["webmail.c1.test"], "mail_names": ["mail.c1.test"], "backup": "client",
}
CERT = {"subject": "c1.test", "issuer": "Pebble Intermediate CA", "names": ["c1.test", "www.c1.test"], "not_after": "2027-02-27T00:00:00Z"}


def https_ok(name, address="198.51.100.21"):
    return {"address": address, "port": 443, "name": name, "reachable": True, "verified": True, "error": None,
            "certificate": CERT, "tls_version": "TLSv1.3", "status": 200, "hsts": "max-age=63072000", "location": None}


def http_ok(name, address="198.51.100.21"):
    return {"address": address, "port": 80, "name": name, "status": 301, "location": "https://%s/" % name, "error": None}


def tls_ok(port, name="mail.c1.test"):
    return {"address": "198.51.100.22", "port": port, "name": name, "reachable": True, "verified": True, "error": None,
            "certificate": CERT, "tls_version": "TLSv1.3"}


def mail_ok():
    return {
        "name": "mail.c1.test", "address": "198.51.100.22",
        "imap": {"protocol": "imap", "port": 143, "open": True, "refused": False, "error": None,
                 "capabilities": ["IMAP4REV1", "STARTTLS", "LOGINDISABLED"]},
        "pop3": {"protocol": "pop3", "port": 110, "open": True, "refused": False, "error": None, "capabilities": ["STLS", "SASL"],
                 "user_accepted": False, "user_answer": "-ERR [AUTH] Plaintext authentication disallowed"},
        "smtp": {"protocol": "smtp", "port": 25, "open": True, "refused": False, "error": None, "extensions": ["STARTTLS"], "auth": []},
        "submission": {"protocol": "smtp", "port": 587, "open": False, "refused": True, "error": "ConnectionRefusedError"},
        "imaps": tls_ok(993), "pop3s": tls_ok(995), "submissions": tls_ok(465),
    }


def record(side, host, **changes):
    base = {"reseller": "demo", "client": "c1", "side": side, "what": ["files"], "managed_by": "client",
            "repository": "sftp:restic@backup01.fracto.test:/srv/restic/c1", "outside_host": True, "encrypted": True,
            "last_attempt": "2026-11-29T17:00:00Z", "last_status": "ok", "last_success": "2026-11-29T17:00:00Z",
            "last_error": None, "snapshot_id": "abc123", "size_bytes": 1234, "host": host,
            "path": "/var/lib/fracto/backup/status/demo/c1.%s.json" % side}
    base.update(changes)
    return base


def evidence():
    names = ["c1.test", "www.c1.test"]
    probes_found = {"https": {n: https_ok(n) for n in names}, "http": {n: http_ok(n) for n in names}, "mail": {"mail.c1.test": mail_ok()}}
    probes_found["https"]["webmail.c1.test"] = https_ok("webmail.c1.test", "198.51.100.22")
    probes_found["http"]["webmail.c1.test"] = http_ok("webmail.c1.test", "198.51.100.22")
    records = [record("web", "cloud01"), record("mail", "mail01")]
    config = {"dovecot": {"ssl": "required", "disable_plaintext_auth": "yes"}, "postfix": {"smtpd_tls_auth_only": "yes"}}
    return probes_found, records, config


def verdict(mutate=None, client=None, now=NOW):
    found, records, config = evidence()
    if mutate:
        changed = mutate(found, records, config)
        records = changed if isinstance(changed, list) else records
    return ev.evaluate_client("c1", client or CLIENT, found, records, now, mail_config=config)


def reasons_of(result, rid):
    return next(r for r in result["requirements"] if r["id"] == rid)["reasons"]


def test_everything_in_place_is_compliant_with_evidence():
    result = verdict()
    assert result["compliant"] and result["verdict"] == "compliant" and not result["blocking"] and result["missing"] == []
    assert [r["id"] for r in result["requirements"]] == [rid for rid, _title in ev.REQUIREMENTS]
    hsts = next(r for r in result["requirements"] if r["id"] == "hsts")
    assert {e["name"]: e["max_age"] for e in hsts["evidence"]} == {"c1.test": 63072000, "www.c1.test": 63072000, "webmail.c1.test": 63072000}
    backup = next(r for r in result["requirements"] if r["id"] == "encrypted-offsite-backup")
    assert [(e["job"], e["age"], e["snapshot_id"]) for e in backup["evidence"]] == [("c1.web", "1.0 h", "abc123"), ("c1.mail", "1.0 h", "abc123")]
    assert ev.failures([result]) == {}


def _https(name, **changes):
    def mutate(found, _records, _config):
        found["https"][name].update(changes)
    return mutate


@pytest.mark.parametrize("mutate,rid,expected", [
    (_https("www.c1.test", reachable=False, verified=False, error="ConnectionRefusedError: refused"), "https-everywhere",
     "www.c1.test: HTTPS not served at 198.51.100.21:443 (ConnectionRefusedError: refused)"),
    (_https("c1.test", verified=False, error="certificate does not verify for c1.test: Hostname mismatch"), "https-everywhere",
     "c1.test: certificate does not verify for c1.test: Hostname mismatch"),
    (_https("c1.test", status=None, hsts=None, error="RemoteDisconnected: closed"), "https-everywhere",
     "c1.test: TLS verified but no HTTP answer over it (RemoteDisconnected: closed)"),
    (lambda f, r, c: f["https"].pop("webmail.c1.test"), "https-everywhere", "webmail.c1.test: not probed (its host has no known address)"),
    (lambda f, r, c: f["http"]["c1.test"].update(status=200, location=None), "http-redirects-to-https",
     "c1.test: HTTP answers 200, not a redirect to HTTPS"),
    (lambda f, r, c: f["http"]["c1.test"].update(location="https://evil.test/"), "http-redirects-to-https",
     "c1.test: HTTP redirects to https://evil.test/, not to https://c1.test/"),
    (lambda f, r, c: f["http"]["c1.test"].update(location="http://c1.test/"), "http-redirects-to-https",
     "c1.test: HTTP redirects to http://c1.test/, not to https://c1.test/"),
    (_https("c1.test", hsts=None), "hsts", "c1.test: no Strict-Transport-Security header (HTTPS answered 200)"),
    (_https("c1.test", hsts="max-age=86400; includeSubDomains"), "hsts", "c1.test: HSTS max-age=86400 is less than 15552000 (six months)"),
    (_https("c1.test", hsts="includeSubDomains"), "hsts", "c1.test: Strict-Transport-Security without a valid max-age: 'includeSubDomains'"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["imap"].update(capabilities=["IMAP4REV1", "STARTTLS"]), "tls-only-mail-access",
     "mail.c1.test: IMAP 143: LOGIN allowed before STARTTLS (no LOGINDISABLED)"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["imap"]["capabilities"].append("AUTH=PLAIN"), "tls-only-mail-access",
     "mail.c1.test: IMAP 143: offers AUTH=PLAIN before STARTTLS"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["pop3"].update(user_accepted=True, user_answer="+OK"), "tls-only-mail-access",
     "mail.c1.test: POP3 110: USER accepted in clear (+OK)"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["smtp"].update(auth=["PLAIN", "LOGIN"]), "tls-only-mail-access",
     "mail.c1.test: SMTP 25: offers AUTH PLAIN LOGIN before STARTTLS"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["submission"].update(open=False, refused=False, error="TimeoutError: timed out"),
     "tls-only-mail-access", "mail.c1.test: SMTP 587: did not answer (TimeoutError: timed out): cannot show that it refuses plaintext authentication"),
    (lambda f, r, c: f["mail"]["mail.c1.test"]["imaps"].update(verified=False, error="certificate does not verify for mail.c1.test: expired"),
     "tls-only-mail-access", "mail.c1.test: IMAPS 993: certificate does not verify for mail.c1.test: expired"),
    (lambda f, r, c: c["dovecot"].update(disable_plaintext_auth="no"), "tls-only-mail-access",
     "Dovecot allows plaintext authentication (doveconf disable_plaintext_auth = no)"),
    (lambda f, r, c: c.update(postfix={"smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "no"}), "tls-only-mail-access",
     "Postfix main.cf (smtpd) offers SASL without TLS (smtpd_tls_auth_only = no)"),
    (lambda f, r, c: c.update(postfix={"smtpd_tls_auth_only": "no"},
                              postfix_services={"submission/inet": {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_security_level": "may"}}),
     "tls-only-mail-access", "Postfix submission/inet offers SASL without TLS (smtpd_tls_auth_only = no)"),
    (lambda f, r, c: c.update(dovecot={"error": "doveconf: Fatal: bad config"}), "tls-only-mail-access", "doveconf failed: doveconf: Fatal: bad config"),
])
def test_each_failure_is_named(mutate, rid, expected):
    result = verdict(mutate)
    assert not result["compliant"] and result["verdict"] == "not compliant" and result["blocking"]
    # A name without verified HTTPS has no HSTS to show either.
    assert result["missing"] == ([rid, "hsts"] if rid == "https-everywhere" else [rid])
    assert expected in reasons_of(result, rid)
    assert expected in ev.failures([result])["c1"]


def test_no_mail_service_over_tls_at_all_fails():
    def mutate(found, _records, _config):
        for key in ("imaps", "pop3s", "submissions"):
            found["mail"]["mail.c1.test"][key].update(reachable=False, verified=False, error="ConnectionRefusedError")
    assert "mail.c1.test: no mail service over TLS answered (993, 995, 465)" in reasons_of(verdict(mutate), "tls-only-mail-access")


def test_closed_plaintext_ports_pass():
    def mutate(found, _records, _config):
        for key in ("imap", "pop3", "smtp", "submission"):
            found["mail"]["mail.c1.test"][key] = {"protocol": key, "port": 1, "open": False, "refused": True, "error": "refused"}
    assert verdict(mutate)["compliant"]


def test_no_mail_in_the_package_is_not_applicable():
    client = dict(CLIENT, features={"mail": False}, mail_names=[])
    req = next(r for r in verdict(client=client)["requirements"] if r["id"] == "tls-only-mail-access")
    assert req["passed"] and "not applicable" in req["note"]


@pytest.mark.parametrize("changes,expected", [
    ({"last_success": "2026-11-27T17:59:00Z"}, "c1.web: last successful backup 2026-11-27T17:59:00Z is 48.0 h old (more than 48 h)"),
    ({"last_success": "2026-11-20T18:00:00+00:00"}, "c1.web: last successful backup 2026-11-20T18:00:00+00:00 is 9.0 days old (more than 48 h)"),
    ({"last_status": "failed", "last_attempt": "2026-11-29T17:30:00Z", "last_error": "Fatal: unable to open repository"},
     "c1.web: last run 2026-11-29T17:30:00Z failed: Fatal: unable to open repository"),
    ({"last_status": "failed", "last_success": None, "last_error": "wrong password"}, "c1.web: no successful backup recorded"),
    ({"last_success": "yesterday"}, "c1.web: no successful backup recorded (last_success 'yesterday' unreadable)"),
    ({"encrypted": False}, "c1.web: repository not recorded as encrypted"),
    ({"outside_host": False}, "c1.web: repository sftp:restic@backup01.fracto.test:/srv/restic/c1 is not outside the host"),
    ({"repository": "local:/srv/backup/c1"}, "c1.web: repository local:/srv/backup/c1 is not outside the host"),
    ({"last_success": "2026-11-30T18:00:00Z"}, "c1.web: last successful backup 2026-11-30T18:00:00Z is in the future (clock skew?)"),
    ({"error": "Expecting value: line 1 column 1 (char 0)"}, "c1.web: job record unreadable: Expecting value: line 1 column 1 (char 0)"),
])
def test_backup_failures(changes, expected):
    def mutate(_found, records, _config):
        records[0].update(changes)
    result = verdict(mutate)
    assert result["missing"] == ["encrypted-offsite-backup"]
    assert expected in reasons_of(result, "encrypted-offsite-backup")


def test_backup_within_48_hours_passes():
    def mutate(_found, records, _config):
        records[0].update(last_success="2026-11-27T18:30:00Z")
    assert verdict(mutate)["compliant"]


def test_missing_job_record():
    result = verdict(lambda f, records, c: [records[0]])
    assert reasons_of(result, "encrypted-offsite-backup") == [
        "c1.mail: no job record on mail01 (the job never ran, or its record is missing)"]


def test_record_on_another_host_does_not_count():
    result = verdict(lambda f, records, c: [records[0], dict(records[1], host="cloud01")])
    assert "c1.mail: no job record on mail01 (the job never ran, or its record is missing)" in reasons_of(result, "encrypted-offsite-backup")


def test_no_backup_in_the_package_is_named_and_informational_without_a_gdpr_claim():
    client = dict(CLIENT, backup="none", gdpr=False, package="entry")
    result = verdict(client=client)
    assert reasons_of(result, "encrypted-offsite-backup") == ["no backup job: the package has backup: none (no backup outside the host)"]
    assert not result["compliant"] and not result["claims_gdpr"] and not result["blocking"]
    assert ev.failures([result]) == {}


def test_jobs_given_by_the_state_are_the_ones_checked():
    found, records, config = evidence()
    jobs = [{"client": "c1", "side": "web", "host": "cloud01"}, {"client": "other", "side": "web", "host": "cloud01"}]
    result = ev.evaluate_client("c1", CLIENT, found, records[:1], NOW, jobs=jobs, mail_config=config)
    assert result["compliant"]
    backup = next(r for r in result["requirements"] if r["id"] == "encrypted-offsite-backup")
    assert [e["job"] for e in backup["evidence"]] == ["c1.web"]
    result = ev.evaluate_client("c1", CLIENT, found, records, NOW, jobs=[], mail_config=config)
    assert reasons_of(result, "encrypted-offsite-backup") == ["no backup job: the package has backup: client (no backup outside the host)"]


def test_expected_jobs_follow_the_resolved_state():
    assert ev.expected_jobs("c1", CLIENT) == [{"client": "c1", "side": "web", "host": "cloud01"},
                                              {"client": "c1", "side": "mail", "host": "mail01"}]
    assert ev.expected_jobs("c1", dict(CLIENT, mail_host=None)) == [{"client": "c1", "side": "web", "host": "cloud01"}]
    assert ev.expected_jobs("c1", dict(CLIENT, backup="none")) == []


@pytest.mark.parametrize("header,age", [
    ("max-age=63072000", 63072000), ("max-age=31536000; includeSubDomains; preload", 31536000),
    ('includeSubDomains; max-age="15552000"', 15552000), ("MAX-AGE = 10", 10), ("max-age=abc", None), ("", None), (None, None),
])
def test_hsts_max_age(header, age):
    assert ev.hsts_max_age(header) == age


def test_address_prefers_the_dedicated_ipv4():
    dns = {"a.test": {"host": "cloud01", "ipv4": "198.51.100.100"}, "b.test": {"host": "cloud01", "ipv4": None}}
    addresses = {"cloud01": "198.51.100.21"}
    assert ev.address_of("a.test", dns, addresses) == "198.51.100.100"
    assert ev.address_of("b.test", dns, addresses) == "198.51.100.21"
    assert ev.address_of("c.test", dns, addresses) is None


def test_parse_time():
    assert ev.parse_time("2026-11-29T17:00:00Z") == datetime.datetime(2026, 11, 29, 17, tzinfo=datetime.timezone.utc)
    assert ev.parse_time("2026-11-29T18:00:00+01:00") == datetime.datetime(2026, 11, 29, 17, tzinfo=datetime.timezone.utc)
    assert ev.parse_time("2026-11-29T17:00:00") == datetime.datetime(2026, 11, 29, 17, tzinfo=datetime.timezone.utc)
    assert ev.parse_time(None) is None and ev.parse_time("nope") is None


def test_report_documents_and_renders_every_requirement():
    good = verdict()
    bad = verdict(_https("c1.test", hsts=None))
    bad["client"] = "c2"
    settings = {"ca_bundle": "/roots.pem", "hsts_min_age": 15552000, "max_backup_age_hours": 48}
    doc = rp.document("demo", [good, bad], "2026-11-29T18:00:00Z", settings)
    assert doc["summary"] == {"clients": 2, "compliant": ["c1"], "not_compliant": ["c2"], "gdpr_not_compliant": ["c2"]}
    json.dumps(doc)
    page = rp.markdown(doc)
    assert "## c1 (package gdpr): COMPLIANT" in page and "## c2 (package gdpr): NOT COMPLIANT" in page
    assert "### FAIL hsts" in page and "- c1.test: no Strict-Transport-Security header (HTTPS answered 200)" in page
    assert "`Strict-Transport-Security: max-age=63072000` (max-age 63072000 s = 730 days)" in page
    assert "job `c1.web` on cloud01: last success 2026-11-29T17:00:00Z (1.0 h ago)" in page
    assert "IMAP 143: capabilities before STARTTLS: IMAP4REV1 STARTTLS LOGINDISABLED" in page
    text = "\n".join(rp.summary_lines(doc))
    assert "client c2 (package gdpr, claims GDPR): NOT COMPLIANT" in text and "  FAIL hsts" in text


def test_read_job_records(tmp_path):
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "c1.web.json").write_text(json.dumps(dict(record("web", None), password="must not leak")))
    (directory / "c1.mail.json").write_text("{not json")
    (directory / ".c1.web.json.tmp").write_text("{}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.web.json").write_text("{}")
    found = {(r["client"], r["side"]): r for r in hostside.read_job_records(str(tmp_path), "demo")}
    assert set(found) == {("c1", "web"), ("c1", "mail")}
    assert found[("c1", "web")]["last_status"] == "ok" and "password" not in found[("c1", "web")]
    assert "error" in found[("c1", "mail")]
    assert hostside.read_job_records(str(tmp_path), "nobody") == []


def test_postfix_services_that_require_tls_pass():
    def mutate(_found, _records, config):
        config.update(postfix={"smtpd_tls_auth_only": "no", "smtpd_sasl_auth_enable": "no"},
                      postfix_services={"submission/inet": {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_security_level": "encrypt"},
                                        "submissions/inet": {"smtpd_sasl_auth_enable": "yes", "smtpd_tls_wrappermode": "yes"}})
    result = verdict(mutate)
    assert result["compliant"], result
    checks = next(r for r in result["requirements"] if r["id"] == "tls-only-mail-access")["evidence"][-1]["checks"]
    assert "postconf -P submission/inet: smtpd_sasl_auth_enable = yes, smtpd_tls_security_level = encrypt" in checks


def test_service_overrides():
    text = ("submission/inet/smtpd_sasl_auth_enable = yes\nsubmission/inet/syslog_name = postfix/submission\n"
            "submissions/inet/smtpd_tls_wrappermode = yes\nsmtp-1/unix/smtp_bind_address = 198.51.100.102\n")
    assert hostside.service_overrides(text) == {"submission/inet": {"smtpd_sasl_auth_enable": "yes"},
                                                "submissions/inet": {"smtpd_tls_wrappermode": "yes"}}


def test_parse_settings():
    text = "ssl = required\ndisable_plaintext_auth = yes\nauth_mechanisms = plain login\n# comment\n"
    assert hostside.parse_settings(text) == {"ssl": "required", "disable_plaintext_auth": "yes", "auth_mechanisms": "plain login"}


@pytest.fixture
def loopback_http():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(301)
            self.send_header("Location", "https://%s/" % self.headers["Host"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_probe_http_reads_the_redirect_of_a_real_server(loopback_http):
    found = probes.probe_http("127.0.0.1", "c1.test", timeout=5, port=loopback_http)
    assert (found["status"], found["location"], found["error"]) == (301, "https://c1.test/", None)
    assert not ev.evaluate_redirects(["c1.test"], {"c1.test": found})["reasons"]


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probes_of_a_closed_port_say_refused():
    port = _closed_port()
    imap = probes.probe_imap("127.0.0.1", port, timeout=5)
    assert imap["open"] is False and imap["refused"] is True
    assert probes.probe_smtp("127.0.0.1", port, timeout=5)["refused"] is True
    tls = probes.probe_tls("127.0.0.1", port, "c1.test", timeout=5)
    assert tls["reachable"] is False and tls["verified"] is False and "ConnectionRefusedError" in tls["error"]
    found = copy.deepcopy(mail_ok())
    found["imap"] = imap
    assert not ev.evaluate_mail(["mail.c1.test"], {"mail.c1.test": found})["reasons"]


@pytest.fixture(scope="module")
def loopback_https(tmp_path_factory):
    """A real HTTPS server on loopback with a certificate for c1.test from a throw-away CA, sending HSTS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, key, signer, sans=None, ca=False):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test Root", "Test Root", ca_key, ca_key, ca=True)
    leaf = certificate("c1.test", "Test Root", leaf_key, ca_key, sans=["c1.test", "www.c1.test"])
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Strict-Transport-Security", "max-age=31536000")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(directory / "leaf.pem"), str(directory / "key.pem"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], str(directory / "ca.pem")
    server.shutdown()
    server.server_close()


def test_probe_https_on_a_real_tls_server(loopback_https):
    port, cafile = loopback_https
    found = probes.probe_https("127.0.0.1", "www.c1.test", cafile, timeout=5, port=port)
    assert found["verified"] and found["status"] == 200 and found["hsts"] == "max-age=31536000", found
    assert found["certificate"]["issuer"] == "Test Root" and found["certificate"]["names"] == ["c1.test", "www.c1.test"]
    https = ev.evaluate_https(["www.c1.test"], {"www.c1.test": found})
    assert https["passed"] and not ev.evaluate_hsts(["www.c1.test"], {"www.c1.test": found})["reasons"]


def test_probe_https_names_a_certificate_that_does_not_cover_the_name(loopback_https):
    port, cafile = loopback_https
    found = probes.probe_https("127.0.0.1", "shop.c1.test", cafile, timeout=5, port=port)
    assert not found["verified"] and found["status"] is None
    assert found["error"].startswith("certificate does not verify for shop.c1.test: Hostname mismatch"), found["error"]
    assert found["certificate"]["subject"] == "c1.test"  # what was presented, read without verifying, as evidence


def test_probe_https_without_the_trust_anchor_does_not_verify(loopback_https):
    port, _cafile = loopback_https
    found = probes.probe_https("127.0.0.1", "c1.test", None, timeout=5, port=port)
    assert not found["verified"] and "certificate does not verify for c1.test" in found["error"]


# --- issue 12: a record written before redaction never carries its repository password into the report ---------

LEAKY = "rest:https://restic:pw-UNIT-SECRET@rest.backup.test:8000/c1/"


def test_old_job_records_are_read_redacted(tmp_path):
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "c1.web.json").write_text(json.dumps(record("web", None, repository=LEAKY,
                                                             last_error="Fatal: unable to open %s" % LEAKY)))
    found = hostside.read_job_records(str(tmp_path), "demo")[0]
    assert "UNIT-SECRET" not in json.dumps(found)
    assert found["repository"] == "rest:https://restic:****@rest.backup.test:8000/c1/"


def test_the_report_never_prints_a_repository_password():
    def mutate(_found, records, _config):
        return [record("web", "cloud01", repository=LEAKY, last_status="failed", last_error="Fatal: at %s: 401" % LEAKY,
                       outside_host=False),
                record("mail", "mail01", repository=LEAKY)]

    result = verdict(mutate)
    doc = rp.document("demo", [result], "2026-11-29T18:00:00Z", {})
    text = json.dumps(doc) + rp.markdown(doc) + "\n".join(rp.summary_lines(doc))
    assert "UNIT-SECRET" not in text and "restic:****@rest.backup.test" in text
