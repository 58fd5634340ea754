"""Mail migration, IMAP to IMAP (issue 7): fracto.hosting.imap_migrate against Dovecot's own doveadm backup via imapc.

N mailboxes x M messages are appended to the old server's Dovecot (bench users bench<i>@bench.test, through its
master user; about 64 KB a message on average, from 1 KB to 2 MB), then copied into the mail host's Dovecot twice, at
the same parallelism, from the mail host:
  (a) by the migrator's engine (module_utils/imap, the code fracto.hosting.imap_migrate runs; the module call itself
      adds Ansible's start-up), into bench<i>@fracto-bench.test, logged in to the destination as the module does: a
      temporary master user of the run (migrate-<reseller>, a random password, only these mailboxes, only from the
      loopback; module_utils/mail/masters.py), removed when the run ends;
  (b) by `doveadm backup -R imapc:` (one process per mailbox, N at once), into bench<i>@dsync-bench.test;
then each again (a no-op rerun); --rounds times (fresh destinations each round, the order alternating), medians.
Prints messages/s and MB/s of the first runs, seconds of the reruns and the ratios, and checks that both destinations
hold every message.
Where: in the lab (legacy01 -> mail01; it must be converged: molecule/migrate_mail or make demo; the bench holds
/tmp/fracto-lab.lock while it runs), or with --own-host on a container of its own (fracto-bench-migrate01: the
fracto_mail role, and the lab's legacy01 Dovecot as a second instance on port 9993; bench/mail_migrate.yml).
The mail host gets the bench's users from a passwd-file passdb and userdb included for the bench only; everything
the bench adds is removed at the end (unless --keep).
Exit code: 0 when the figures were produced, 1 when something broke.

Run: bench/mail_migrate   (bench/mail_migrate --help for the options)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import os
import random
import secrets as tokens
import shlex
import shutil
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "molecule" / "migrate_mail"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "collections"))
import converge_scale as cs  # noqa: E402  the container and ansible-playbook helpers of the web bench
import corpus  # noqa: E402  the message generator of the migration scenario
import mail_scale  # noqa: E402  the mail host's synthetic state and inputs
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc  # noqa: E402

LOCK = "/tmp/fracto-lab.lock"
SRC_DOMAIN, OURS_DOMAIN, DSYNC_DOMAIN = "bench.test", "fracto-bench.test", "dsync-bench.test"
RESELLER = "bench"  # the temporary master user of the destination: migrate-bench
BENCH_CONF = "/etc/dovecot/fracto/conf.d/zz-bench-migrate.conf"
BENCH_USERS = "/etc/dovecot/fracto/bench-migrate-users"
BENCH_HOME = "/var/vmail/bench-migrate"
ENGINE_DIR = "/tmp/fracto-bench-migrate"
STATE_DIR = ENGINE_DIR + "/state"  # the engine's records of verified folders (the module's state_dir); per round
COLLECTION = ROOT / "collections" / "ansible_collections" / "fracto" / "hosting"
OWN_CONTAINER, OWN_HOST, OWN_SOURCE, OWN_PORT = "fracto-bench-migrate01", "benchmigrate01", "legacy.bench.test", 9993


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Broken(Exception):
    pass


class Ends:
    """The two servers: source and dest (containers), the old server's name and port as the mail host reaches them,
    the address the controller seeds it at, the CA that signs it (a file on the controller; the mail host trusts it
    in its system store), the old server's master password, and the lock file to hold (None: no lock)."""

    def __init__(self, source, dest, name, port, address, ca, password, lock):
        self.source, self.dest, self.name, self.port, self.address = source, dest, name, port, address
        self.ca, self.password, self.lock = ca, password, lock


def sh(container, script, check=True, stdin=None):
    proc = subprocess.run(["docker", "exec", "-i", container, "bash", "-c", script], input=stdin, capture_output=True,
                          text=isinstance(stdin, str) or stdin is None)
    if check and proc.returncode != 0:
        raise Broken("%s: %s failed: %s" % (container, script[:80], (proc.stderr or proc.stdout)))
    return proc.stdout


def lab_ends(workdir):
    """legacy01 -> mail01 of the lab: the old server's master password from the demo's vault, the lab CA."""
    out = subprocess.run([str(ROOT / ".venv/bin/ansible-vault"), "view", "--vault-id",
                          "demo@%s" % (ROOT / "inventories/demo/vault-password.txt"),
                          str(ROOT / "inventories/demo/group_vars/all/vault_mail_migration.yml")],
                         capture_output=True, text=True, check=True).stdout
    ca = workdir / "lab-ca.pem"
    ca.write_text(sh("acme", "cat /etc/pebble/lab-ca.pem"))  # always fresh: a recreated lab has a new CA
    return Ends("legacy01", "mail01", "legacy01.fracto.test", 993, sh("legacy01", "hostname -i").split()[0], ca,
                yaml.safe_load(out)["vault_legacy_mail_master_password"], LOCK)


def own_ends(workdir):
    """fracto-bench-migrate01, prepared by bench/mail_migrate.yml: the fracto_mail role, and the lab's old server as a
    second Dovecot instance (port 9993, a CA of the bench). Its master password is made here, for this run."""
    cs.CONTAINER, cs.HOST = OWN_CONTAINER, OWN_HOST
    state, clients = mail_scale.synthetic_state(1, 1, 1)
    inventory, extra = mail_scale.write_inputs(workdir, state, clients)
    password = tokens.token_urlsafe(24)
    secret = workdir / "legacy.json"
    secret.write_text(json.dumps({"bench_legacy_password": password}))
    os.chmod(secret, 0o600)
    log("starting %s (docker's default bridge)" % OWN_CONTAINER)
    cs.start_container(extra=("--add-host", "%s:127.0.0.1" % OWN_SOURCE))
    try:
        mail_scale.runner(inventory, workdir).run("prepare (fracto_mail, the old server)", "mail_migrate.yml", *extra,
                                                  "-e", "@%s" % secret)
    except cs.Broken as exc:
        raise Broken(str(exc)) from None
    ca = workdir / "bench-ca.pem"
    ca.write_text(sh(OWN_CONTAINER, "cat /etc/dovecot/lab/ca.pem"))
    return Ends(OWN_CONTAINER, OWN_CONTAINER, OWN_SOURCE, OWN_PORT, sh(OWN_CONTAINER, "hostname -i").split()[0], ca,
                password, None)


def sizes(rng, count):
    """About 64 KB on average: most messages small, some of a few hundred KB, one in a hundred of 1-2 MB."""
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.80:
            out.append(1024 + rng.randrange(30 * 1024))
        elif roll < 0.99:
            out.append(50 * 1024 + rng.randrange(250 * 1024))
        else:
            out.append(1024 * 1024 + rng.randrange(1024 * 1024))
    return out


def seed_folder(client, folder, rng, user, count):
    """Append count messages to folder (MULTIAPPEND batches); returns (messages, bytes)."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
    client.select_folder(folder)
    batch, batch_bytes, total, nbytes = [], 0, 0, 0
    for i, size in enumerate(sizes(rng, count)):
        body, date = corpus.message(rng, user, i, size, with_id=rng.random() > 0.05)
        batch.append({"msg": body, "flags": [f for f in corpus.FLAGS if rng.random() < 0.3], "date": date})
        batch_bytes, total, nbytes = batch_bytes + len(body), total + 1, nbytes + len(body)
        if batch_bytes > 8 << 20 or len(batch) >= 200:
            client.multiappend(folder, batch)
            batch, batch_bytes = [], 0
    if batch:
        client.multiappend(folder, batch)
    return total, nbytes


def seed_source(ends, users, per_user):
    """Append per_user messages to each bench user's INBOX and two folders; returns (messages, bytes)."""
    from imapclient import IMAPClient

    total = nbytes = 0
    for user in users:
        rng = random.Random(user)
        client = IMAPClient(ends.address, port=ends.port, ssl=True, timeout=300,
                            ssl_context=ssl.create_default_context(cafile=str(ends.ca)))
        client.plain_login("migrator", ends.password, authorization_identity=user)
        folders = {"INBOX": per_user * 8 // 10, "Sent Messages": per_user // 10}
        folders["Clientes.2024"] = per_user - sum(folders.values())
        for folder, count in folders.items():
            messages, size = seed_folder(client, folder, rng, user, count)
            total, nbytes = total + messages, nbytes + size
        client.logout()
    return total, nbytes


def install_engine(dest):
    """The collection's module_utils the module runs (imap/, the master users, the host lock) on the mail host, with a
    small driver."""
    buf = io.BytesIO()
    base = "ansible_collections/fracto/hosting/plugins/module_utils"
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for part in ("ansible_collections", "ansible_collections/fracto", "ansible_collections/fracto/hosting",
                     "ansible_collections/fracto/hosting/plugins", base, base + "/mail"):
            tar.addfile(tarfile.TarInfo(part + "/__init__.py"), io.BytesIO(b""))
        for name in ("imap/__init__.py", "imap/plan.py", "imap/client.py", "imap/sync.py", "mail/masters.py",
                     "mail/safe.py", "files.py", "lock.py", "argguard.py"):
            tar.add(str(COLLECTION / "plugins/module_utils" / name), arcname="%s/%s" % (base, name))
        info = tarfile.TarInfo("driver.py")
        info.size = len(DRIVER.encode())
        tar.addfile(info, io.BytesIO(DRIVER.encode()))
    sh(dest, "rm -rf %s && mkdir -p %s" % (ENGINE_DIR, ENGINE_DIR))
    subprocess.run(["docker", "exec", "-i", dest, "tar", "-x", "-C", ENGINE_DIR], input=buf.getvalue(), check=True)


# The engine as imap_migrate runs it on the loopback: this run's master lines added under the host lock, removed at
# the end (the module's set_master and clear_master, with the same module_utils).
DRIVER = r'''
import json, os, secrets, sys, time
from ansible_collections.fracto.hosting.plugins.module_utils import files, lock
from ansible_collections.fracto.hosting.plugins.module_utils.imap import sync
from ansible_collections.fracto.hosting.plugins.module_utils.mail import masters
args = json.loads(sys.stdin.read())
addresses = ["%s@%s" % (u, args["dest_domain"]) for u in args["users"]]
password = secrets.token_urlsafe(32)

def rewrite(change):
    with lock.host_lock("bench/mail_migrate", reseller=args["reseller"]):
        files.write_atomic(args["masters_file"], change(files.read_text(args["masters_file"])), mode=0o640, owner="root",
                           group="dovecot", makedirs=True)

source = {"host": args["source"], "port": args["port"], "verify": True,
          "master_user": "migrator", "password": args["source_password"]}
jobs = [{"address": "%s@%s" % (u, args["dest_domain"]), "client": "bench", "folder_map": {}, "delete_extra": False,
         "source": dict(source, user="%s@%s" % (u, args["src_domain"])),
         "destination": {"host": "127.0.0.1", "port": 143, "tls": False, "verify": False,
                         "master_user": masters.master_name(args["reseller"]), "password": password}}
        for u in args["users"]]
start = time.monotonic()
rewrite(lambda before: masters.add(before, args["reseller"], addresses, masters.ssha512(password), os.getpid()))
try:
    reports, _lines = sync.migrate_all(jobs, args["parallel"], False, None, state_dir=args["state_dir"])
finally:
    rewrite(lambda before: masters.remove(before, os.getpid()))
print(json.dumps({"seconds": time.monotonic() - start,
                  "reports": [{k: r[k] for k in ("address", "status", "error", "copied", "already", "bytes", "messages",
                                                  "verified", "verification", "unchanged_folders")} for r in reports]}))
'''


def run_engine(ends, users, parallel):
    args = {"users": users, "dest_domain": OURS_DOMAIN, "src_domain": SRC_DOMAIN, "source": ends.name, "port": ends.port,
            "parallel": parallel, "state_dir": STATE_DIR, "source_password": ends.password,
            "reseller": RESELLER, "masters_file": mc.MASTERS_FILE}
    # Dovecot re-reads the master users' file when its mtime (in seconds) or size changes: a run that rewrote it in
    # the second of the last run's read, at the same size, would log in against the last run's password.
    time.sleep(1.1)
    started = time.monotonic()
    out = sh(ends.dest, "cd %s && PYTHONPATH=%s python3 driver.py" % (ENGINE_DIR, ENGINE_DIR), stdin=json.dumps(args))
    wall = time.monotonic() - started
    result = json.loads(out)
    failed = [r for r in result["reports"] if r["status"] != "ok" or not r["verified"]]
    if failed:
        raise Broken("the migrator failed: %s" % failed)
    return wall, result


def run_doveadm(ends, users, parallel):
    """doveadm backup -R from imapc, one process per mailbox, `parallel` at once (xargs -P)."""
    options = ["-o imapc_host=%s" % ends.name, "-o imapc_port=%d" % ends.port, "-o imapc_ssl=imaps",
               "-o imapc_ssl_verify=yes", "-o ssl_client_ca_dir=/etc/ssl/certs", "-o imapc_master_user=migrator",
               "-o imapc_password=%s" % shlex.quote(ends.password),
               "-o 'imapc_features=rfc822.size fetch-headers'", "-o mail_prefetch_count=20"]
    one = "doveadm %s -o imapc_user=$0@%s backup -R -u $0@%s imapc:" % (" ".join(options), SRC_DOMAIN, DSYNC_DOMAIN)
    script = "printf '%%s\\n' %s | xargs -P %d -n 1 bash -c %s" % (" ".join(users), parallel, shlex.quote(one))
    started = time.monotonic()
    sh(ends.dest, script)
    return time.monotonic() - started


def count_messages(dest, domain, users):
    return sum(len(sh(dest, "doveadm search -u %s@%s ALL" % (user, domain)).splitlines()) for user in users)


def setup_destination(dest, users):
    """The bench's destination mailboxes: a passwd-file passdb (found, never logged in to: the master user's lookup
    needs the mailbox in a passdb) and userdb, included last in the mail host's Dovecot."""
    lines = "".join("%s@%s:{CRYPT}!::::::\n" % (u, d) for u in users for d in (OURS_DOMAIN, DSYNC_DOMAIN))
    conf = ("# bench/mail_migrate: the bench's destination mailboxes (removed at the end of the bench)\n"
            "passdb {\n  driver = passwd-file\n  args = scheme=CRYPT username_format=%%u %s\n}\n"
            "userdb {\n  driver = passwd-file\n  args = username_format=%%u %s\n"
            "  override_fields = uid=vmail gid=vmail home=%s/%%d/%%n\n}\n" % (BENCH_USERS, BENCH_USERS, BENCH_HOME))
    sh(dest, "cat > %s" % BENCH_USERS, stdin=lines)
    sh(dest, "mkdir -p %s && cat > %s && doveconf -n >/dev/null && rm -rf %s && systemctl reload dovecot && sleep 1"
       % (os.path.dirname(BENCH_CONF), BENCH_CONF, BENCH_HOME),
       stdin=conf)


def cleanup(ends):
    sh(ends.dest, "rm -f %s %s && systemctl reload dovecot; rm -rf %s %s" % (BENCH_CONF, BENCH_USERS, BENCH_HOME, ENGINE_DIR),
       check=False)
    sh(ends.source, "rm -rf /var/vmail/%s" % SRC_DOMAIN, check=False)


def one_round(ends, users, args, times, round_no):
    """Fresh destinations; the order alternates so that neither tool always runs on a warm source. Returns the
    migrator's (first run, rerun) results."""
    sh(ends.dest, "rm -rf %s/%s %s/%s %s" % (BENCH_HOME, OURS_DOMAIN, BENCH_HOME, DSYNC_DOMAIN, STATE_DIR))
    results = None
    for tool in ("ours", "dsync") if round_no % 2 == 0 else ("dsync", "ours"):
        if tool == "ours":
            log("round %d: (a) fracto migrator, first run and no-op rerun" % (round_no + 1))
            wall, first = run_engine(ends, users, args.parallel)
            times["ours_first"].append(wall)
            times["engine_first"].append(first["seconds"])
            wall, rerun = run_engine(ends, users, args.parallel)
            times["ours_rerun"].append(wall)
            times["engine_rerun"].append(rerun["seconds"])
            results = (first, rerun)
        else:
            log("round %d: (b) doveadm backup via imapc, first run and no-op rerun" % (round_no + 1))
            times["dsync_first"].append(run_doveadm(ends, users, args.parallel))
            times["dsync_rerun"].append(run_doveadm(ends, users, args.parallel))
    return results


def measure(ends, users, args):
    """Seed, set up the destination, run the rounds; returns the figures report() prints."""
    sh(ends.source, "rm -rf /var/vmail/%s" % SRC_DOMAIN)
    log("seeding %d mailboxes x %d messages on %s" % (args.mailboxes, args.messages, ends.source))
    started = time.monotonic()
    n_messages, n_bytes = seed_source(ends, ["%s@%s" % (u, SRC_DOMAIN) for u in users], args.messages)
    log("seeded %d messages, %.1f MB in %.1f s" % (n_messages, n_bytes / 1e6, time.monotonic() - started))
    setup_destination(ends.dest, users)
    install_engine(ends.dest)
    times = {k: [] for k in ("ours_first", "ours_rerun", "dsync_first", "dsync_rerun", "engine_first", "engine_rerun")}
    for round_no in range(args.rounds):
        first, rerun = one_round(ends, users, args, times, round_no)
    return {"times": times, "messages": n_messages, "bytes": n_bytes, "first": first, "rerun": rerun,
            "ours_count": count_messages(ends.dest, OURS_DOMAIN, users),
            "dsync_count": count_messages(ends.dest, DSYNC_DOMAIN, users)}


def report(ends, args, fig):
    times, med = fig["times"], {k: statistics.median(v) for k, v in fig["times"].items()}
    copied = sum(r["copied"] for r in fig["first"]["reports"])
    recopied = sum(r["copied"] for r in fig["rerun"]["reports"])
    mb, n = fig["bytes"] / 1e6, fig["messages"]
    print("\nmail migration: %d mailboxes x %d messages = %d messages, %.1f MB, %s -> %s, %d at once; median of %d rounds"
          % (args.mailboxes, args.messages, n, mb, ends.name, ends.dest, args.parallel, args.rounds))
    if args.smoke:
        print("  (smoke run: a tiny size that checks the bench works; the figures are printed, not judged)")
    print("                           first run                      no-op rerun")
    print("  fracto migrator      %6.2f s %7.0f msg/s %6.1f MB/s   %6.2f s (copied %d)" % (
        med["ours_first"], n / med["ours_first"], mb / med["ours_first"], med["ours_rerun"], recopied))
    print("  doveadm backup imapc %6.2f s %7.0f msg/s %6.1f MB/s   %6.2f s" % (
        med["dsync_first"], n / med["dsync_first"], mb / med["dsync_first"], med["dsync_rerun"]))
    fast = med["ours_first"] <= med["dsync_first"] and med["ours_rerun"] <= med["dsync_rerun"]
    print("  ratio (doveadm time / fracto time): first run %.2fx, no-op rerun %.2fx   %s" % (
        med["dsync_first"] / med["ours_first"], med["dsync_rerun"] / med["ours_rerun"],
        "PASS" if fast else "FAIL (target: at least as fast on both)"))
    print("  every round (s): fracto first %s, rerun %s; doveadm first %s, rerun %s" % tuple(
        " ".join("%.2f" % t for t in times[k]) for k in ("ours_first", "ours_rerun", "dsync_first", "dsync_rerun")))
    print("  messages on the destination: fracto %d, doveadm %d (source %d); fracto copied %d, verified every mailbox"
          % (fig["ours_count"], fig["dsync_count"], n, copied))
    print("  fracto no-op rerun: %d folders unchanged on both servers since the verified first run (CONDSTORE record),"
          " the others compared in full" % sum(r.get("unchanged_folders") or 0 for r in fig["rerun"]["reports"]))
    print("  (wall time of each tool's process on %s, start-up included: Python's is about 0.05 s, doveadm's 0.01 s;"
          % ends.dest)
    print("   the migrator's engine alone: first run %.2f s, no-op rerun %.2f s; the module call adds Ansible's start-up)"
          % (med["engine_first"], med["engine_rerun"]))


@contextlib.contextmanager
def held(path):
    """The lab lock (None: nothing to hold)."""
    if path is None:
        yield
        return
    with open(path, "w", encoding="utf-8") as lock:
        log("waiting for the lab lock %s" % path)
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--messages", type=int, default=500, help="per mailbox")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds (fresh destinations each)")
    parser.add_argument("--own-host", action="store_true",
                        help="on a container of its own (%s) instead of the lab's legacy01 and mail01" % OWN_CONTAINER)
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run on its own host (2 mailboxes x 20 messages, 1 round) that checks the bench works")
    parser.add_argument("--keep", action="store_true", help="leave the bench's mailboxes (and its own container) in place")
    args = parser.parse_args()
    if min(args.mailboxes, args.messages, args.parallel, args.rounds) < 1:
        parser.error("--mailboxes, --messages, --parallel and --rounds: at least 1")
    if args.smoke:
        args.own_host, args.mailboxes, args.messages, args.parallel, args.rounds = True, 2, 20, 2, 1
    return args


def main():
    args = parse_args()
    users = ["bench%02d" % i for i in range(args.mailboxes)]
    cs.exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="fracto-migrate-bench-"))
    ends = None
    try:
        ends = own_ends(workdir) if args.own_host else lab_ends(workdir)
        with held(ends.lock):
            try:
                figures = measure(ends, users, args)
            finally:
                if not args.keep:
                    cleanup(ends)
    except (Broken, cs.Broken, subprocess.CalledProcessError) as exc:
        print("bench: %s" % exc, file=sys.stderr)
        return 1
    finally:
        if args.own_host and not args.keep:
            cs.remove_container()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(ends, args, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
