"""A client's disk use against its package's quota (issue 16): the lab's hosts have no filesystem quota (overlay), so
the documented fallback measures files, logs and databases at every run and names a client past its quota.

The report is the one the scenario's converge (site.yml) wrote; the quota check runs the module on cloud01 as the role
does, after cliente1 wrote a file larger than a quota given for the test.
"""

import json
import os
import uuid

import testinfra
from conftest import PROJECT

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MIB = 1024 ** 2


def measure(quota):
    args = {"users": [{"name": "cliente1", "client": "cliente1", "home": "/srv/www/cliente1", "disk_quota": quota,
                       "databases": ["cliente1_db"]}]}
    return CLOUD01.ansible("fracto.hosting.client_usage", json.dumps(args), check=False)


def test_the_report_of_the_run_shows_each_clients_disk_use_against_its_package():
    report = json.loads((PROJECT / ".fracto" / "report-demo.json").read_text())
    cliente1 = report["services"]["cliente1"]["disk"]
    assert cliente1["quota"] == 2 * 1024 ** 3  # package gdpr: web.disk_quota 2g
    assert cliente1["files"] > 0 and "cliente1_db" in cliente1["databases"]  # empty until a site is migrated into it
    assert cliente1["total"] == cliente1["files"] + cliente1["logs"] + sum(cliente1["databases"].values())
    assert report["services"]["cliente2"]["disk"]["quota"] == 5 * 1024 ** 3  # package business: 5g
    assert not [note for note in report["attention"] if note["what"] == "is over its disk quota"]


def test_a_write_past_the_quota_is_measured_and_the_client_named():
    before = measure(None)["usage"]["cliente1"]
    name = "/srv/www/cliente1/disk-probe-%s.bin" % uuid.uuid4().hex[:8]
    CLOUD01.run_expect([0], "runuser -u cliente1 -- head -c %d /dev/urandom > %s" % (12 * MIB, name))
    try:
        result = measure(before["total"] + 10 * MIB)
        after = result["usage"]["cliente1"]
        assert after["files"] - before["files"] >= 12 * MIB
        assert "cliente1" in result["over_quota"] and result["over_quota"]["cliente1"].startswith("uses ")
        assert not result["changed"]
    finally:
        CLOUD01.run("rm -f -- %s" % name)
    assert "cliente1" not in measure(before["total"] + 10 * MIB)["over_quota"]
