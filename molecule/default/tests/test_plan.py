"""The record of desired state on the hosts, and the plan that --check --diff prints without changing anything."""

import json
import os
import shlex
import shutil
import subprocess

import testinfra
import yaml
from conftest import run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
# Secret values of the demo vault (inventories/demo/group_vars/all/vault.yml): none may leak.
SECRETS = ["demo-info-cliente1", "demo-ana-cliente1", "demo-hola-cliente2", "demo-cliente1-backup-2026",
           "demo-reseller-backup-2026", "legacy-info-cliente1", "PRIVATE KEY"]
RECORD = "/var/lib/fracto/state/demo.json"


def _record(host):
    return json.loads(host.file(RECORD).content_string)["objects"]


def test_records_are_private_and_hold_no_secret():
    for host in (CLOUD01, MAIL01):
        record = host.file(RECORD)
        assert record.mode == 0o600 and record.user == "root"
        assert not any(secret in record.content_string for secret in SECRETS)


def test_cloud01_record_holds_the_demo_sites_and_certificates():
    objects = _record(CLOUD01)
    assert {"vhost cliente1.test", "vhost shop.cliente1.test", "vhost blog.cliente1.test", "vhost xn--caff-8oa.test",
            "vhost cliente3.test", "certificate cliente1-shop-ov"} <= set(objects)
    # AutoSSL leaves shop.cliente1.test to the commercial certificate that covers it.
    assert objects["certificate cliente1.test"]["attrs"]["names"] == ["cliente1.test", "www.cliente1.test", "blog.cliente1.test"]
    assert objects["vhost shop.cliente1.test"]["attrs"]["tls"] == "custom"
    assert objects["vhost cliente3.test"]["attrs"]["tls"] == "none"  # entry package: no AutoSSL


def test_mail01_record_holds_mailboxes_and_branded_names():
    objects = _record(MAIL01)
    assert {"mailbox info@cliente1.test", "mailbox hola@cliente2.test", "mailbox contacto@cliente3.test",
            "mail_name mail.cliente1.test", "mail_name mail.dominioreseller.test", "mail_name mail01.fracto.test"} <= set(objects)
    assert objects["mailbox info@cliente1.test"]["attrs"]["quota"] == 2 * 1024 ** 3


def test_report_json_written_by_the_run(project, tmp_path):
    """A run of its own writes the report into its own directory (FRACTO_REPORT_DIR): not the one a converge left in
    .fracto/, which may be older than the lab."""
    rc, output = run_playbook(project, str(project / "playbooks" / "site.yml"), env={"FRACTO_REPORT_DIR": str(tmp_path)})
    assert rc == 0, output[-3000:]
    path = tmp_path / "report-demo.json"
    assert "written to %s" % path in output and "REPORT of reseller demo (" in output
    report = json.loads(path.read_text())
    assert report["kind"] == "report" and report["reseller"] == "demo" and report["check_mode"] is False
    assert set(report["services"]) == {"cliente1", "cliente2", "cliente3"}
    assert report["services"]["cliente1"]["package"] == "gdpr" and "https://cliente1.test/" in report["services"]["cliente1"]["urls"]
    assert "http://cliente3.test/" in report["services"]["cliente3"]["urls"]  # entry package: no AutoSSL
    assert not any(secret in path.read_text() for secret in SECRETS)


def test_check_diff_prints_the_plan_and_changes_nothing(project, tmp_path):
    """Add a subdomain and drop a mailbox in a copy of the state: the plan shows both, the hosts keep their record."""
    source = project / "inventories" / "demo" / "group_vars" / "all" / "clients" / "cliente1.yml"
    changed = yaml.safe_load(source.read_text())
    client = changed["fracto_clients__cliente1"]["cliente1"]
    client["domains"]["cliente1.test"]["subdomains"].append("news")
    del client["mailboxes"]["ana@cliente1.test"]
    del client["migration"]["mail"]["mailboxes"]["ana@cliente1.test"]  # a migration may only name mailboxes of the client
    client["mail_aliases"]["sales@cliente1.test"] = ["info@cliente1.test"]
    # The state comes from the reseller's inventory only (extra vars do not override it): a changed copy of it,
    # in a directory named like the reseller.
    reseller = tmp_path / "demo"
    shutil.copytree(project / "inventories" / "demo", reseller)
    (reseller / "group_vars" / "all" / "clients" / "cliente1.yml").write_text(yaml.safe_dump(changed))
    before = CLOUD01.file(RECORD).content_string, MAIL01.file(RECORD).content_string
    env = dict(os.environ, FRACTO_REPORT_DIR=str(tmp_path))
    run = subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, "-e", "fracto_reseller_dir=%s" % reseller, str(project / "playbooks" / "site.yml"),
         "--check", "--diff"],
        capture_output=True, text=True, cwd=project, env=env, timeout=600, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "PLAN (check mode: nothing was changed)" in output
    assert "+ vhost news.cliente1.test" in output
    assert "~ certificate cliente1.test: + news.cliente1.test" in output
    assert "- mailbox ana@cliente1.test" in output
    assert "~ mail_alias sales@cliente1.test: - ana@cliente1.test" in output
    assert not any(secret in output for secret in SECRETS)
    assert (CLOUD01.file(RECORD).content_string, MAIL01.file(RECORD).content_string) == before
    plan = json.loads((tmp_path / "plan-demo.json").read_text())
    lines = [change["line"] for change in plan["clients"]["cliente1"]]
    assert any(line.startswith("+ vhost news.cliente1.test") for line in lines)
    assert plan["counts"]["create"] >= 1 and plan["counts"]["remove"] >= 1


def test_a_client_id_of_another_reseller_on_the_host_stops_the_run_before_any_change(project):
    """Two resellers share cloud01: another one's record holding a client cliente1 makes the demo's run fail on that
    host with the reason, and nothing of either reseller changes."""
    other = "/var/lib/fracto/state/other-reseller.json"
    record = {"objects": {"vhost other.test": {"kind": "vhost", "id": "other.test", "client": "cliente1", "attrs": {}}}}
    before = CLOUD01.file(RECORD).content_string, CLOUD01.check_output("ls -l --time-style=+%s /etc/nginx/fracto/sites")
    CLOUD01.run("printf '%%s' %s > %s && chmod 600 %s" % (shlex.quote(json.dumps(record)), other, other))
    try:
        rc, output = run_playbook(project, str(project / "playbooks" / "site.yml"), "--limit", "cloud01,localhost")
    finally:
        CLOUD01.run("rm -f %s" % other)
    assert rc != 0, output[-2000:]
    assert "client id cliente1 is a client of reseller other-reseller here" in output
    assert "nothing was changed" in output
    assert (CLOUD01.file(RECORD).content_string,
            CLOUD01.check_output("ls -l --time-style=+%s /etc/nginx/fracto/sites")) == before
