# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup job runner: one client's job on one host, run by its systemd service.

This file is self-contained (standard library only) and never starts a process by itself: whoever uses
it passes the function that runs commands (``run``, with the signature of subprocess.run). The modules
pass one built on AnsibleModule.run_command; fracto.hosting.backup_jobs installs this source on the
host as /usr/local/sbin/fracto-backup-job followed by its entry point (ENTRY in jobs.py), which passes
subprocess.run; each job's service runs ``fracto-backup-job /etc/fracto/backup/<reseller>/<client>.<side>.json``.

A run: dump each database of the client (mariadb-dump --single-transaction) into the client's
private spool, back up the client's site and dumps (web side) or Maildirs (mail side) with restic,
tagged reseller=/client=/side=, apply the keep policy (forget --prune), and record the result
atomically in /var/lib/fracto/backup/status/<reseller>/<client>.<side>.json (no secret; the
contract is in docs/state.md). A failure (target unreachable, wrong password, dump failed) is
recorded, printed and exits 1; it touches no other job. The next run starts from scratch. After the record, the
backup metrics of every job on the host are refreshed from the records (metrics.py, fracto_backup.prom).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url
except ImportError:  # pragma: no cover - the installed runner: backup_jobs inlines secrets.py ahead of this source
    pass
try:
    from ansible_collections.fracto.hosting.plugins.module_utils.metrics import METRICS_DIR, refresh_backup_metrics
except ImportError:  # pragma: no cover - the installed runner: backup_jobs inlines metrics.py ahead of this source
    pass

REMOTE_BACKENDS = ("sftp:", "s3:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:")
KEEP_FLAGS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
LOCKED = "repository is already locked"
MISSING = "Is there a repository at the following location?"
LOCK_RETRIES = 18
LOCK_WAIT = 10


class JobError(Exception):
    """A step of the job failed; the message names the step and carries no secret."""


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- The grammar of a repository string (whole-value matches; anything else is refused) ------------------------
# The controller validates repositories too; this is the host's own check (defence in depth): a value that reaches
# ssh's command line must never be read as an option (a user or host "-oProxyCommand=..." is root on the host).
USER = r"[a-z_][a-z0-9_-]{0,31}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST = r"%s(?:\.%s)*" % (_LABEL, _LABEL)
PORT = r"[0-9]{1,5}"
_PATH_CHAR = r"[A-Za-z0-9._~+=,@%-]"
_REMOTE_PATH = r"(?:/?%s+)+/?" % _PATH_CHAR
_URL_USER = r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
_URL_PASSWORD = r"[A-Za-z0-9._~%!$&'()*+,;=-]*"
SFTP_SHORT = re.compile(r"sftp:(?:(?P<user>%s)@)?(?P<host>%s):(?P<path>%s)" % (USER, HOST, _REMOTE_PATH))
SFTP_URL = re.compile(r"sftp://(?:(?P<user>%s)@)?(?P<host>%s)(?::(?P<port>%s))?/(?P<path>%s)" % (USER, HOST, PORT, _REMOTE_PATH))
REST = re.compile(r"rest:https://(?:%s(?::%s)?@)?(?P<host>%s)(?::(?P<port>%s))?(?:/(?:%s)?)?" % (
    _URL_USER, _URL_PASSWORD, HOST, PORT, _REMOTE_PATH))
S3 = re.compile(r"s3:(?:https?://)?(?P<host>%s)(?::(?P<port>%s))?/[A-Za-z0-9._-]+(?:/%s)?" % (HOST, PORT, _REMOTE_PATH))
SERVICE = re.compile(r"b2:[A-Za-z0-9][A-Za-z0-9-]{4,48}[A-Za-z0-9]:(?:%s)?" % _REMOTE_PATH)
# Local files the ssh command names (written by backup_jobs): absolute, no space, quote or option-like start.
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]+")
DATABASE = re.compile(r"[A-Za-z0-9_]{1,64}")
SNAPSHOT_ID = re.compile(r"[0-9a-f]{4,64}")
MAX_REPOSITORY = 1024


def valid_host(host):
    """A DNS name or an IPv4 address (whole value); an all-numeric name must be a real IPv4 address."""
    if not isinstance(host, str) or len(host) > 253 or not re.fullmatch(HOST, host):
        return False
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def valid_port(port):
    return port is None or (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536)


def repository_problem(repository):
    """None for a repository string this platform accepts, else the rule it breaks (the value is never echoed:
    it may carry a password)."""
    if not isinstance(repository, str) or not repository:
        return "must be a non-empty string"
    if len(repository) > MAX_REPOSITORY:
        return "is longer than %d characters" % MAX_REPOSITORY
    if any(ord(c) < 0x21 or ord(c) == 0x7f for c in repository):
        return "must not contain spaces or control characters"
    if not repository.startswith(("sftp:", "rest:", "s3:", "b2:")):
        return ("must be a remote restic repository (sftp:, rest:https://, s3:, b2:); local paths and other backends "
                "(rclone: connection strings can carry commands) are refused")
    if any(part == ".." or part.startswith("-") for part in re.split(r"[/:]", repository.split("://", 1)[-1])):
        return "must not hold a '..' component or one starting with '-'"
    for grammar in (SFTP_URL, SFTP_SHORT, REST, S3):
        found = grammar.fullmatch(repository)
        if found:
            if not valid_host(found.group("host")):
                return "names an invalid host (a DNS name or an IPv4 address)"
            port = found.groupdict().get("port")
            if port is not None and not valid_port(int(port)):
                return "names an invalid port (1-65535)"
            return None
    if SERVICE.fullmatch(repository):
        return None
    if repository.startswith("sftp:"):
        return "is not sftp:[user@]host:path or sftp://[user@]host[:port]/path (user %s, host a DNS name or IPv4)" % USER
    return "is not a repository of the form the platform accepts (sftp:, rest:https://, s3:, b2:)"


def parse_sftp(repository):
    """(user, host, port, path) of an sftp: repository, or None for any other backend.

    A malformed sftp repository raises ValueError (the caller has refused it before, with repository_problem).
    """
    if not isinstance(repository, str) or not repository.startswith("sftp:"):
        return None
    if repository_problem(repository):
        raise ValueError("sftp repository refused: %s" % repository_problem(repository))
    found = SFTP_URL.fullmatch(repository)
    if found:
        rest = found.group("path")
        path = rest if rest.startswith("/") else "/" + rest
        port = int(found.group("port")) if found.group("port") else None
        return found.group("user"), found.group("host"), port, path
    found = SFTP_SHORT.fullmatch(repository)
    return found.group("user"), found.group("host"), None, found.group("path")


def repository_host(repository):
    """The host name a remote repository is on (None for a local path or a backend without one)."""
    if repository_problem(repository):
        return None
    for grammar in (SFTP_URL, SFTP_SHORT, REST, S3):
        found = grammar.fullmatch(repository)
        if found:
            return found.group("host")
    return None


def public_repository(repository):
    """The repository URL without a password (rest:https://user:secret@host/ -> rest:https://user:****@host/).

    secrets.redact_url is the one place of redaction; the installed runner carries a copy of secrets.py.
    """
    return redact_url(repository)


def outside_host(repository, host_names):
    """True when the repository is on another host than this one (a remote backend to a foreign name)."""
    if not repository.startswith(REMOTE_BACKENDS):
        return False
    host = repository_host(repository)
    if host is None:
        return True  # b2:, azure:, gs:, ... are services, never this host
    local = {"localhost", "127.0.0.1", "::1"} | {n.lower() for n in host_names}
    return host.lower() not in local and not host.startswith("127.")


def sftp_argv(repository, key, known_hosts, connect_timeout=10):
    """The ssh argv restic runs for an sftp repository: its own key, the pinned host keys, never a prompt.

    Every part is validated (user, host, port from the repository grammar; key and known_hosts safe absolute paths),
    and "--" ends ssh's options before the destination: nothing of the repository string can become an ssh option.
    Host keys are pinned: only the known_hosts file written by backup_jobs from the platform inventory
    (fracto_ssh_known_hosts) is read, and an unknown or changed key fails the connection.
    """
    sftp = parse_sftp(repository)
    if not sftp:
        return None
    user, host, port, _path = sftp
    for name, path in (("key", key), ("known_hosts", known_hosts)):
        if not isinstance(path, str) or not SAFE_PATH.fullmatch(path):
            raise ValueError("ssh %s path refused (an absolute path of letters, digits, . _ / -)" % name)
    if not valid_host(host) or not valid_port(port) or (user is not None and not re.fullmatch(USER, user)):
        raise ValueError("sftp repository refused: invalid user, host or port")
    argv = ["ssh", "-F", "none", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "UserKnownHostsFile=%s" % known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=%d" % int(connect_timeout), "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", user]
    return argv + ["-s", "--", host, "sftp"]


def sftp_command(repository, key, known_hosts, connect_timeout=10):
    """restic's sftp.command: the argv of sftp_argv joined by spaces (restic splits it again; no part has a space
    or a quote, so the split gives back the same argv)."""
    argv = sftp_argv(repository, key, known_hosts, connect_timeout)
    return " ".join(argv) if argv else None


def restic_options(job):
    """Global restic arguments of a job (the sftp command; the password comes from its file by environment)."""
    command = sftp_command(job["repository"], job["ssh_key"], job["known_hosts"])
    return ["-o", "sftp.command=%s" % command] if command else []


def restic_env(job, base=None):
    env = dict(base if base is not None else os.environ)
    env.update({"RESTIC_REPOSITORY": job["repository"], "RESTIC_PASSWORD_FILE": job["password_file"],
                "RESTIC_CACHE_DIR": job["cache_dir"], "HOME": env.get("HOME", "/root")})
    env.pop("RESTIC_PASSWORD", None)
    env.pop("RESTIC_PASSWORD_COMMAND", None)
    return env


def keep_args(keep):
    """restic forget --keep-* flags of a keep policy; zero or missing values are left out."""
    args = []
    for key in KEEP_FLAGS:
        value = (keep or {}).get(key)
        if value:
            args += ["--keep-%s" % key, str(int(value))]
    return args


def job_tags(job):
    return ["reseller=%s" % job["reseller"], "client=%s" % job["client"], "side=%s" % job["side"]]


def explain(stderr):
    """A short reason from restic's stderr: the Fatal line, with the usual causes named."""
    text = (stderr or "").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal:")]
    reason = fatal[-1][len("Fatal:"):].strip() if fatal else (lines[-1] if lines else "no output")
    reason = redact_url(reason)  # restic names the repository, with its password, in some errors
    lowered = text.lower()
    if "wrong password" in lowered:
        return "wrong repository password (%s)" % reason
    if MISSING.lower() in lowered:
        return "no repository at the target (%s)" % reason
    if any(s in lowered for s in ("unable to start the sftp session", "connection refused", "connection timed out",
                                  "no route to host", "could not resolve hostname", "ssh command exited",
                                  "connection closed", "host key verification failed", "permission denied")):
        return "target unreachable (%s)" % reason
    return reason


def is_missing(stderr):
    return MISSING in (stderr or "")


class Restic:
    """restic for one job; retries while another host holds the repository's exclusive lock."""

    def __init__(self, job, run, sleep=time.sleep, binary="restic"):
        self.job, self.run, self.sleep, self.binary = job, run, sleep, binary

    def __call__(self, *args, check=True, retries=LOCK_RETRIES):
        command = [self.binary] + restic_options(self.job) + list(args)
        for attempt in range(retries + 1):
            proc = self.run(command, capture_output=True, text=True, env=restic_env(self.job), check=False)
            if proc.returncode == 0 or LOCKED not in (proc.stderr or "") or attempt == retries:
                break
            self.sleep(LOCK_WAIT)
        if check and proc.returncode != 0:
            raise JobError("restic %s: %s" % (args[0], explain(proc.stderr)))
        return proc

    def ensure_repository(self):
        """Open the repository; initialise it when there is none. True when it was initialised."""
        probe = self("cat", "config", check=False)
        if probe.returncode == 0:
            return False
        if not is_missing(probe.stderr):
            raise JobError("restic: %s" % explain(probe.stderr))
        init = self("init", check=False)
        if init.returncode != 0:
            again = self("cat", "config", check=False)  # another host of the same client may have won the race
            if again.returncode != 0:
                raise JobError("restic init: %s" % explain(init.stderr))
            return False
        return True


def summary_of(stdout):
    """(snapshot_id, size_bytes) from restic backup --json."""
    for line in reversed((stdout or "").splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("message_type") == "summary":
            return message.get("snapshot_id"), message.get("total_bytes_processed")
    raise JobError("restic backup: no summary in its output")


def write_atomic(path, data, mode=0o600):
    """Write a root-only file in one rename (job records are 0600: read by root only, never by a tenant)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def status_path(job):
    return os.path.join(job["status_dir"], job["reseller"], "%s.%s.json" % (job["client"], job["side"]))


def read_status(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def record(job, previous, attempt, ok, error=None, snapshot_id=None, size_bytes=None):
    """The job record (the contract of docs/state.md); on failure the last success is kept."""
    return {
        "reseller": job["reseller"], "client": job["client"], "side": job["side"], "what": list(job["what"]),
        "managed_by": job["managed_by"], "repository": public_repository(job["repository"]),
        "outside_host": bool(job["outside_host"]), "encrypted": True,
        "last_attempt": attempt, "last_status": "ok" if ok else "failed",
        "last_success": attempt if ok else previous.get("last_success"),
        "last_error": None if ok else error,
        "snapshot_id": snapshot_id if ok else previous.get("snapshot_id"),
        "size_bytes": size_bytes if ok else previous.get("size_bytes"),
    }


def dump_databases(job, spool, run):
    """Dump every database of the client into the spool (consistent InnoDB snapshot, one file each)."""
    for name in job.get("databases", []):
        if not isinstance(name, str) or not DATABASE.fullmatch(name):
            raise JobError("mariadb-dump: database name refused (letters, digits, _)")
        target = os.path.join(spool, "%s.sql" % name)
        tmp = target + ".tmp"
        with open(tmp, "w") as out:
            proc = run(["mariadb-dump", "--single-transaction", "--quick", "--routines", "--events", "--triggers",
                        "--skip-dump-date", "--", name], stdout=out, stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            os.unlink(tmp)
            lines = (proc.stderr or "").strip().splitlines()
            raise JobError("mariadb-dump %s: %s" % (name, lines[-1] if lines else "failed"))
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)


def backup_paths(job, spool, exists=os.path.exists):
    """What the job saves: the client's site (web) or Maildirs (mail), and its spool (dumps, manifest)."""
    paths = []
    if job["side"] == "web" and "files" in job["what"]:
        paths.append(job["home"])
    if job["side"] == "mail":
        paths.extend(m["home"] for m in job.get("mailboxes", []))
    return [p for p in paths if exists(p)] + [spool]


def prepare_spool(job):
    spool = job["spool"]
    os.makedirs(spool, mode=0o700, exist_ok=True)
    os.chmod(spool, 0o700)
    for entry in os.listdir(spool):
        path = os.path.join(spool, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return spool


def run_job(job, run, restic=None):
    """Dump, back up, forget --prune; returns (snapshot_id, size_bytes). Raises JobError."""
    restic = restic or Restic(job, run)
    spool = prepare_spool(job)
    if job["side"] == "web" and "databases" in job["what"]:
        dump_databases(job, spool, run=run)
    manifest = {k: job.get(k) for k in ("reseller", "client", "side", "what", "databases")}
    manifest["mailboxes"] = [m["address"] for m in job.get("mailboxes", [])]
    write_atomic(os.path.join(spool, "manifest.json"), json.dumps(manifest, indent=1, sort_keys=True) + "\n", 0o600)
    restic.ensure_repository()
    args = ["backup", "--json", "--host=%s" % job["host"]]
    for tag in job_tags(job):
        args.append("--tag=%s" % tag)
    proc = restic(*(args + ["--"] + backup_paths(job, spool)))
    snapshot_id, size = summary_of(proc.stdout)
    keep = keep_args(job.get("keep"))
    if keep:
        restic("forget", "--prune", "--host=%s" % job["host"], "--tag=%s" % ",".join(job_tags(job)), "--group-by=host,tags", *keep)
    return snapshot_id, size


def publish_metrics(job):
    """Refresh fracto_backup.prom from the job records; a metrics file that cannot be written never fails the job."""
    try:
        refresh_backup_metrics(job["status_dir"], job.get("metrics_dir", METRICS_DIR))
    except OSError as exc:
        sys.stderr.write("backup metrics not written: %s\n" % exc)


def main(argv, run, run_job=run_job):
    """The runner's command line: one job description; returns the exit status (0 ok, 1 failed, 2 usage)."""
    if len(argv) != 1:
        sys.stderr.write("usage: fracto-backup-job /etc/fracto/backup/<reseller>/<client>.<side>.json\n")
        return 2
    with open(argv[0]) as handle:
        job = json.load(handle)
    path = status_path(job)
    previous = read_status(path)
    attempt = now_iso()
    try:
        snapshot_id, size = run_job(job, run)
    except (JobError, OSError, ValueError) as exc:
        error = redact_url(str(exc))
        write_atomic(path, json.dumps(record(job, previous, attempt, False, error=error), indent=1, sort_keys=True) + "\n")
        publish_metrics(job)
        sys.stderr.write("backup %s/%s (%s) FAILED: %s\n" % (job["client"], job["side"], job["reseller"], error))
        return 1
    write_atomic(path, json.dumps(record(job, previous, attempt, True, snapshot_id=snapshot_id, size_bytes=size),
                                  indent=1, sort_keys=True) + "\n")
    publish_metrics(job)
    sys.stdout.write("backup %s/%s (%s) ok: snapshot %s, %s bytes\n" % (job["client"], job["side"], job["reseller"], snapshot_id, size))
    return 0
