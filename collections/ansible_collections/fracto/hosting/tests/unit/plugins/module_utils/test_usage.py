"""A client's disk use against its package's quota (module_utils/web/usage.py, the report's lines), without a host."""

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils import run_report, tunables
from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused
from ansible_collections.fracto.hosting.plugins.module_utils.web import usage

MIB = 1024 ** 2
USERS = [{"name": "c1", "client": "c1", "home": "/srv/www/c1", "disk_quota": 10 * MIB, "databases": ["c1_wp"]},
         {"name": "c2", "client": "c2", "home": "/srv/www/c2", "disk_quota": None, "databases": []}]


def test_files_logs_and_databases_add_up_and_a_client_past_its_quota_is_named():
    du = usage.parse_du("%d\t/srv/www/c1\n%d\t/srv/www/.logs/c1\n4096\t/srv/www/c2\ngarbage\n" % (8 * MIB, MIB))
    dbs = usage.parse_schema_sizes("c1_wp\t%d\ninformation_schema\t0\nother_db\t99\n" % (2 * MIB))
    found, over = usage.usage(USERS, du, dbs)
    assert found["c1"] == {"files": 8 * MIB, "logs": MIB, "databases": {"c1_wp": 2 * MIB}, "quota": 10 * MIB, "total": 11 * MIB}
    assert over == {"c1": "uses 11.0 MiB of its 10.0 MiB (files 8.0 MiB, logs 1.0 MiB, databases 2.0 MiB)"}
    assert found["c2"]["total"] == 4096 and "c2" not in over  # no quota: measured, never over
    assert usage.line(found["c2"]) == "disk: 4.0 KiB (files 4.0 KiB, logs 0 B, databases 0 B)"
    assert usage.line(found["c1"]).startswith("disk: 11.0 MiB of 10.0 MiB (")


@pytest.mark.parametrize("user, option", [
    (dict(USERS[0], home="/etc"), "users[0].home"),
    (dict(USERS[0], client="../c1"), "users[0].client"),
    (dict(USERS[0], disk_quota="10m"), "users[0].disk_quota"),
    (dict(USERS[0], databases=["c1_wp; DROP DATABASE x"]), "users[0].databases[0]"),
])
def test_the_module_refuses_an_argument_outside_its_rule(user, option):
    with pytest.raises(Refused) as exc:
        usage.check_args([user])
    assert exc.value.option == option


@pytest.mark.parametrize("value, size", [("10m", 10 * MIB), ("5g", 5 * 1024 ** 3), ("5G", 5 * 1024 ** 3), ("9m", None),
                                         ("10001g", None), ("5t", None), ("5g\n", None), (True, None), ("1 g", None)])
def test_a_packages_disk_quota_is_a_size_within_bounds(value, size):
    assert tunables.disk_quota_bytes(value) == size


def test_the_report_shows_each_clients_disk_use_and_the_attention_names_the_client():
    summary = {"c1": {"package": "p", "gdpr": False, "urls": ["https://c1.test/"], "mail": []}}
    hostvars = {"cloud01": {"fracto_web__result_usage": {"usage": {"c1": {"files": 1, "logs": 0, "databases": {}, "total": 1,
                                                                          "quota": None}}, "over_quota": {"c1": "uses 1 B"}}}}
    run_report.disk_usage(hostvars, ["cloud01"], summary)
    assert run_report.service_lines(summary)[-1] == "    disk: 1 B (files 1 B, logs 0 B, databases 0 B)"
    _by_host, attention = run_report.collect(hostvars, ["cloud01"])
    notes = run_report.attention_notes(attention, {"clients": {"c1": {"names": ["c1.test"]}}})
    assert notes == [{"host": "cloud01", "client": "c1", "what": "is over its disk quota", "item": "c1", "detail": "uses 1 B"}]
