"""The backup metrics (monitoring/README.md): the job runner refreshes fracto_backup.prom from the job records."""

import json
import os

import testinfra

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
HOSTS = {"web": testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY),
         "mail": testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)}
PROM = "/var/lib/prometheus/node-exporter/fracto_backup.prom"
STATUS = "/var/lib/fracto/backup/status/demo"


def test_each_job_has_its_metrics_matching_its_record(promtool_check):
    for side, host in HOSTS.items():
        text = host.file(PROM).content_string
        assert host.file(PROM).mode == 0o644
        rc, out = promtool_check(text)
        assert rc == 0, out
        for client in ("cliente1", "cliente2"):
            rec = json.loads(host.file("%s/%s.%s.json" % (STATUS, client, side)).content_string)
            labels = 'client="%s",reseller="demo",side="%s"' % (client, side)
            assert "fracto_backup_last_run_ok{%s} %d" % (labels, rec["last_status"] == "ok") in text
            assert "fracto_backup_size_bytes{%s} %d" % (labels, rec["size_bytes"]) in text
            assert "fracto_backup_last_success_timestamp_seconds{%s} " % labels in text
