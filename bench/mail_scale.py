"""Mail at scale (issue 4): one mail host, 5,000 mailboxes over 1,000 domains by default.

Times, on a container of its own (fracto-bench-mail01, docker's default bridge), the fracto_mail role
(bench/mail_scale.yml): (a) the first converge, (b) its idempotent rerun (must report changed=0: every
password is known good by its fingerprint from the last run, nothing is written), (c) the same with --check,
(d) the rerun from a controller without the fingerprint cache (every password verified against its hash).
Prints PASS/FAIL against issue 4's target (rerun under 15 s).
Exit code: 0 when the figures were produced (even if the target is missed), 1 when something broke.

Run: bench/mail_scale   (bench/mail_scale --help for the options)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import converge_scale as cs  # noqa: E402  the container and ansible-playbook helpers of the web bench

cs.CONTAINER, cs.HOST = "fracto-bench-mail01", "benchmail01"
TARGET_RERUN = 15.0


def synthetic_state(n_domains, n_mailboxes, per_client):
    """({mail slice of a host}, [client ids]): domains dealt to clients, mailboxes dealt round-robin to domains."""
    clients = ["c%04d" % (i // per_client) for i in range(n_domains)]
    domains = [{"domain": "d%04d.bench.test" % i, "client": clients[i]} for i in range(n_domains)]
    mailboxes = []
    for i in range(n_mailboxes):
        domain = domains[i % n_domains]
        mailboxes.append({"address": "user%05d@%s" % (i, domain["domain"]), "domain": domain["domain"], "client": domain["client"],
                          "quota": (1 + i % 4) << 30, "password": "bench-password-%05d" % i, "password_hash": None})
    aliases = [{"address": "info@%s" % d["domain"], "client": d["client"],
                "targets": [b["address"] for b in mailboxes[i::n_domains][:2]]} for i, d in enumerate(domains)]
    # What resolve.py gives each client with mail besides: its outgoing limits (the defaults) and, per domain, the
    # MTA-STS policy the mail host serves (the generic mail name: no certificate to order, port 80 only).
    limits = [{"client": c, "messages_per_hour": 200, "client_messages_per_hour": 1000, "recipients_per_message": 100}
              for c in sorted(set(clients))]
    policies = [{"domain": d["domain"], "client": d["client"], "mx": "%s.fracto.test" % cs.HOST} for d in domains]
    state = {"mail_domains": domains, "mailboxes": mailboxes, "mail_aliases": aliases, "mail_names": [], "webmail_names": [],
             "certificates": [], "mail_send_limits": limits, "mta_sts": policies}
    return state, sorted(set(clients))


def write_inputs(workdir, state, clients):
    """The state file (bench_state, bench_clients) and the inventory of the bench host (group bench_mail) in workdir;
    returns (inventory path, the extra arguments of ansible-playbook)."""
    (workdir / "state.json").write_text(json.dumps({"bench_state": state, "bench_clients": clients}))
    inventory = workdir / "inventory.yml"
    inventory.write_text("all:\n  children:\n    bench_mail:\n      hosts:\n        %s:\n"
                         "          ansible_connection: community.docker.docker\n          ansible_host: %s\n"
                         "          ansible_python_interpreter: /usr/bin/python3\n" % (cs.HOST, cs.CONTAINER))
    return inventory, ("-e", "bench_state_file=%s" % (workdir / "state.json"))


def runner(inventory, workdir):
    """cs.Runner with the controller's caches (the password fingerprints) in workdir: every run starts without one."""
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    run = cs.Runner(inventory, logs)
    run.env["FRACTO_CACHE_DIR"] = str(workdir / "cache")
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--mailboxes", type=int, default=5000)
    parser.add_argument("--domains-per-client", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the container and the work directory (its logs/)")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run (6 mailboxes over 3 domains) that checks the bench works: figures printed, not judged")
    args = parser.parse_args()
    if args.smoke:
        args.domains, args.mailboxes, args.domains_per_client = 3, 6, 1
    cs.exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="fracto-mail-bench-"))
    state, clients = synthetic_state(args.domains, args.mailboxes, args.domains_per_client)
    inventory, extra = write_inputs(workdir, state, clients)
    try:
        cs.log("starting %s" % cs.CONTAINER)
        cs.start_container()
        run = runner(inventory, workdir)
        first, _recap = run.run("first converge", "mail_scale.yml", *extra)
        rerun, recap = run.run("idempotent rerun", "mail_scale.yml", *extra)
        check, _recap = run.run("rerun with --check", "mail_scale.yml", "--check", *extra)
        cold, cold_recap = run.run("rerun without the fingerprint cache", "mail_scale.yml", *extra,
                                   "-e", "fracto_mail__fingerprint_cache=''")
        summary = cs.docker("exec", cs.CONTAINER, "bash", "-c",
                            "echo users=$(grep -c @ /etc/dovecot/fracto/users) domains=$(grep -c bench /etc/postfix/fracto/domains)"
                            " aliases=$(grep -c @ /etc/postfix/fracto/aliases) postfix=$(systemctl is-active postfix)"
                            " dovecot=$(systemctl is-active dovecot)", check=False).stdout.strip()
    except cs.Broken as exc:
        print("bench: %s" % exc, file=sys.stderr)
        return 1
    finally:
        if args.keep:
            cs.log("kept: container %s, work directory %s (logs/)" % (cs.CONTAINER, workdir))
        else:
            cs.remove_container()
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nmail at scale: %d mailboxes over %d domains (%d clients), one host" % (args.mailboxes, args.domains, len(clients)))
    if args.smoke:
        print("  (smoke run: a tiny size that checks the bench works; the figures are printed, not judged)")
    print("  first converge        %7.1f s" % first)
    print("  idempotent rerun      %7.1f s   changed=%d   %s (target < %.0f s, changed=0)" % (
        rerun, recap["changed"], "PASS" if rerun < TARGET_RERUN and recap["changed"] == 0 else "FAIL", TARGET_RERUN))
    print("  rerun with --check    %7.1f s" % check)
    print("  rerun, no fingerprint cache (another controller): %.1f s   changed=%d (every password verified)" % (
        cold, cold_recap["changed"]))
    print("  host: %s" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
