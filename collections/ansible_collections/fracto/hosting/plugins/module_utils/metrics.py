# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one writer of the platform's Prometheus metrics: node_exporter textfile collector files (*.prom).

Standard library only and self-contained, because it runs in three places from this one source: imported by the
modules (tls_certificates), inlined into the backup job runner (fracto.hosting.backup_jobs installs it ahead of
runner.py), and installed by the role fracto_base as /usr/local/lib/fracto/fracto_metrics.py, run every 5 minutes
by fracto-host-metrics.timer (host_metrics_main). Its names avoid the runner's (inlined, a later def would win).

The exposition format (text 0.0.4): one ``# HELP`` and one ``# TYPE`` line per family, then its samples sorted,
label values escaped (backslash, double quote, newline): they come from the reseller's state, hostile input.
A file is replaced in one rename (temporary file in the same directory, mode 0644, never named *.prom so the
collector never reads half of one), only when its content changed, and never in check mode.

Metric names (prefix fracto_), documented for operators in monitoring/README.md:
  fracto_certificate_expiry_timestamp_seconds{reseller,client,certificate,name}   tls_certificates
  fracto_certificate_id_expiry_timestamp_seconds{reseller,client,certificate}     tls_certificates
  fracto_certificate_renewal_outcome{reseller,client,certificate,outcome}         tls_certificates
  fracto_backup_last_success_timestamp_seconds{reseller,client,side}              backup job runner
  fracto_backup_last_attempt_timestamp_seconds{reseller,client,side}              backup job runner
  fracto_backup_last_run_ok{reseller,client,side}                                 backup job runner
  fracto_backup_size_bytes{reseller,client,side}                                  backup job runner
  fracto_mail_queue_messages / fracto_mail_queue_deferred_messages                fracto-host-metrics (mail hosts)
  fracto_mail_rspamd_messages_total{action}                                       fracto-host-metrics (mail hosts)
  fracto_failed_units                                                             fracto-host-metrics
"""

from __future__ import annotations

import calendar
import fcntl
import json
import math
import os
import re
import sys
import tempfile
import time

METRICS_DIR = "/var/lib/prometheus/node-exporter"  # Debian's prometheus-node-exporter textfile directory
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_FILE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,120}\.prom")
METRIC_TYPES = ("gauge", "counter", "untyped")


class MetricFamily:
    """One metric: its name, type, help text and samples ({label: value}, number)."""

    def __init__(self, name, kind, help_text, samples=()):
        if not METRIC_NAME.fullmatch(name) or kind not in METRIC_TYPES:
            raise ValueError("metric %r: invalid name or type" % name)
        self.name, self.kind, self.help_text = name, kind, help_text
        self.samples = []
        for labels, value in samples:
            self.add(labels, value)

    def add(self, labels, value):
        for label in labels:
            if not LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError("metric %s: invalid label name %r" % (self.name, label))
        self.samples.append((dict(labels), value))
        return self


def escape_label_value(value):
    """A label value as the exposition format wants it: \\ \" and newline escaped, valid UTF-8 (never raw)."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text):
    """A HELP text: backslash and newline escaped (one line)."""
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def render_families(families):
    """The text of a .prom file: families by name, samples sorted by their labels (a stable text: no rewrite)."""
    names = [f.name for f in families]
    if len(set(names)) != len(names):
        raise ValueError("a metric family is given twice (one HELP and TYPE per name)")
    lines = []
    for family in sorted(families, key=lambda f: f.name):
        lines.append("# HELP %s %s" % (family.name, escape_help(family.help_text)))
        lines.append("# TYPE %s %s" % (family.name, family.kind))
        rendered = set()
        for labels, value in family.samples:
            text = ",".join('%s="%s"' % (k, escape_label_value(labels[k])) for k in sorted(labels))
            rendered.add(("%s{%s}" % (family.name, text) if text else family.name, format_value(value)))
        lines.extend("%s %s" % pair for pair in sorted(rendered))
    return "\n".join(lines) + "\n" if lines else ""


def write_metrics_file(directory, filename, families, check_mode=False):
    """Replace directory/filename with the families; True when the file was (or, in check mode, would be) written.

    Nothing is written when the content is the same, in check mode, or when the directory does not exist (no
    node_exporter textfile collector on this host: nobody would read the file).
    """
    if not METRIC_FILE.fullmatch(filename):
        raise ValueError("metrics file name %r refused (lower-case letters, digits, _ . -, ending in .prom)" % filename)
    path = os.path.join(directory, filename)
    content = render_families(families)
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == content:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    if check_mode or not os.path.isdir(directory):
        return bool(check_mode and os.path.isdir(directory))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % filename, suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


_SAMPLE_LINE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)")
_LABEL_PAIR = re.compile(r'(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)",?')


def read_metrics_file(directory, filename):
    """The samples of a file this writer wrote, as (name, {label: value}, value text); [] when there is none.

    For producers that carry a value over from their previous run (the last outcome of a certificate).
    """
    try:
        with open(os.path.join(directory, filename), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return []
    samples = []
    for line in text.splitlines():
        found = _SAMPLE_LINE.fullmatch(line)
        if not found or line.startswith("#"):
            continue
        labels = {m.group("label"): re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), m.group("value"))
                  for m in _LABEL_PAIR.finditer(found.group("labels") or "")}
        samples.append((found.group("name"), labels, found.group("value")))
    return samples


def epoch_of_iso(text):
    """Seconds since the epoch of a UTC time written YYYY-MM-DDTHH:MM:SSZ (the job records), None otherwise."""
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None


# --- backup jobs: from the job records the runner writes (/var/lib/fracto/backup/status/<reseller>/*.json) ----------
BACKUP_FILE = "fracto_backup.prom"


def backup_job_records(status_dir):
    """Every readable job record under status_dir/<reseller>/<client>.<side>.json."""
    found = []
    for reseller in sorted(os.listdir(status_dir)) if os.path.isdir(status_dir) else []:
        folder = os.path.join(status_dir, reseller)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) and not os.path.islink(folder) else []:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(folder, name)) as handle:
                    job = json.load(handle)
            except (OSError, ValueError):
                continue
            if isinstance(job, dict) and all(isinstance(job.get(k), str) for k in ("reseller", "client", "side")):
                found.append(job)
    return found


def backup_families(records):
    """The backup metrics of the job records; a job that never succeeded has no last_success sample."""
    success = MetricFamily("fracto_backup_last_success_timestamp_seconds", "gauge",
                           "Unix time of the last successful run of the backup job.")
    attempt = MetricFamily("fracto_backup_last_attempt_timestamp_seconds", "gauge",
                           "Unix time of the last run of the backup job, successful or not.")
    ok = MetricFamily("fracto_backup_last_run_ok", "gauge", "1 when the last run of the backup job succeeded, else 0.")
    size = MetricFamily("fracto_backup_size_bytes", "gauge", "Bytes the last successful run of the backup job saved.")
    for job in records:
        labels = {"reseller": job["reseller"], "client": job["client"], "side": job["side"]}
        for family, key in ((success, "last_success"), (attempt, "last_attempt")):
            when = epoch_of_iso(job.get(key))
            if when is not None:
                family.add(labels, when)
        ok.add(labels, job.get("last_status") == "ok")
        if isinstance(job.get("size_bytes"), (int, float)) and not isinstance(job.get("size_bytes"), bool):
            size.add(labels, job["size_bytes"])
    return [success, attempt, ok, size]


def refresh_backup_metrics(status_dir, directory=METRICS_DIR):
    """Rewrite fracto_backup.prom from every job record, under a lock: jobs of several clients end at once, and
    the last writer must have read every record written before it."""
    if not os.path.isdir(directory):
        return False
    with open(os.path.join(directory, ".%s.lock" % BACKUP_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return write_metrics_file(directory, BACKUP_FILE, backup_families(backup_job_records(status_dir)))


# --- the host collector (fracto-host-metrics.timer of fracto_base): mail queue and failed units -------------------
HOST_FILE = "fracto_host.prom"


def mail_queue_families(postqueue_json):
    """Messages in Postfix's queue and those deferred, from ``postqueue -j`` (one JSON object per message)."""
    total = deferred = 0
    for line in (postqueue_json or "").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            total += 1
            deferred += message.get("queue_name") == "deferred"
    return [MetricFamily("fracto_mail_queue_messages", "gauge", "Messages in the Postfix queue (every queue).", [({}, total)]),
            MetricFamily("fracto_mail_queue_deferred_messages", "gauge", "Messages in the Postfix deferred queue.",
                         [({}, deferred)])]


RSPAMD_ACTION = re.compile(r"Messages with action ([a-z ]+): ([0-9]+),")


def rspamd_action_families(stat_output):
    """The messages rspamd gave each action since it started, from ``rspamc stat``: ``soft reject`` counts the mail
    deferred by the outgoing limits (and greylisting), ``reject`` the mail refused (docs/mail.md#outgoing-limits)."""
    samples = [({"action": m.group(1)}, int(m.group(2))) for m in RSPAMD_ACTION.finditer(stat_output or "")]
    return [MetricFamily("fracto_mail_rspamd_messages_total", "counter",
                         "Messages rspamd scanned, per action, since it started.", samples)] if samples else []


def failed_units_families(list_units_output):
    """The number of failed systemd units, from ``systemctl list-units --state=failed --plain --no-legend``."""
    count = sum(1 for line in (list_units_output or "").splitlines() if line.strip())
    return [MetricFamily("fracto_failed_units", "gauge", "systemd units in the failed state.", [({}, count)])]


def host_metrics_main(argv, run):
    """fracto-host-metrics [--mail] [DIRECTORY]: write fracto_host.prom; exit 0, or 1 when a command failed (the
    unit then fails, and is counted in fracto_failed_units at the next run). A command's metrics are left out
    when it fails: no sample rather than a wrong one. Postfix not installed yet (fracto_base runs before
    fracto_mail) is not a failure. Like the backup runner, it starts no process by itself: run is passed in (the
    wrapper passes subprocess.run)."""
    mail = "--mail" in argv
    rest = [a for a in argv if a != "--mail"]
    directory = rest[0] if rest else METRICS_DIR
    commands = [(["systemctl", "list-units", "--state=failed", "--plain", "--no-legend"], failed_units_families)]
    if mail:
        commands.append((["postqueue", "-j"], mail_queue_families))
        commands.append((["rspamc", "stat"], rspamd_action_families))
    families, failed = [], []
    for command, families_of in commands:
        try:
            proc = run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            if command[0] not in ("postqueue", "rspamc"):  # not installed yet: fracto_base runs before fracto_mail
                failed.append(command[0])
            continue
        if proc.returncode:
            failed.append(" ".join(command[:2]))
        else:
            families += families_of(proc.stdout)
    write_metrics_file(directory, HOST_FILE, families)
    for command in failed:
        sys.stderr.write("fracto-host-metrics: %s failed; its metrics are left out\n" % command)
    return 1 if failed else 0
