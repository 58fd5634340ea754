"""FractoCloud on cloud01: HTTPS with AutoSSL and commercial certificates, HTTP where the package says so."""

import http.client
import os
import socket
import ssl
import subprocess
import uuid

import pytest
import testinfra
import yaml
from conftest import PROJECT, https_get, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
CLIENTS = PROJECT / "inventories" / "demo" / "group_vars" / "all" / "clients"

ACME_NAMES = ["cliente1.test", "www.cliente1.test", "blog.cliente1.test", "cliente2.test", "www.cliente2.test",
              "xn--caff-8oa.test", "www.xn--caff-8oa.test"]
HTTP_ONLY_NAMES = ["cliente3.test", "www.cliente3.test"]  # entry package: no AutoSSL


@pytest.fixture(scope="module")
def commercial_ca():
    client = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())["fracto_clients__cliente1"]["cliente1"]
    return client["certificates"][0]["chain"]


def http_get(address, name, path="/"):
    conn = http.client.HTTPConnection(address, 80, timeout=10)
    conn.request("GET", path, headers={"Host": name})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode(errors="replace")


def vhost_of(name):
    return name[len("www."):] if name.startswith("www.") else name  # an alias shares its domain's docroot


@pytest.fixture(scope="module")
def probes():
    """A file of its own in each vhost's docroot: the page a name serves proves which docroot it is served from,
    whatever the site (the placeholder, or a site another scenario migrated there on the shared lab)."""
    written = {}
    for name in ACME_NAMES + HTTP_ONLY_NAMES:
        vhost = vhost_of(name)
        client = "cliente2" if vhost.startswith("xn--caff") else vhost.split(".")[-2]
        path = "/srv/www/%s/%s/public/fracto-probe.txt" % (client, vhost)
        content = "fracto probe %s\n" % vhost
        CLOUD01.run_expect([0], "printf %%s '%s' > %s && chown --reference=%s %s && chmod 0644 %s"
                           % (content, path, path.rsplit("/", 1)[0], path, path))
        written[vhost] = content
    yield written
    CLOUD01.run("rm -f /srv/www/*/*/public/fracto-probe.txt")


@pytest.mark.parametrize("name", ACME_NAMES)
def test_autossl_name_is_served_over_https_with_a_pebble_certificate(cloud01_address, pebble_root, probes, name):
    status, _headers, _body, cert = https_get(cloud01_address, name, pebble_root)
    assert status == 200
    status, _headers, body, _cert = https_get(cloud01_address, name, pebble_root, "/fracto-probe.txt")
    assert status == 200 and body == probes[vhost_of(name)]
    assert ("DNS", name) in cert["subjectAltName"]


def test_commercial_certificate_serves_its_name(cloud01_address, commercial_ca):
    status, _headers, body, cert = https_get(cloud01_address, "shop.cliente1.test", commercial_ca)
    assert status == 200 and "shop.cliente1.test" in body
    assert dict(x[0] for x in cert["issuer"])["commonName"] == "Demo Commercial OV CA"


@pytest.mark.parametrize("name", HTTP_ONLY_NAMES)
def test_package_without_autossl_is_served_over_http_only(cloud01_address, probes, name):
    status, _headers, _body = http_get(cloud01_address, name)
    assert status == 200
    status, _headers, body = http_get(cloud01_address, name, "/fracto-probe.txt")
    assert status == 200 and body == probes[vhost_of(name)]
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((cloud01_address, 443), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname=name)


def test_http_redirects_to_https_and_hsts_follows_the_package(cloud01_address, pebble_root):
    status, headers, _body = http_get(cloud01_address, "cliente1.test", "/some/page?x=1")
    assert status == 301 and headers["Location"] == "https://cliente1.test/some/page?x=1"
    _status, headers, _body, _cert = https_get(cloud01_address, "cliente1.test", pebble_root)
    assert headers["Strict-Transport-Security"].startswith("max-age=")  # gdpr package: hsts on
    _status, headers, _body, _cert = https_get(cloud01_address, "cliente2.test", pebble_root)
    assert "Strict-Transport-Security" not in headers  # business package: hsts off


def test_name_whose_dns_points_elsewhere_is_served_over_http_only(cloud01_address, pebble_root):
    status, _headers, body = http_get(cloud01_address, "old.cliente2.test")
    assert status == 200 and "old.cliente2.test" in body
    meta = CLOUD01.file("/etc/fracto/tls/cliente2.test/meta.json").content_string
    assert "old.cliente2.test" not in meta and "www.cliente2.test" in meta


def test_default_server_serves_no_client_site(cloud01_address):
    status, _headers, body = http_get(cloud01_address, "unknown.test")
    assert status == 404 and "cliente" not in body
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((cloud01_address, 443), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw)  # no SNI: the handshake is refused


def test_clients_cannot_read_each_others_files():
    """A file cliente1 writes in its own docroot, even world-readable (as an upload or an SFTP client may leave it),
    is out of cliente2's reach: cliente1's home lets only its owner and nginx's group (www-data) in. The file is the
    test's own, so the refusal is a refused read, never a file some other scenario removed."""
    home = CLOUD01.file("/srv/www/cliente1")
    assert home.user == "cliente1" and home.group == "www-data" and home.mode == 0o2750
    path = "/srv/www/cliente1/cliente1.test/public/fracto-isolation-probe.txt"
    marker = "fracto-isolation-probe-%s" % uuid.uuid4().hex
    CLOUD01.run_expect([0], "printf %%s %s | runuser -u cliente1 -- tee %s >/dev/null && runuser -u cliente1 -- chmod 0644 %s"
                       % (marker, path, path))
    try:
        written = CLOUD01.file(path)
        assert written.user == "cliente1" and written.mode == 0o644
        assert CLOUD01.run("runuser -u cliente1 -- cat %s" % path).stdout == marker  # its owner reads it
        assert CLOUD01.run("cat %s" % path).stdout == marker  # so does root: the file is there
        probe = CLOUD01.run("runuser -u cliente2 -- cat %s" % path)
        assert probe.rc == 1 and marker not in probe.stdout
        assert "%s: Permission denied" % path in probe.stderr, probe.stderr
        assert "www-data" not in CLOUD01.check_output("id -nG cliente2").split()  # not let in through nginx's group
    finally:
        CLOUD01.run("rm -f %s" % path)


def test_php_runs_as_the_clients_user(cloud01_address, pebble_root):
    script = "/srv/www/cliente1/cliente1.test/public/whoami.php"
    CLOUD01.run("printf '%%s' '<?php echo posix_getpwuid(posix_geteuid())[\"name\"];' > %s && chown cliente1:www-data %s" % (script, script))
    try:
        status, _headers, body, _cert = https_get(cloud01_address, "cliente1.test", pebble_root, "/whoami.php")
    finally:
        CLOUD01.run("rm -f %s" % script)
    assert status == 200 and body == "cliente1"


def test_tls_is_compliant_with_mozilla_intermediate(cloud01_address, pebble_root, tmp_path):
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble_root)
    run = subprocess.run(["sslyze", "--mozilla_config=intermediate", "--certinfo_ca_file=%s" % root,
                          "cliente1.test:443{%s}" % cloud01_address], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "cliente1.test:443: OK - Compliant." in run.stdout


def test_check_diff_shows_vhost_and_certificate_changes_and_changes_nothing(tmp_path):
    state = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())
    state["fracto_clients__cliente1"]["cliente1"]["domains"]["cliente1.test"]["subdomains"].append("news")
    extra = tmp_path / "changed.yml"
    extra.write_text(yaml.safe_dump(state))
    before = CLOUD01.run("cat /etc/nginx/fracto/sites/*.conf | sha256sum").stdout
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--check", "--diff", "-e", "@%s" % extra,
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    assert "+ vhost news.cliente1.test" in output
    assert "~ certificate cliente1.test: + news.cliente1.test" in output
    assert "server_name news.cliente1.test" in output  # the vhost file in the diff
    assert "PRIVATE KEY" not in output
    assert not CLOUD01.file("/etc/nginx/fracto/sites/news.cliente1.test.conf").exists
    assert CLOUD01.run("cat /etc/nginx/fracto/sites/*.conf | sha256sum").stdout == before


@pytest.mark.parametrize("defect, message", [
    ("key", "key does not match the certificate"),
    ("names", "does not cover"),
])
def test_bad_commercial_bundle_is_refused_and_the_previous_stays_served(cloud01_address, commercial_ca, tmp_path, defect, message):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    state = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())
    cert = state["fracto_clients__cliente1"]["cliente1"]["certificates"][0]
    if defect == "key":
        cert["key"] = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    else:
        cert["names"] = ["blog.cliente1.test"]
    extra = tmp_path / "bad.yml"
    extra.write_text(yaml.safe_dump(state))
    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "-e", "@%s" % extra,
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc != 0 and message in output and "certificates[0]" in output
    assert "PRIVATE KEY" not in output
    status, _headers, _body, _cert = https_get(cloud01_address, "shop.cliente1.test", commercial_ca)
    assert status == 200


def test_failed_nginx_check_puts_the_previous_configuration_back(cloud01_address, pebble_root, tmp_path):
    """A config that nginx -t refuses (here: a broken file someone left) stops the run; nothing is half-applied."""
    state = yaml.safe_load((CLIENTS / "cliente1.yml").read_text())
    state["fracto_clients__cliente1"]["cliente1"]["domains"]["cliente1.test"]["subdomains"].append("later")
    extra = tmp_path / "changed.yml"
    extra.write_text(yaml.safe_dump(state))
    before = CLOUD01.run("cat /etc/nginx/fracto/sites/*.conf | sha256sum").stdout
    CLOUD01.run("echo 'this is not nginx syntax' > /etc/nginx/conf.d/zz-broken.conf")
    try:
        rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "-e", "@%s" % extra,
                                  env={"FRACTO_REPORT_DIR": str(tmp_path)})
    finally:
        CLOUD01.run("rm -f /etc/nginx/conf.d/zz-broken.conf")
    assert rc != 0 and "nginx -t failed" in output and "previous configuration was put back" in output
    assert CLOUD01.run("cat /etc/nginx/fracto/sites/*.conf | sha256sum").stdout == before
    assert not CLOUD01.file("/etc/nginx/fracto/sites/later.cliente1.test.conf").exists
    status, _headers, _body, _cert = https_get(cloud01_address, "cliente1.test", pebble_root)
    assert status == 200  # nginx kept serving the previous configuration


def test_report_names_what_autossl_left_out(tmp_path):
    """The report of a run of its own (FRACTO_REPORT_DIR: not a report a converge left in .fracto/, which may be older
    than the lab) names the name AutoSSL left out of cliente2's certificate, and why."""
    import json

    rc, output = run_playbook(PROJECT, str(PROJECT / "playbooks" / "site.yml"), "--limit", "cloud01,localhost",
                              env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    report = json.loads((tmp_path / "report-demo.json").read_text())
    assert report["kind"] == "report" and report["check_mode"] is False
    notes = [n for n in report["attention"] if n["item"] == "old.cliente2.test"]
    assert len(notes) == 1, report["attention"]
    assert notes[0]["client"] == "cliente2" and notes[0]["what"] == "left out of its certificate" and notes[0]["host"] == "cloud01"
    # The HTTP precheck's reason: its DNS points at another server, which does not serve the challenge token.
    assert "HTTP" in notes[0]["detail"] or "challenge path" in notes[0]["detail"], notes[0]
    assert "! cliente2: old.cliente2.test left out of its certificate: " in output
