"""Metrics for node_exporter's textfile collector after site.yml (monitoring/README.md): the certificate files of
tls_certificates, the host collector's file, node_exporter serving them on :9100, promtool accepting each file."""

import os
import urllib.request

import pytest
import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
TEXTFILE = "/var/lib/prometheus/node-exporter"
# Names the demo's certificates serve (molecule/default/tests/test_plan.py, test_lab.py).
CERT_NAMES = {"cloud01": ["cliente1.test", "www.cliente1.test", "blog.cliente1.test", "shop.cliente1.test"],
              "mail01": ["mail.cliente1.test", "webmail.cliente1.test", "mail01.fracto.test"]}
HOSTS = {"cloud01": CLOUD01, "mail01": MAIL01}


def prom_files(host):
    return sorted(n for n in host.run("ls -1 %s" % TEXTFILE).stdout.split() if n.startswith("fracto_") and n.endswith(".prom"))


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_the_metrics_files_are_there_public_and_accepted_by_promtool(name, promtool_check):
    host = HOSTS[name]
    files = prom_files(host)
    assert {"fracto_tls_demo.prom", "fracto_host.prom"} <= set(files), files
    for file in files:
        path = "%s/%s" % (TEXTFILE, file)
        assert host.file(path).mode == 0o644 and host.file(path).user == "root"
        rc, out = promtool_check(host.file(path).content_string)
        assert rc == 0, "%s on %s: %s" % (file, name, out)


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_node_exporter_serves_the_certificate_expiry_of_the_demo_names(name, lab_resolve):
    assert HOSTS[name].service("prometheus-node-exporter").is_running
    address = lab_resolve("%s.fracto.test" % name)[0]
    with urllib.request.urlopen("http://%s:9100/metrics" % address, timeout=10) as response:
        text = response.read().decode()
    expiry = [line for line in text.splitlines() if line.startswith("fracto_certificate_expiry_timestamp_seconds{")]
    for cert_name in CERT_NAMES[name]:
        assert any('name="%s"' % cert_name in line and 'reseller="demo"' in line for line in expiry), (cert_name, expiry)
    assert 'fracto_certificate_renewal_outcome{' in text and "fracto_failed_units " in text
    assert "node_textfile_scrape_error 0" in text


def test_the_mail_queue_is_measured_on_the_mail_host_only():
    # A collection of its own: the timer's last one may have met Postfix reloading (the queue then left out).
    for host in (MAIL01, CLOUD01):
        assert host.run("systemctl start fracto-host-metrics.service").rc == 0
    assert "fracto_mail_queue_deferred_messages " in MAIL01.file(TEXTFILE + "/fracto_host.prom").content_string
    assert "fracto_mail_queue" not in CLOUD01.file(TEXTFILE + "/fracto_host.prom").content_string


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_the_collector_timer_is_enabled_and_active(name):
    host = HOSTS[name]
    assert host.service("fracto-host-metrics.timer").is_enabled
    assert host.run("systemctl is-active fracto-host-metrics.timer").stdout.strip() == "active"


def test_a_collector_run_leaves_an_unchanged_file_alone():
    """On cloud01 (no mail queue, whose size other tests may change meanwhile)."""
    host = CLOUD01
    path = TEXTFILE + "/fracto_host.prom"
    before = host.run("stat -c %%i:%%Y %s" % path).stdout
    assert host.run("systemctl start fracto-host-metrics.service").rc == 0
    assert host.run("systemctl is-failed fracto-host-metrics.service").stdout.strip() != "failed"
    assert host.run("stat -c %%i:%%Y %s" % path).stdout == before  # same content: not rewritten
