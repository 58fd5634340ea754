# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics writer (module_utils/metrics.py) and its producers: certificates, backup records, the host collector."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils import metrics
from ansible_collections.fracto.hosting.plugins.module_utils.metrics import MetricFamily, render_families, write_metrics_file
from ansible_collections.fracto.hosting.plugins.module_utils.tls import metrics as tls_metrics
from ansible_collections.fracto.hosting.plugins.module_utils.tls.acme_client import OrderError
from ansible_collections.fracto.hosting.plugins.module_utils.tls.run import CertificateRun
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.promtool import check_metrics, promtool
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.tls_fakes import NAMES, NOW, FakeCA, FakePrecheck, acme, params

HOSTILE = 'evil"} fracto_x 1\n# \\ end'
# Skipped only outside CI: under CI (make test runs make setup first) a missing promtool fails the run.
needs_promtool = pytest.mark.skipif(promtool() is None and not os.environ.get("CI"),
                                    reason="promtool missing: run scripts/ensure-promtool.sh (make setup)")


def one(value=1, **labels):
    return MetricFamily("fracto_test_value", "gauge", "A test value.", [(labels, value)])


# -- the writer ---------------------------------------------------------------------------------------------------
def test_help_type_and_sorted_samples():
    family = MetricFamily("fracto_b", "gauge", "B.\nsecond line \\ too", [({"x": "2"}, 2), ({"x": "1"}, 1.5)])
    text = render_families([family, MetricFamily("fracto_a", "counter", "A.", [({}, 3)])])
    assert text == ('# HELP fracto_a A.\n# TYPE fracto_a counter\nfracto_a 3\n'
                    '# HELP fracto_b B.\\nsecond line \\\\ too\n# TYPE fracto_b gauge\nfracto_b{x="1"} 1.5\nfracto_b{x="2"} 2\n')


def test_hostile_label_values_are_escaped():
    text = render_families([one(name=HOSTILE)])
    sample = text.splitlines()[-1]
    assert sample == 'fracto_test_value{name="evil\\"} fracto_x 1\\n# \\\\ end"} 1'
    assert len(text.splitlines()) == 3  # the newline stayed inside the value: no line was injected


@needs_promtool
def test_promtool_accepts_hostile_label_values():
    family = MetricFamily("fracto_test_value", "gauge", "A test value.", [({"name": HOSTILE}, 1), ({"name": "caf\u00e9 \udcff"}, 2)])
    rc, out = check_metrics(render_families([family]))
    assert rc == 0, out


def test_what_was_written_reads_back(tmp_path):
    family = MetricFamily("fracto_test_value", "gauge", "A test value.", [({"name": HOSTILE, "b": "x"}, 1), ({}, 2.5)])
    write_metrics_file(str(tmp_path), "fracto_t.prom", [family])
    assert metrics.read_metrics_file(str(tmp_path), "fracto_t.prom") == [
        ("fracto_test_value", {}, "2.5"), ("fracto_test_value", {"b": "x", "name": HOSTILE}, "1")]
    assert metrics.read_metrics_file(str(tmp_path), "absent.prom") == []


def test_a_family_given_twice_is_refused():
    with pytest.raises(ValueError):
        render_families([one(), one()])


@pytest.mark.parametrize("name, labels", [("fracto bad", {}), ("fracto_ok", {"bad-label": "x"}), ("fracto_ok", {"__name__": "x"})])
def test_invalid_names_are_refused(name, labels):
    with pytest.raises(ValueError):
        MetricFamily(name, "gauge", "x", [(labels, 1)])


def test_values():
    assert [metrics.format_value(v) for v in (True, 0, 1.0, 2.5, float("nan"), float("inf"), 1700000000)] == \
        ["1", "0", "1", "2.5", "NaN", "+Inf", "1700000000"]


def test_atomic_write_mode_and_no_rewrite(tmp_path):
    assert write_metrics_file(str(tmp_path), "fracto_t.prom", [one()]) is True
    path = tmp_path / "fracto_t.prom"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    assert write_metrics_file(str(tmp_path), "fracto_t.prom", [one()]) is False
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)
    assert write_metrics_file(str(tmp_path), "fracto_t.prom", [one(2)]) is True
    assert path.stat().st_ino != inode  # replaced by a rename, never rewritten in place
    assert sorted(os.listdir(tmp_path)) == ["fracto_t.prom"]  # no temporary file left


def test_check_mode_writes_nothing(tmp_path):
    assert write_metrics_file(str(tmp_path), "fracto_t.prom", [one()], check_mode=True) is True
    assert os.listdir(tmp_path) == []
    write_metrics_file(str(tmp_path), "fracto_t.prom", [one()])
    assert write_metrics_file(str(tmp_path), "fracto_t.prom", [one(5)], check_mode=True) is True
    assert "fracto_test_value 1" in (tmp_path / "fracto_t.prom").read_text()


def test_no_collector_directory_no_file(tmp_path):
    assert write_metrics_file(str(tmp_path / "absent"), "fracto_t.prom", [one()]) is False
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("name", ["../x.prom", "x.txt", ".x.prom", "X.prom"])
def test_file_names_are_whitelisted(tmp_path, name):
    with pytest.raises(ValueError):
        write_metrics_file(str(tmp_path), name, [one()])


# -- certificates (tls_certificates) ------------------------------------------------------------------------------
def certificate_run(tmp_path, certs, ca=None):
    runner = CertificateRun(params(tmp_path, certs), now=NOW, precheck=FakePrecheck(), acme=ca or FakeCA())
    return runner, runner.run()


def test_certificate_metrics_per_name_id_and_outcome(tmp_path):
    ca = FakeCA()
    ca.fail[frozenset(["cliente2.test"])] = OrderError("validation failed")
    runner, result = certificate_run(tmp_path, [acme("cliente1.test", NAMES), acme("cliente2.test", ["cliente2.test"], client="cliente2")], ca)
    text = render_families(tls_metrics.certificate_families(runner, result, "demo"))
    not_after = int(runner.expiry["cliente1.test"][1].timestamp())
    for name in NAMES:
        assert ('fracto_certificate_expiry_timestamp_seconds{certificate="cliente1.test",client="cliente1",name="%s",'
                'reseller="demo"} %d' % (name, not_after)) in text
    assert 'fracto_certificate_id_expiry_timestamp_seconds{certificate="cliente1.test",client="cliente1",reseller="demo"} %d' % not_after in text
    assert 'fracto_certificate_renewal_outcome{certificate="cliente1.test",client="cliente1",outcome="renewed",reseller="demo"} 1' in text
    assert 'fracto_certificate_renewal_outcome{certificate="cliente2.test",client="cliente2",outcome="failed",reseller="demo"} 1' in text
    assert 'certificate="cliente2.test",client="cliente2",name=' not in text  # no certificate, no expiry
    # A rerun with nothing to do keeps the last outcome (a stable file); with none recorded, ok.
    runner2, result2 = certificate_run(tmp_path, [acme("cliente1.test", NAMES)])
    kept = render_families(tls_metrics.certificate_families(runner2, result2, "demo", {"cliente1.test": "renewed"}))
    assert 'outcome="renewed",reseller="demo"} 1' in kept and "%d" % not_after in kept
    fresh = render_families(tls_metrics.certificate_families(runner2, result2, "demo"))
    assert 'outcome="ok",reseller="demo"} 1' in fresh


def test_certificate_metrics_file_is_written_once(tmp_path):
    (tmp_path / "textfile").mkdir()
    runner, result = certificate_run(tmp_path, [acme("cliente1.test", NAMES)])
    assert tls_metrics.write_certificate_metrics(runner, result, "demo", str(tmp_path / "textfile")) is True
    runner, result = certificate_run(tmp_path, [acme("cliente1.test", NAMES)])
    assert result["changed"] is False
    assert tls_metrics.write_certificate_metrics(runner, result, "demo", str(tmp_path / "textfile")) is False
    assert os.listdir(tmp_path / "textfile") == ["fracto_tls_demo.prom"]
    assert 'outcome="renewed",reseller="demo"} 1' in (tmp_path / "textfile" / "fracto_tls_demo.prom").read_text()
    assert tls_metrics.write_certificate_metrics(runner, result, "demo", str(tmp_path / "textfile")) is False


@needs_promtool
def test_promtool_accepts_the_certificate_file(tmp_path):
    (tmp_path / "textfile").mkdir()
    runner, result = certificate_run(tmp_path, [acme("cliente1.test", NAMES)])
    tls_metrics.write_certificate_metrics(runner, result, "demo", str(tmp_path / "textfile"))
    rc, out = check_metrics((tmp_path / "textfile" / "fracto_tls_demo.prom").read_text())
    assert rc == 0, out


# -- backup job records (the runner) ------------------------------------------------------------------------------
def write_record(status, reseller, client, side, **values):
    folder = status / reseller
    folder.mkdir(parents=True, exist_ok=True)
    record = dict(reseller=reseller, client=client, side=side, last_attempt=None, last_success=None, last_status="failed",
                  size_bytes=None)
    record.update(values)
    (folder / ("%s.%s.json" % (client, side))).write_text(json.dumps(record))


def test_backup_metrics_from_the_records(tmp_path):
    status = tmp_path / "status"
    write_record(status, "demo", "cliente1", "web", last_attempt="2026-12-06T03:00:00Z", last_success="2026-12-06T03:00:00Z",
                 last_status="ok", size_bytes=123456)
    write_record(status, "demo", "cliente2", "mail", last_attempt="2026-12-06T03:10:00Z", last_status="failed")
    write_record(status, "demo", HOSTILE, "web", last_attempt="not a time")
    (status / "demo" / "broken.web.json").write_text("{not json")
    text = render_families(metrics.backup_families(metrics.backup_job_records(str(status))))
    labels = 'client="cliente1",reseller="demo",side="web"'
    assert "fracto_backup_last_success_timestamp_seconds{%s} 1796526000" % labels in text
    assert "fracto_backup_size_bytes{%s} 123456" % labels in text
    assert "fracto_backup_last_run_ok{%s} 1" % labels in text
    assert 'fracto_backup_last_run_ok{client="cliente2",reseller="demo",side="mail"} 0' in text
    assert 'fracto_backup_last_success_timestamp_seconds{client="cliente2"' not in text  # never succeeded
    assert 'client="evil\\"} fracto_x 1\\n# \\\\ end"' in text


def test_refresh_backup_metrics_writes_once(tmp_path):
    status, textfile = tmp_path / "status", tmp_path / "textfile"
    textfile.mkdir()
    write_record(status, "demo", "cliente1", "web", last_attempt="2026-12-06T03:00:00Z", last_status="ok")
    assert metrics.refresh_backup_metrics(str(status), str(textfile)) is True
    assert metrics.refresh_backup_metrics(str(status), str(textfile)) is False
    assert [n for n in os.listdir(textfile) if not n.startswith(".")] == ["fracto_backup.prom"]


def test_the_installed_runner_writes_the_backup_metrics(tmp_path):
    import inspect

    from ansible_collections.fracto.hosting.plugins.module_utils import secrets
    from ansible_collections.fracto.hosting.plugins.module_utils.backup import jobs, runner

    script = tmp_path / "fracto-backup-job"
    script.write_text(jobs.runner_script(inspect.getsource(secrets), inspect.getsource(runner), inspect.getsource(metrics)))
    (tmp_path / "textfile").mkdir()
    job = dict(reseller="demo", client="c1", side="web", what=["files"], managed_by="client", outside_host=True,
               repository="sftp:restic@backup.test:/srv/restic/c1", keep={}, host="cloud01", home=str(tmp_path / "home"),
               databases=[], mailboxes=[], spool=str(tmp_path / "spool"), status_dir=str(tmp_path / "status"),
               cache_dir=str(tmp_path / "cache"), password_file=str(tmp_path / "pw"), ssh_key="/k", known_hosts="/kh",
               metrics_dir=str(tmp_path / "textfile"))
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "job.json")], capture_output=True, text=True,
                          check=False, env={"PATH": str(tmp_path / "nothing-here")})
    assert proc.returncode == 1  # no restic here: the failure is recorded, and so are its metrics
    text = (tmp_path / "textfile" / "fracto_backup.prom").read_text()
    assert 'fracto_backup_last_run_ok{client="c1",reseller="demo",side="web"} 0' in text


@needs_promtool
def test_promtool_accepts_the_backup_file(tmp_path):
    status, textfile = tmp_path / "status", tmp_path / "textfile"
    textfile.mkdir()
    write_record(status, "demo", "cliente1", "web", last_attempt="2026-12-06T03:00:00Z", last_success="2026-12-06T03:00:00Z",
                 last_status="ok", size_bytes=1)
    write_record(status, "demo", 'a"b', "mail", last_attempt="2026-12-06T03:00:00Z")
    metrics.refresh_backup_metrics(str(status), str(textfile))
    rc, out = check_metrics((textfile / "fracto_backup.prom").read_text())
    assert rc == 0, out


# -- the host collector (fracto-host-metrics) ---------------------------------------------------------------------
POSTQUEUE = "\n".join(json.dumps({"queue_name": q, "queue_id": "A%d" % i}) for i, q in enumerate(["deferred", "active", "deferred"]))


def fake_run(outputs):
    def run(command, **_kwargs):
        if command[0] not in outputs:
            raise FileNotFoundError(command[0])
        rc, out = outputs[command[0]]
        return SimpleNamespace(returncode=rc, stdout=out, stderr="")
    return run


def test_host_collector_mail_queue_and_failed_units(tmp_path):
    run = fake_run({"systemctl": (0, "a.service loaded failed failed A\nb.timer loaded failed failed B\n"),
                    "postqueue": (0, POSTQUEUE + "\nnot json\n")})
    assert metrics.host_metrics_main(["--mail", str(tmp_path)], run=run) == 0
    text = (tmp_path / "fracto_host.prom").read_text()
    assert "fracto_failed_units 2\n" in text
    assert "fracto_mail_queue_messages 3\n" in text and "fracto_mail_queue_deferred_messages 2\n" in text


RSPAMC_STAT = """Messages scanned: 15
Messages with action reject: 1, 6.67%
Messages with action soft reject: 5, 33.33%
Messages with action no action: 9, 60.00%
"""


def test_host_collector_counts_rspamds_actions_deferred_mail_included(tmp_path):
    run = fake_run({"systemctl": (0, ""), "postqueue": (0, ""), "rspamc": (0, RSPAMC_STAT)})
    assert metrics.host_metrics_main(["--mail", str(tmp_path)], run=run) == 0
    text = (tmp_path / "fracto_host.prom").read_text()
    assert '# TYPE fracto_mail_rspamd_messages_total counter\n' in text
    assert 'fracto_mail_rspamd_messages_total{action="soft reject"} 5\n' in text
    assert 'fracto_mail_rspamd_messages_total{action="reject"} 1\n' in text


@needs_promtool
def test_promtool_accepts_rspamds_counters():
    rc, out = check_metrics(metrics.render_families(metrics.rspamd_action_families(RSPAMC_STAT)))
    assert rc == 0, out


def test_host_collector_without_mail_and_with_a_failing_command(tmp_path, capsys):
    run = fake_run({"systemctl": (1, ""), "postqueue": (0, POSTQUEUE)})
    assert metrics.host_metrics_main([str(tmp_path)], run=run) == 1
    assert (tmp_path / "fracto_host.prom").read_text() == ""  # nothing known: no sample rather than a wrong one
    assert "systemctl list-units failed" in capsys.readouterr().err


def test_host_collector_on_a_mail_host_before_postfix_is_installed(tmp_path):
    assert metrics.host_metrics_main(["--mail", str(tmp_path)], run=fake_run({"systemctl": (0, "")})) == 0
    assert "fracto_failed_units 0\n" in (tmp_path / "fracto_host.prom").read_text()
    assert "fracto_mail_queue" not in (tmp_path / "fracto_host.prom").read_text()


@needs_promtool
def test_promtool_accepts_the_host_file(tmp_path):
    run = fake_run({"systemctl": (0, ""), "postqueue": (0, "")})
    metrics.host_metrics_main(["--mail", str(tmp_path)], run=run)
    rc, out = check_metrics((tmp_path / "fracto_host.prom").read_text())
    assert rc == 0, out


def test_the_collector_wrapper_of_fracto_base_runs_the_installed_writer(tmp_path):
    from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.promtool import PROJECT

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "fracto_metrics.py").write_text(open(metrics.__file__).read())
    wrapper = (PROJECT / "roles" / "fracto_base" / "files" / "fracto-host-metrics").read_text()
    script = tmp_path / "fracto-host-metrics"
    script.write_text(wrapper.replace("/usr/local/lib/fracto", str(lib)))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "systemctl").write_text("#!/bin/sh\necho 'x.service loaded failed failed X'\n")
    (bindir / "systemctl").chmod(0o755)
    (tmp_path / "textfile").mkdir()
    proc = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "textfile")], capture_output=True, text=True,
                          check=False, env={"PATH": str(bindir)})
    assert proc.returncode == 0, proc.stderr
    assert "fracto_failed_units 1\n" in (tmp_path / "textfile" / "fracto_host.prom").read_text()


def test_the_date_of_the_records_is_utc():
    assert metrics.epoch_of_iso("1970-01-01T00:00:10Z") == 10
    assert metrics.epoch_of_iso(datetime.datetime(2026, 1, 1).isoformat()) is None
