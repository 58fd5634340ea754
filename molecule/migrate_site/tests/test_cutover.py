"""Cut-over of a migrated site (cliente3 on cloud01): marked once DNS has moved, then left as it is by later runs
(whatever the live site wrote since stays), copied again only when forced. Runs alone or in any order: the fixture
puts the lab back (no cut-over, the site as the old host has it)."""

import base64
import json
import os

import pytest
import testinfra
from conftest import PROJECT, run_playbook

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MIGRATE = str(PROJECT / "playbooks" / "migrate_site.yml")
REPORTS = PROJECT / ".fracto"

RECORD = "/var/lib/fracto/migrate/cliente3.site.json"
DOCROOT = "/srv/www/cliente3/cliente3.test/public"
LIVE_FILE = DOCROOT + "/pedido-nuevo.txt"  # an order the live site took after the cut-over; the old host never had it


def record():
    return json.loads(CLOUD01.file(RECORD).content_string)


def write_record(data):
    text = base64.b64encode(json.dumps(data, indent=4, sort_keys=True).encode()).decode()
    CLOUD01.check_output("echo %s | base64 -d > %s" % (text, RECORD))


def site_report(check=False):
    return json.loads((REPORTS / ("migration-%scliente3.json" % ("plan-" if check else ""))).read_text())


@pytest.fixture(scope="module", autouse=True)
def not_cut_over():
    """cliente3 as the converge left it (migrated, not cut over), before and after; the live file gone after."""
    write_record({k: v for k, v in record().items() if k != "cut_over_at"})
    yield
    CLOUD01.run("rm -f %s" % LIVE_FILE)
    write_record({k: v for k, v in record().items() if k != "cut_over_at"})


def test_a_cut_over_or_a_forced_copy_must_name_its_client():
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "cutover=true")
    assert rc != 0 and "cutover=true and force=true act on one site: name it with -e client=<id>" in output
    assert "cut_over_at" not in record()


def test_a_site_never_migrated_is_not_cut_over():
    CLOUD01.check_output("mv %s %s.aside" % (RECORD, RECORD))
    try:
        rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente3", "-e", "cutover=true")
        assert rc != 0
        assert ("FAILED at step 'Cut-over: the site was migrated and passed its smoke test on this host': cliente3 has no "
                "migration on cloud01 that copied the site and passed its smoke test") in output
        assert not CLOUD01.file(RECORD).exists
    finally:
        CLOUD01.check_output("mv %s.aside %s" % (RECORD, RECORD))


def test_cut_over_in_check_mode_writes_nothing():
    rc, output = run_playbook(PROJECT, MIGRATE, "--check", "-e", "client=cliente3", "-e", "cutover=true")
    assert rc == 0, output
    assert "would be marked as cut over (check mode: nothing was changed)" in output
    assert "cut_over_at" not in record()


def test_cut_over_marks_the_site_live_and_copies_nothing():
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente3", "-e", "cutover=true")
    assert rc == 0, output
    assert "marked as cut over: later runs leave the live site as it is" in output
    stored = record()
    assert stored["migrated"] is True and stored["cut_over_at"].endswith("Z")
    assert CLOUD01.file(RECORD).user == "root" and CLOUD01.file(RECORD).mode == 0o600
    assert site_report()["step"] == "cut over" and "files" not in site_report()  # no copy step ran
    assert site_report()["cut_over_at"] == stored["cut_over_at"] and stored["reseller"] == "demo"


def test_a_rerun_leaves_the_live_site_and_its_new_data_as_they_are():
    CLOUD01.check_output("runuser -u cliente3 -- sh -c 'echo pedido 1042 > %s'" % LIVE_FILE)
    when = record()["cut_over_at"]
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente3")
    assert rc == 0, output
    assert "cut over on %s: left as it is, nothing copied (the live site is never overwritten" % when in output
    assert CLOUD01.file(LIVE_FILE).content_string == "pedido 1042\n"
    assert site_report()["step"] == "cut over" and site_report()["cut_over_at"] == when


def test_force_copies_the_site_again_over_the_live_one():
    when = record()["cut_over_at"]
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente3", "-e", "force=true")
    assert rc == 0, output
    assert "migrated (forced over the live site, cut over on %s)" % when in output
    assert "pedido-nuevo.txt" in output  # listed as deleted: the docroot mirrors the old site again
    assert not CLOUD01.file(LIVE_FILE).exists
    assert record()["cut_over_at"] == when  # still live here
