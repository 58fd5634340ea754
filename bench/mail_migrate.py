"""Mail migration, IMAP to IMAP (issue 7): fracto.hosting.imap_migrate against Dovecot's own doveadm backup via imapc.

In the lab (it must be converged: molecule/migrate_mail or make demo; the bench holds /tmp/fracto-lab.lock while it
runs): N mailboxes x M messages are appended to legacy01's Dovecot (bench users bench<i>@bench.test, through its
master user; about 64 KB a message on average, from 1 KB to 2 MB), then copied into mail01's Dovecot twice, at the
same parallelism, from mail01:
  (a) by the migrator's engine (module_utils/imap, the code fracto.hosting.imap_migrate runs; the module call itself
      adds Ansible's start-up), into bench<i>@fracto-bench.test;
  (b) by `doveadm backup -R imapc:` (one process per mailbox, N at once), into bench<i>@dsync-bench.test;
then each again (a no-op rerun); --rounds times (fresh destinations each round, the order alternating), medians.
Prints messages/s and MB/s of the first runs, seconds of the reruns and the ratios, and checks that both destinations hold every message.
mail01 gets the bench's users from a passwd-file userdb included for the bench only; everything the bench adds to
legacy01 and mail01 is removed at the end (unless --keep).
Exit code: 0 when the figures were produced, 1 when something broke.

Run: bench/mail_migrate   (bench/mail_migrate --help for the options)
"""

from __future__ import annotations

import argparse
import fcntl
import io
import random
import shlex
import ssl
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "molecule" / "migrate_mail"))
import corpus  # noqa: E402  the message generator of the migration scenario

LOCK = "/tmp/fracto-lab.lock"
SOURCE, DEST = "legacy01", "mail01"
SOURCE_NAME = "legacy01.fracto.test"
SRC_DOMAIN, OURS_DOMAIN, DSYNC_DOMAIN = "bench.test", "fracto-bench.test", "dsync-bench.test"
BENCH_CONF = "/etc/dovecot/fracto/conf.d/zz-bench-migrate.conf"
BENCH_USERS = "/etc/dovecot/fracto/bench-migrate-users"
BENCH_HOME = "/var/vmail/bench-migrate"
ENGINE_DIR = "/tmp/fracto-bench-migrate"
STATE_DIR = ENGINE_DIR + "/state"  # the engine's records of verified folders (the module's state_dir); per round
COLLECTION = ROOT / "collections" / "ansible_collections" / "fracto" / "hosting"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Broken(Exception):
    pass


def sh(container, script, check=True, stdin=None):
    proc = subprocess.run(["docker", "exec", "-i", container, "bash", "-c", script], input=stdin, capture_output=True,
                          text=isinstance(stdin, str) or stdin is None)
    if check and proc.returncode != 0:
        raise Broken("%s: %s failed: %s" % (container, script[:80], (proc.stderr or proc.stdout)))
    return proc.stdout


def vault():
    found = {}
    for vault_id, path in (("demo", "inventories/demo/group_vars/all/vault_mail_migration.yml"),
                           ("platform", "inventories/platform/group_vars/all/vault.yml")):
        out = subprocess.run([str(ROOT / ".venv/bin/ansible-vault"), "view", "--vault-id",
                              "%s@%s" % (vault_id, ROOT / path.split("/group_vars")[0] / "vault-password.txt"), str(ROOT / path)],
                             capture_output=True, text=True, check=True).stdout
        found.update(yaml.safe_load(out))
    return found


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


def seed_source(address, ca, master_password, users, per_user):
    """Append per_user messages to each bench user's INBOX and two folders (MULTIAPPEND); returns (messages, bytes)."""
    from imapclient import IMAPClient

    total = nbytes = 0
    for user in users:
        rng = random.Random(user)
        client = IMAPClient(address, ssl=True, ssl_context=ssl.create_default_context(cafile=ca), timeout=300)
        client.plain_login("migrator", master_password, authorization_identity=user)
        folders = {"INBOX": per_user * 8 // 10, "Sent Messages": per_user // 10}
        folders["Clientes.2024"] = per_user - sum(folders.values())
        for folder, count in folders.items():
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.select_folder(folder)
            batch, batch_bytes = [], 0
            for i, size in enumerate(sizes(rng, count)):
                body, date = corpus.message(rng, user, i, size, with_id=rng.random() > 0.05)
                flags = [f for f in corpus.FLAGS if rng.random() < 0.3]
                batch.append({"msg": body, "flags": flags, "date": date})
                batch_bytes += len(body)
                total, nbytes = total + 1, nbytes + len(body)
                if batch_bytes > 8 << 20 or len(batch) >= 200:
                    client.multiappend(folder, batch)
                    batch, batch_bytes = [], 0
            if batch:
                client.multiappend(folder, batch)
        client.logout()
    return total, nbytes


def install_engine():
    """The collection's module_utils/imap on mail01 (the code the module runs), with a small driver."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        base = "ansible_collections/fracto/hosting/plugins/module_utils"
        for part in ("ansible_collections", "ansible_collections/fracto", "ansible_collections/fracto/hosting",
                     "ansible_collections/fracto/hosting/plugins", base):
            info = tarfile.TarInfo(part + "/__init__.py")
            tar.addfile(info, io.BytesIO(b""))
        for name in ("__init__.py", "plan.py", "client.py", "sync.py"):
            tar.add(str(COLLECTION / "plugins/module_utils/imap" / name), arcname="%s/imap/%s" % (base, name))
        tar.add(str(COLLECTION / "plugins/module_utils/files.py"), arcname="%s/files.py" % base)
        driver = DRIVER.encode()
        info = tarfile.TarInfo("driver.py")
        info.size = len(driver)
        tar.addfile(info, io.BytesIO(driver))
    subprocess.run(["docker", "exec", DEST, "rm", "-rf", ENGINE_DIR], check=True)
    subprocess.run(["docker", "exec", DEST, "mkdir", "-p", ENGINE_DIR], check=True)
    subprocess.run(["docker", "exec", "-i", DEST, "tar", "-x", "-C", ENGINE_DIR], input=buf.getvalue(), check=True)


DRIVER = r'''
import json, sys, time
from ansible_collections.fracto.hosting.plugins.module_utils.imap import sync
args = json.loads(sys.stdin.read())
jobs = [{"address": "%s@%s" % (u, args["dest_domain"]), "client": "bench", "folder_map": {}, "delete_extra": False,
         "source": {"host": args["source"], "port": 993, "verify": True, "user": "%s@%s" % (u, args["src_domain"]),
                    "master_user": "migrator", "password": args["source_password"]},
         "destination": {"host": "127.0.0.1", "port": 143, "tls": False, "verify": False, "master_user": "fracto-migrate",
                         "password": args["dest_password"]}} for u in args["users"]]
start = time.monotonic()
reports, _lines = sync.migrate_all(jobs, args["parallel"], False, None, state_dir=args["state_dir"])
print(json.dumps({"seconds": time.monotonic() - start,
                  "reports": [{k: r[k] for k in ("address", "status", "error", "copied", "already", "bytes", "messages",
                                                  "verified", "verification", "unchanged_folders")} for r in reports]}))
'''


def run_engine(users, parallel, secrets):
    args = {"users": users, "dest_domain": OURS_DOMAIN, "src_domain": SRC_DOMAIN, "source": SOURCE_NAME,
            "parallel": parallel, "state_dir": STATE_DIR, "source_password": secrets["vault_legacy_mail_master_password"],
            "dest_password": secrets["vault_fracto_mail_migration_password"]}
    import json

    started = time.monotonic()
    out = sh(DEST, "cd %s && PYTHONPATH=%s python3 driver.py" % (ENGINE_DIR, ENGINE_DIR), stdin=json.dumps(args))
    wall = time.monotonic() - started
    result = json.loads(out)
    failed = [r for r in result["reports"] if r["status"] != "ok" or not r["verified"]]
    if failed:
        raise Broken("the migrator failed: %s" % failed)
    return wall, result


def run_doveadm(users, parallel, secrets):
    """doveadm backup -R from imapc, one process per mailbox, `parallel` at once (xargs -P)."""
    options = ["-o imapc_host=%s" % SOURCE_NAME, "-o imapc_port=993", "-o imapc_ssl=imaps", "-o imapc_ssl_verify=yes",
               "-o ssl_client_ca_dir=/etc/ssl/certs", "-o imapc_master_user=migrator",
               "-o imapc_password=%s" % shlex.quote(secrets["vault_legacy_mail_master_password"]),
               "-o 'imapc_features=rfc822.size fetch-headers'", "-o mail_prefetch_count=20"]
    one = "doveadm %s -o imapc_user=$0@%s backup -R -u $0@%s imapc:" % (" ".join(options), SRC_DOMAIN, DSYNC_DOMAIN)
    script = "printf '%%s\\n' %s | xargs -P %d -n 1 bash -c %s" % (" ".join(users), parallel, shlex.quote(one))
    started = time.monotonic()
    sh(DEST, script)
    return time.monotonic() - started


def count_messages(domain, users):
    total = 0
    for user in users:
        total += len(sh(DEST, "doveadm search -u %s@%s ALL" % (user, domain)).splitlines())
    return total


def setup_destination(users):
    lines = "".join("%s@%s:{CRYPT}!::::::\n" % (u, d) for u in users for d in (OURS_DOMAIN, DSYNC_DOMAIN))
    conf = ("# bench/mail_migrate: the bench's destination mailboxes (removed at the end of the bench)\n"
            "userdb {\n  driver = passwd-file\n  args = username_format=%%u %s\n"
            "  override_fields = uid=vmail gid=vmail home=%s/%%d/%%n\n}\n" % (BENCH_USERS, BENCH_HOME))
    sh(DEST, "cat > %s" % BENCH_USERS, stdin=lines)
    sh(DEST, "cat > %s && doveconf -n >/dev/null && rm -rf %s && systemctl reload dovecot && sleep 1" % (BENCH_CONF, BENCH_HOME),
       stdin=conf)


def cleanup(keep_source):
    sh(DEST, "rm -f %s %s && systemctl reload dovecot; rm -rf %s %s" % (BENCH_CONF, BENCH_USERS, BENCH_HOME, ENGINE_DIR), check=False)
    if not keep_source:
        sh(SOURCE, "rm -rf /var/vmail/%s" % SRC_DOMAIN, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--messages", type=int, default=500, help="per mailbox")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many rounds (fresh destinations each)")
    parser.add_argument("--keep", action="store_true", help="leave the bench's mailboxes in place")
    args = parser.parse_args()
    users = ["bench%02d" % i for i in range(args.mailboxes)]
    secrets = vault()
    ca = ROOT / ".fracto" / "lab" / "lab-ca.pem"
    ca.write_text(sh("acme", "cat /etc/pebble/lab-ca.pem"))  # always fresh: a recreated lab has a new CA
    address = sh(SOURCE, "hostname -i").split()[0]
    with open(LOCK, "w", encoding="utf-8") as lock:
        log("waiting for the lab lock %s" % LOCK)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            sh(SOURCE, "rm -rf /var/vmail/%s" % SRC_DOMAIN)
            log("seeding %d mailboxes x %d messages on %s" % (args.mailboxes, args.messages, SOURCE))
            started = time.monotonic()
            n_messages, n_bytes = seed_source(address, str(ca), secrets["vault_legacy_mail_master_password"],
                                              ["%s@%s" % (u, SRC_DOMAIN) for u in users], args.messages)
            log("seeded %d messages, %.1f MB in %.1f s" % (n_messages, n_bytes / 1e6, time.monotonic() - started))
            setup_destination(users)
            install_engine()
            times = {"ours_first": [], "ours_rerun": [], "dsync_first": [], "dsync_rerun": [], "engine_first": [], "engine_rerun": []}
            for round_no in range(args.rounds):
                # Fresh destinations each round; the order alternates so that neither always runs on a warm source.
                sh(DEST, "rm -rf %s/%s %s/%s %s" % (BENCH_HOME, OURS_DOMAIN, BENCH_HOME, DSYNC_DOMAIN, STATE_DIR))
                order = ("ours", "dsync") if round_no % 2 == 0 else ("dsync", "ours")
                for tool in order:
                    if tool == "ours":
                        log("round %d: (a) fracto migrator, first run and no-op rerun" % (round_no + 1))
                        wall, result = run_engine(users, args.parallel, secrets)
                        times["ours_first"].append(wall)
                        times["engine_first"].append(result["seconds"])
                        wall, rerun_result = run_engine(users, args.parallel, secrets)
                        times["ours_rerun"].append(wall)
                        times["engine_rerun"].append(rerun_result["seconds"])
                    else:
                        log("round %d: (b) doveadm backup via imapc, first run and no-op rerun" % (round_no + 1))
                        times["dsync_first"].append(run_doveadm(users, args.parallel, secrets))
                        times["dsync_rerun"].append(run_doveadm(users, args.parallel, secrets))
            ours_count, dsync_count = count_messages(OURS_DOMAIN, users), count_messages(DSYNC_DOMAIN, users)
        except (Broken, subprocess.CalledProcessError) as exc:
            print("bench: %s" % exc, file=sys.stderr)
            return 1
        finally:
            if not args.keep:
                cleanup(False)
    copied = sum(r["copied"] for r in result["reports"])
    recopied = sum(r["copied"] for r in rerun_result["reports"])
    ours_first, ours_rerun = statistics.median(times["ours_first"]), statistics.median(times["ours_rerun"])
    dsync_first, dsync_rerun = statistics.median(times["dsync_first"]), statistics.median(times["dsync_rerun"])
    mb = n_bytes / 1e6
    print("\nmail migration: %d mailboxes x %d messages = %d messages, %.1f MB, legacy01 -> mail01, %d at once; "
          "median of %d rounds" % (args.mailboxes, args.messages, n_messages, mb, args.parallel, args.rounds))
    print("                           first run                      no-op rerun")
    print("  fracto migrator      %6.2f s %7.0f msg/s %6.1f MB/s   %6.2f s (copied %d)" % (
        ours_first, n_messages / ours_first, mb / ours_first, ours_rerun, recopied))
    print("  doveadm backup imapc %6.2f s %7.0f msg/s %6.1f MB/s   %6.2f s" % (
        dsync_first, n_messages / dsync_first, mb / dsync_first, dsync_rerun))
    print("  ratio (doveadm time / fracto time): first run %.2fx, no-op rerun %.2fx   %s" % (
        dsync_first / ours_first, dsync_rerun / ours_rerun,
        "PASS" if ours_first <= dsync_first and ours_rerun <= dsync_rerun else "FAIL (target: at least as fast on both)"))
    print("  every round (s): fracto first %s, rerun %s; doveadm first %s, rerun %s" % tuple(
        " ".join("%.2f" % t for t in times[k]) for k in ("ours_first", "ours_rerun", "dsync_first", "dsync_rerun")))
    print("  messages on the destination: fracto %d, doveadm %d (source %d); fracto copied %d, verified every mailbox"
          % (ours_count, dsync_count, n_messages, copied))
    print("  fracto no-op rerun: %d folders unchanged on both servers since the verified first run (CONDSTORE record),"
          " the others compared in full" % sum(r.get("unchanged_folders") or 0 for r in rerun_result["reports"]))
    print("  (wall time of each tool's process on mail01, start-up included: Python's is about 0.05 s, doveadm's 0.01 s;")
    print("   the migrator's engine alone: first run %.2f s, no-op rerun %.2f s; the module call adds Ansible's start-up)" % (
        statistics.median(times["engine_first"]), statistics.median(times["engine_rerun"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
