# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup configuration of a host: per client job, its files and units, and the plan of their changes.

Pure functions (no host): the module reads the managed files, passes their content in and applies the plan.
A job of client C on side S (web or mail) for reseller R is:

- /etc/fracto/backup/R/C.S.json      the runner's job description (0600; no password)
- /etc/fracto/backup/R/C.S.password  the restic password (0600; never shown)
- /etc/systemd/system/fracto-backup-R-C-S.service and .timer (0644)

and the host shares the runner (/usr/local/sbin/fracto-backup-job) and the SSH key of its SFTP targets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import posixpath
import re

from ansible_collections.fracto.hosting.plugins.module_utils.backup.runner import (
    DATABASE,
    KEEP_FLAGS,
    keep_args,
    outside_host,
    parse_sftp,
    repository_problem,
    valid_host,
)
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact, redact_url

RESELLER = "(reseller)"
MARK = "managed by fracto.hosting backup_jobs"
SECRET_MARK = "(secret, not shown)"

# The runner's entry point, appended to runner.py's source when it is installed on a host: the only place
# where the runner is given subprocess.run (module_utils never start a process by themselves).
ENTRY = """

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], run=subprocess.run))
"""

DEFAULTS = {
    "config_dir": "/etc/fracto/backup",
    "status_dir": "/var/lib/fracto/backup/status",
    "spool_dir": "/var/lib/fracto/backup/spool",
    "cache_dir": "/var/cache/fracto-backup",
    "units_dir": "/etc/systemd/system",
    "runner": "/usr/local/sbin/fracto-backup-job",
    "web_root": "/srv/www",
    "vmail_home": "/var/vmail",
    "on_calendar": "daily",
    "randomized_delay": "1h",
    "timeout": "6h",
}


# Ids that name files and units (no dot, slash or option-like start) and mailbox local parts (RFC 5322 dot-atom).
ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*")
SIDES = {"web": ("files", "databases"), "mail": ("mailboxes",)}
# Values written into the units: a systemd calendar spec and time spans, never more than one line of them.
TIME_SPAN = re.compile(r"(?:[0-9]+ ?(?:us|ms|s|sec|m|min|h|hr|d|w|M|y)? ?){1,6}")
UNIT_SETTINGS = {"on_calendar": re.compile(r"[A-Za-z0-9*:,./~ -]{1,64}"), "randomized_delay": TIME_SPAN, "timeout": TIME_SPAN}
MANAGERS = ("client", "reseller")
# One known_hosts line: optional marker, host patterns, key type, base64 key, optional comment; printable ASCII only.
KNOWN_HOSTS_LINE = re.compile(r"(?:@(?:cert-authority|revoked) )?(?P<hosts>[\x21-\x7e]+) (?P<type>(?:ssh|ecdsa|sk)-[a-z0-9@.-]+) "
                              r"(?P<key>[A-Za-z0-9+/]{16,}={0,3})(?: [\x20-\x7e]*)?")


def public_repository(repository):
    """The repository as it may be printed or stored in a report (secrets.redact_url: user:****@host)."""
    return redact_url(repository)


def under(root, path):
    """True when path (normalised) is root itself or inside it (commonpath, never a prefix test on strings)."""
    root, path = posixpath.normpath(root), posixpath.normpath(path)
    return posixpath.isabs(path) and posixpath.commonpath([root, path]) == root


def runner_script(secrets_source, runner_source, metrics_source):
    """The runner installed on a host: one standard-library file, secrets.py (the one place of redaction) and
    metrics.py (the one metrics writer) inlined ahead of runner.py (whose imports of them then fail over to the
    inlined names) and the entry point."""
    def body(source):
        return "\n".join(line for line in source.splitlines() if line.strip() != "from __future__ import annotations")
    return ("#!/usr/bin/python3\nfrom __future__ import annotations\n\n# --- secrets.py ---\n" + body(secrets_source).rstrip("\n")
            + "\n\n# --- metrics.py ---\n" + body(metrics_source).rstrip("\n")
            + "\n\n# --- runner.py ---\n" + body(runner_source).rstrip("\n") + "\n" + ENTRY)


def job_key(job):
    return "%s.%s" % (job["client"], job["side"])


def job_id(job):
    return "%s/%s" % (job["client"], job["side"])


def unit_name(reseller, job):
    return "fracto-backup-%s-%s-%s" % (reseller, job["client"], job["side"])


def ssh_paths(settings):
    base = posixpath.join(settings["config_dir"], "ssh")
    return posixpath.join(base, "id_ed25519"), posixpath.join(base, "known_hosts")


def private_directories(settings, reseller):
    """(directory, mode) of every directory the jobs use: root only (0700), the runner's directory 0755.
    Job records in them are 0600: tenants never read them."""
    config, status, spool = settings["config_dir"], settings["status_dir"], settings["spool_dir"]
    return [(config, 0o700), (posixpath.join(config, reseller), 0o700), (posixpath.dirname(ssh_paths(settings)[0]), 0o700),
            (status, 0o700), (posixpath.join(status, reseller), 0o700), (spool, 0o700), (posixpath.join(spool, reseller), 0o700),
            (settings["cache_dir"], 0o700), (posixpath.dirname(settings["runner"]), 0o755)]


def job_paths(settings, reseller, job):
    base = posixpath.join(settings["config_dir"], reseller, job_key(job))
    unit = posixpath.join(settings["units_dir"], unit_name(reseller, job))
    return {"config": base + ".json", "password": base + ".password", "service": unit + ".service", "timer": unit + ".timer"}


def mailbox_home(vmail_home, address):
    """<vmail_home>/<domain>/<local>: a valid local part and domain, and the result strictly under vmail_home.

    A local part with "/" or ".." would put the job's path at the root (every tenant's mail and the platform's
    secrets in a repository the client controls): refused with ValueError.
    """
    local, at, domain = address.rpartition("@") if isinstance(address, str) else ("", "", "")
    if not at or not LOCAL_PART.fullmatch(local) or not valid_host(domain):
        raise ValueError("mailbox address refused (a local part of letters, digits and !#$%&'*+=?^_`{|}~.- and a "
                         "domain name)")
    home = posixpath.join(vmail_home, domain, local)
    if not under(vmail_home, home) or posixpath.normpath(home) != home or posixpath.dirname(posixpath.dirname(home)) != \
            posixpath.normpath(vmail_home):
        raise ValueError("mailbox %s: its home would leave %s" % (address, vmail_home))
    return home


def client_home(web_root, client):
    """<web_root>/<client>, strictly under web_root (ValueError otherwise)."""
    if not isinstance(client, str) or not ID.fullmatch(client):
        raise ValueError("client id refused (%s)" % ID.pattern)
    home = posixpath.join(web_root, client)
    if not under(web_root, home) or posixpath.dirname(home) != posixpath.normpath(web_root):
        raise ValueError("client %s: its home would leave %s" % (client, web_root))
    return home


def describe_job(job, reseller, host, host_names, settings, databases, mailboxes):
    """The runner's job description (JSON-able, no password)."""
    key, known_hosts = ssh_paths(settings)
    client = job["client"]
    return {
        "reseller": reseller, "client": client, "side": job["side"], "what": list(job["what"]),
        "managed_by": job["managed_by"], "repository": job["repository"],
        "outside_host": outside_host(job["repository"], host_names), "keep": dict(job.get("keep") or {}),
        "host": host,
        "home": client_home(settings["web_root"], client),
        "databases": sorted(d["name"] for d in databases if d.get("client") == client) if job["side"] == "web" else [],
        "mailboxes": [{"address": m["address"], "home": mailbox_home(settings["vmail_home"], m["address"])}
                      for m in sorted(mailboxes, key=lambda m: m["address"]) if m.get("client") == client]
        if job["side"] == "mail" else [],
        "spool": posixpath.join(settings["spool_dir"], reseller, job_key(job)),
        "status_dir": settings["status_dir"], "cache_dir": settings["cache_dir"],
        "password_file": job_paths(settings, reseller, job)["password"],
        "ssh_key": key, "known_hosts": known_hosts,
    }


def render_service(reseller, job, settings, config_path):
    return (
        "# %s\n"
        "[Unit]\n"
        "Description=fracto backup of %s (%s side, reseller %s) with restic\n"
        "Wants=network-online.target\n"
        "After=network-online.target mariadb.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "ExecStart=%s %s\n"
        "Nice=10\n"
        "IOSchedulingClass=idle\n"
        "TimeoutStartSec=%s\n"
        "PrivateTmp=true\n"
    ) % (MARK, job["client"], job["side"], reseller, settings["runner"], config_path, settings["timeout"])


def render_timer(reseller, job, settings):
    return (
        "# %s\n"
        "[Unit]\n"
        "Description=Schedule of the fracto backup of %s (%s side, reseller %s)\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=%s\n"
        "RandomizedDelaySec=%s\n"
        "Persistent=true\n"
        "Unit=%s.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    ) % (MARK, job["client"], job["side"], reseller, settings["on_calendar"], settings["randomized_delay"],
         unit_name(reseller, job))


def wanted_files(jobs, passwords, ssh_key, reseller, host, host_names, settings, databases, mailboxes, runner_source,
                 known_hosts=""):
    """{path: {"content", "mode", "secret", "client", "job", "what"}} of every managed file of this reseller's jobs."""
    files = {}
    files[settings["runner"]] = {"content": runner_source, "mode": 0o755, "secret": False, "client": RESELLER,
                                 "job": "runner", "what": "runner"}
    if any(parse_sftp(j["repository"]) for j in jobs):
        key_path, known_path = ssh_paths(settings)
        files[key_path] = {"content": ssh_key.strip() + "\n", "mode": 0o600, "secret": True, "client": RESELLER,
                           "job": "ssh key", "what": "ssh key"}
        files[known_path] = {"content": known_hosts_content(known_hosts), "mode": 0o600, "secret": False,
                             "client": RESELLER, "job": "ssh known_hosts", "what": "known_hosts"}
    for job in jobs:
        paths = job_paths(settings, reseller, job)
        desc = describe_job(job, reseller, host, host_names, settings, databases, mailboxes)
        common = {"client": job["client"], "job": job_id(job)}
        files[paths["config"]] = dict(common, content=json.dumps(desc, indent=1, sort_keys=True) + "\n", mode=0o600,
                                      secret=False, what="job")
        files[paths["password"]] = dict(common, content=passwords[job_id(job)], mode=0o600, secret=True, what="password")
        files[paths["service"]] = dict(common, content=render_service(reseller, job, settings, paths["config"]), mode=0o644,
                                       secret=False, what="service")
        files[paths["timer"]] = dict(common, content=render_timer(reseller, job, settings), mode=0o644, secret=False,
                                     what="timer")
    return files


def job_of_path(path, reseller, settings):
    """(client, side, what) of a managed file of this reseller, from its name alone (for files no longer wanted)."""
    name = posixpath.basename(path)
    if posixpath.dirname(path) == posixpath.join(settings["config_dir"], reseller):
        stem, dot, ext = name.rpartition(".")
        client, _dot, side = stem.rpartition(".")
        if dot and client and side in ("web", "mail") and ext in ("json", "password"):
            return client, side, "job" if ext == "json" else "password"
    prefix = "fracto-backup-%s-" % reseller
    if posixpath.dirname(path) == settings["units_dir"] and name.startswith(prefix):
        stem, _dot, ext = name.rpartition(".")
        client, _dash, side = stem[len(prefix):].rpartition("-")
        if client and side in ("web", "mail") and ext in ("service", "timer"):
            return client, side, ext
    return None


def _summary(job_desc):
    keep = " ".join(keep_args(job_desc.get("keep"))) or "no keep policy"
    return "repository %s, %s, %s" % (public_repository(job_desc["repository"]), "+".join(job_desc["what"]), keep)


def plan_files(current, wanted, reseller, settings, present_clients, prune):
    """Return (changes, writes, removals).

    current: {path: {"content", "mode"}} of the managed files found on the host (every file of this
    reseller's jobs, the runner and the SSH key). Jobs of a client still in the state but no longer
    wanted are removed; jobs of a client gone from the state are kept (and reported) unless prune.
    """
    per_job, writes, removals = {}, [], []
    for path in sorted(wanted):
        want, have = wanted[path], current.get(path)
        entry = per_job.setdefault(want["job"], {"client": want["client"], "new": True, "detail": []})
        if have is not None:
            entry["new"] = False
        if have is not None and have["content"] == want["content"] and have.get("mode") == want["mode"]:
            continue
        writes.append(path)
        if have is None:
            if want["what"] == "job":
                entry["detail"].insert(0, _summary(json.loads(want["content"])))
            continue
        if have["content"] == want["content"]:
            entry["detail"].append("mode of %s: %o -> %o" % (want["what"], have.get("mode") or 0, want["mode"]))
        elif want["secret"]:
            entry["detail"].append("%s changed" % want["what"])
        elif want["what"] == "job":
            entry["detail"].extend(_job_detail(have["content"], want["content"]))
        else:
            entry["detail"].append("%s rewritten" % want["what"])
    changes = []
    for ident in sorted(per_job):
        entry = per_job[ident]
        if entry["new"]:
            changes.append(_change("create", ident, entry["client"], entry["detail"]))
        elif entry["detail"]:
            changes.append(_change("change", ident, entry["client"], entry["detail"]))
    gone = {}
    for path in sorted(set(current) - set(wanted)):
        owner = job_of_path(path, reseller, settings)
        if owner is None:
            continue  # the runner or the SSH key of a host without sftp jobs: left in place
        client, side, _what = owner
        gone.setdefault((client, side), []).append(path)
    for (client, side), paths in sorted(gone.items()):
        ident = "%s/%s" % (client, side)
        if client in present_clients or prune:
            removals.extend(paths)
            changes.append(_change("remove", ident, client, ["its snapshots stay in the repository"]))
        else:
            changes.append(_change("keep", ident, client,
                                   ["client %s is gone from the state; kept until a run with fracto_prune=true" % client]))
    return changes, writes, removals


def outcome(changes):
    """(changed, kept): the jobs of clients gone from the state, kept because prune is off, stay in the plan as "keep"
    lines and in kept, but are no change: nothing is written for them, so a rerun reports changed=0."""
    kept = sorted(c["id"] for c in changes if c["action"] == "keep")
    return any(c["action"] != "keep" for c in changes), kept


def _job_detail(before, after):
    try:
        old, new = json.loads(before), json.loads(after)
    except ValueError:
        return ["job rewritten"]
    detail = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key == "repository":
            detail.append("repository: %s -> %s" % (public_repository(str(old.get(key))), public_repository(str(new.get(key)))))
        elif key == "keep":
            detail.append("keep: %s -> %s" % (" ".join(keep_args(old.get(key))) or "none", " ".join(keep_args(new.get(key))) or "none"))
        elif key == "databases":
            detail.extend("+ database %s" % d for d in new.get(key, []) if d not in old.get(key, []))
            detail.extend("- database %s" % d for d in old.get(key, []) if d not in new.get(key, []))
        elif key == "mailboxes":
            old_m = [m["address"] for m in old.get(key, [])]
            new_m = [m["address"] for m in new.get(key, [])]
            detail.extend("+ mailbox %s" % m for m in new_m if m not in old_m)
            detail.extend("- mailbox %s" % m for m in old_m if m not in new_m)
        else:
            detail.append("%s changed" % key)
    return detail or ["job rewritten"]


def _change(action, ident, client, detail):
    return {"action": action, "kind": "backup", "id": ident, "client": client, "detail": list(detail)}


def diff_text(files, paths):
    """Readable before/after text of some files; secrets are shown as a marker, never their content."""
    out = []
    for path in sorted(paths):
        entry = files.get(path)
        if entry is None:
            continue
        if entry.get("secret") or path.endswith(".password") or posixpath.basename(path) == "id_ed25519":
            out.append("==> %s <==\n%s\n" % (path, SECRET_MARK))
        elif path.endswith(".json"):
            try:
                desc = json.loads(entry["content"])
            except ValueError:
                desc = None
            if isinstance(desc, dict):
                out.append("==> %s <==\n%s\n" % (path, json.dumps(redact(desc), indent=1, sort_keys=True)))
            else:
                out.append("==> %s <==\n(%d bytes, not JSON)\n" % (path, len(entry["content"])))
        elif path.endswith((".service", ".timer", "known_hosts")):
            out.append("==> %s <==\n%s" % (path, redact_url(entry["content"])))
        else:
            out.append("==> %s <==\n(%d bytes)\n" % (path, len(entry["content"])))
    return "".join(out)


def known_hosts_content(text):
    """The known_hosts file written from fracto_ssh_known_hosts: its valid lines, one per line, sorted as given."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and not line.strip().startswith("#")]
    return "".join(line + "\n" for line in lines)


def known_hosts_problems(text):
    problems = []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not KNOWN_HOSTS_LINE.fullmatch(line):
            problems.append("fracto_ssh_known_hosts line %d is not a known_hosts line (host patterns, key type, key)" % number)
    return problems


def _pattern_matches(pattern, name):
    if pattern.startswith("|1|"):
        try:
            _empty, _one, salt, digest = pattern.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode("ascii"), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, binascii.Error):
            return False
    # ssh's patterns know only * and ? (a "[" is literal: [host]:port)
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.fullmatch(regex, name.lower()) is not None


def known_hosts_covers(text, host, port=None):
    """True when a (non-revoked) line of text names host (as [host]:port for a port other than 22)."""
    name = host if port in (None, 22) else "[%s]:%d" % (host, port)
    for line in (text or "").splitlines():
        line = line.strip()
        found = KNOWN_HOSTS_LINE.fullmatch(line) if line and not line.startswith(("#", "@revoked")) else None
        if not found:
            continue
        patterns = found.group("hosts").split(",")
        if any(p.startswith("!") and _pattern_matches(p[1:], name) for p in patterns):
            continue
        if any(not p.startswith("!") and _pattern_matches(p, name) for p in patterns):
            return True
    return False


def validate_inputs(jobs, passwords, ssh_key, known_hosts, reseller, settings, databases, mailboxes):
    """Every problem of the module's input, each naming the job or item and the rule (no secret), before the host
    is touched: the jobs (validate_jobs), the reseller, the databases and mailboxes that name paths."""
    problems = []
    if not isinstance(reseller, str) or not ID.fullmatch(reseller):
        problems.append("reseller: refused (%s)" % ID.pattern)
    problems.extend(validate_jobs(jobs, passwords, ssh_key, known_hosts))
    for key, pattern in UNIT_SETTINGS.items():  # written into root's systemd units: one line each, a systemd value
        if not isinstance(settings.get(key), str) or not pattern.fullmatch(settings[key]):
            problems.append("%s: refused (a systemd %s: %s)" % (key, "calendar" if key == "on_calendar" else "time span", pattern.pattern))
    for job in jobs:
        try:
            client_home(settings["web_root"], job.get("client"))
        except ValueError as exc:
            problems.append("backup job %s: %s" % (job.get("side", "?"), exc))
    for database in databases:
        if not isinstance(database.get("name"), str) or not DATABASE.fullmatch(database["name"]):
            problems.append("database: name refused (letters, digits, _; at most 64)")
    for mailbox in mailboxes:
        try:
            mailbox_home(settings["vmail_home"], mailbox.get("address"))
        except ValueError as exc:
            problems.append("mailbox: %s" % exc)
    return problems


def validate_jobs(jobs, passwords, ssh_key, known_hosts=""):
    """Problems of the module's input (each names the job and the rule), before the host is touched."""
    problems = []
    seen = set()
    for job in jobs:
        missing = [k for k in ("client", "side", "what", "repository", "managed_by") if not job.get(k)]
        if missing:
            problems.append("backup job %s: missing %s" % (job.get("client", "?"), ", ".join(missing)))
            continue
        if not isinstance(job.get("side"), str) or not isinstance(job.get("repository"), str):
            problems.append("backup job %s: side and repository must be strings" % job.get("client", "?"))
            continue
        if "password" in job:
            problems.append("backup job %s: pass its password in passwords, never in jobs" % job_id(job))
        if job["side"] not in ("web", "mail"):
            problems.append("backup job %s: side must be web or mail" % job_id(job))
        if job_id(job) in seen:
            problems.append("backup job %s: given twice" % job_id(job))
        seen.add(job_id(job))
        password = passwords.get(job_id(job))
        if not isinstance(password, str) or not password:
            problems.append("backup job %s: no password in passwords" % job_id(job))
        elif "\n" in password:
            problems.append("backup job %s: the password must be one line" % job_id(job))
        if not isinstance(job["client"], str) or not ID.fullmatch(job["client"]):
            problems.append("backup job: client id refused (%s)" % ID.pattern)
            continue
        if job["side"] in SIDES and not (isinstance(job["what"], list) and set(job["what"]) <= set(SIDES[job["side"]])):
            problems.append("backup job %s: what must be a list of %s" % (job_id(job), ", ".join(SIDES[job["side"]])))
        if job["managed_by"] not in MANAGERS:
            problems.append("backup job %s: managed_by must be client or reseller" % job_id(job))
        keep = job.get("keep") or {}
        if not isinstance(keep, dict) or set(keep) - set(KEEP_FLAGS) or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in keep.values()):
            problems.append("backup job %s: keep must map %s to non-negative integers" % (job_id(job), ", ".join(KEEP_FLAGS)))
        problem = repository_problem(job["repository"])
        if problem:
            problems.append("backup job %s: repository %s" % (job_id(job), problem))
            continue
        sftp = parse_sftp(job["repository"])
        if sftp and not (ssh_key or "").strip():
            problems.append("backup job %s: an sftp repository needs the platform's backup SSH key (fracto_backup_ssh_key)"
                            % job_id(job))
        if sftp and not known_hosts_covers(known_hosts, sftp[1], sftp[2]):
            problems.append("backup job %s: the host key of %s is not pinned in fracto_ssh_known_hosts (host keys are "
                            "never accepted on first use)" % (job_id(job), sftp[1] if not sftp[2] else "[%s]:%d" % sftp[1:3]))
    problems.extend(known_hosts_problems(known_hosts))
    return problems
