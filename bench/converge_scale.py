"""Converge at scale: one web host, a synthetic reseller (300 clients, 1,000 names by default).

Times, in one run and on a container of its own (fracto-bench01, docker's default bridge):
  (a) the first converge of bench/converge_scale.yml (state resolved on the controller, then
      ONE fracto.hosting.web_sites call for every user, docroot, PHP-FPM pool and vhost),
  (b) its idempotent rerun (must report changed=0),
  (c) the same with --check,
  (b2) with the role: the rerun of web_sites alone (the role's own call of it, tasks/sites.yml),
  (d) the naive way (bench/naive_vhosts.yml: one task per vhost in a loop, rendering the role's
      vhost template on the controller): its idempotent rerun, on a sample of the vhosts
      extrapolated to all of them unless --naive-sample all.
Prints the figures and the ratio naive_rerun / module_rerun; PASS/FAIL against the targets of
issue 3 (rerun under 15 s, at least 20 times faster than the naive loop).
Exit code: 0 when the figures were produced (even if a target is missed), 1 when something broke.

Run: bench/converge_scale   (bench/converge_scale --help for the options)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CONTAINER = "fracto-bench01"
HOST = "bench01"
IMAGE = os.environ.get("FRACTO_LAB_IMAGE", "fracto-lab-base:bookworm")
TLS_MODULE = ROOT / "collections/ansible_collections/fracto/hosting/plugins/modules/tls_certificates.py"
TARGET_RERUN = 15.0
TARGET_RATIO = 20.0
SUBDOMAINS = ("shop", "blog", "app", "api", "dev", "docs", "news", "store")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class Broken(Exception):
    """Something the bench needs failed: no figure can be trusted."""


def log(msg):
    print("[bench] %s" % msg, flush=True)


def exit_on_sigterm():
    """A TERM (make or CI stopping the run) exits through the finally blocks that remove the bench's container."""
    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


# --- the synthetic inventory ---------------------------------------------------------------

def synthetic_clients(n_clients, n_names):
    """{client id: client}: every client one domain with www, the other names as subdomains.

    Subdomains are dealt round-robin so that the total is exactly n_names; every other client
    runs PHP 8.2 (one pool each), the others are static.
    """
    if n_names < 2 * n_clients:
        raise Broken("--names must be at least twice --clients (each client has a domain and its www)")
    subs = [0] * n_clients
    for i in range(n_names - 2 * n_clients):
        subs[i % n_clients] += 1
    if max(subs) > len(SUBDOMAINS) * 8:
        raise Broken("too many names per client for this generator")
    clients = {}
    for i in range(n_clients):
        cid = "cl%03d" % (i + 1)
        labels = ["%s%s" % (SUBDOMAINS[j % len(SUBDOMAINS)], j // len(SUBDOMAINS) or "") for j in range(subs[i])]
        domain = {"aliases": ["www"], "subdomains": labels, "php": "8.2" if i % 2 == 0 else False}
        clients[cid] = {"package": "bench", "web_host": HOST, "domains": {"%s-bench.test" % cid: domain}}
    return clients


def dump_yaml(data, indent=0):
    """A tiny YAML writer for the plain data of the inventory (strings, bools, lists, dicts)."""
    pad = "  " * indent
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            if value:
                lines.append("%s%s:" % (pad, key))
                lines.append(dump_yaml(value, indent + 1))
            else:
                lines.append("%s%s: {}" % (pad, key))
        elif isinstance(value, list):
            lines.append("%s%s: [%s]" % (pad, key, ", ".join(scalar(v) for v in value)))
        else:
            lines.append("%s%s: %s" % (pad, key, scalar(value)))
    return "\n".join(lines)


def scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"%s"' % value


def write_inventory(path, n_clients, n_names):
    """path/platform (the bench host, platform settings) and path/bench (the state of reseller bench, named by its
    directory), as every run reads them."""
    clients = synthetic_clients(n_clients, n_names)
    (path / "platform/group_vars/all").mkdir(parents=True)
    (path / "bench/group_vars/all/clients").mkdir(parents=True)
    (path / "platform/hosts.yml").write_text(
        "---\n# bench/converge_scale: the bench host only (no mail host: the package has no mail)\n"
        "all:\n  vars:\n    ansible_python_interpreter: /usr/bin/python3\n  children:\n    fracto_web:\n      hosts:\n"
        "        %s:\n          ansible_connection: community.docker.docker\n          ansible_host: %s\n" % (HOST, CONTAINER))
    files = {
        "../../../platform/group_vars/all/platform.yml": {"fracto_platform": {"domain": "fracto.test", "php_versions": ["8.2"]},
                                                          "fracto_ip_pool": {}},
        "reseller.yml": {"fracto_reseller": {"name": "bench", "brand_domain": "bench-reseller.test",
                                             "contact_email": "ops@bench-reseller.test"}},
        "packages.yml": {"fracto_packages": {"bench": {"autossl": False, "mail": False}}},
    }
    for cid, client in clients.items():
        files["clients/%s.yml" % cid] = {"fracto_clients__%s" % cid: {cid: client}}
    for name, data in files.items():
        (path / "bench/group_vars/all" / name).write_text("---\n" + dump_yaml(data) + "\n")
    names = sum(2 + len(d["subdomains"]) for c in clients.values() for d in c["domains"].values())
    vhosts = sum(1 + len(d["subdomains"]) for c in clients.values() for d in c["domains"].values())
    php = sum(1 for c in clients.values() if any(d["php"] for d in c["domains"].values()))
    return {"clients": len(clients), "names": names, "vhosts": vhosts, "php_clients": php}


# --- docker -----------------------------------------------------------------------------------

def docker(*args, check=True, capture=True):
    proc = subprocess.run(["docker", *args], capture_output=capture, text=True)
    if check and proc.returncode != 0:
        raise Broken("docker %s failed: %s" % (" ".join(args[:2]), (proc.stderr or proc.stdout).strip()))
    return proc


def remove_container():
    docker("rm", "-f", CONTAINER, check=False)


def start_container(extra=()):
    """Start CONTAINER (systemd, docker's default bridge); extra: more `docker run` options. Returns systemd's state."""
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        log("image %s is missing: scripts/build-base-image.sh" % IMAGE)
        if subprocess.run(["bash", str(ROOT / "scripts/build-base-image.sh")]).returncode != 0:
            raise Broken("scripts/build-base-image.sh failed")
    remove_container()  # a container left by an interrupted bench
    docker("run", "-d", "--name", CONTAINER, "--hostname", "%s.fracto.test" % HOST, "--label", "owner=fracto-bench",
           "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cgroupns=host",
           "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
           *extra, IMAGE, "/lib/systemd/systemd")
    deadline, state = time.monotonic() + 90, ""
    while time.monotonic() < deadline:  # systemd's bus appears a moment after the container starts
        state = docker("exec", CONTAINER, "timeout", "60", "systemctl", "is-system-running", "--wait", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.5)
    if state not in ("running", "degraded"):
        raise Broken("systemd in %s did not come up (state: %r)" % (CONTAINER, state))
    return state


def host_summary():
    script = ("echo vhosts=$(ls /etc/nginx/fracto/sites | wc -l) pools=$(ls /etc/php/*/fpm/pool.d/fracto-*.conf | wc -l)"
              " users=$(awk -F: '$6 ~ \"^/srv/www/\"' /etc/passwd | wc -l)"
              " nginx=$(systemctl is-active nginx) php_fpm=$(systemctl is-active php8.2-fpm)"
              " nginx_t=$(nginx -t >/dev/null 2>&1 && echo ok || echo FAILED)")
    return docker("exec", CONTAINER, "bash", "-c", script, check=False).stdout.strip()


# --- ansible ----------------------------------------------------------------------------------

class Runner:
    def __init__(self, inventory, logs):
        self.inventory, self.logs = inventory, logs
        self.env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
                        ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                        PATH="%s:%s" % (ROOT / ".venv/bin", os.environ.get("PATH", "")))
        self.env.pop("ANSIBLE_INVENTORY", None)

    def run(self, step, playbook, *extra, allow_fail=False):
        """Run one playbook; returns (seconds of wall-clock time, PLAY RECAP of the bench host)."""
        # An inventory folder with platform/ and bench/ (the reseller's) is read as the two inventories of a run.
        if (self.inventory / "bench").is_dir():
            sources = ["-i", str(self.inventory / "platform"), "-e", "fracto_reseller_dir=%s" % (self.inventory / "bench")]
        else:
            sources = ["-i", str(self.inventory)]
        cmd = [str(ROOT / ".venv/bin/ansible-playbook"), *sources, str(BENCH / playbook), *extra]
        logfile = self.logs / ("%s.log" % step)
        start = time.monotonic()
        with open(logfile, "w") as out:
            rc = subprocess.run(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT).returncode
        seconds = time.monotonic() - start
        text = logfile.read_text()
        recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()[1:])))
                 for m in RECAP.finditer(text)}
        if rc != 0 or HOST not in recap or recap[HOST]["failed"] or recap[HOST]["unreachable"]:
            tail = "\n".join(text.rstrip().splitlines()[-25:])
            if allow_fail:
                return None, tail
            raise Broken("%s: ansible-playbook %s failed (rc %d); last lines of %s:\n%s" % (step, playbook, rc, logfile, tail))
        log("%-28s %7.1f s  (%s: ok=%d changed=%d)" % (step, seconds, HOST, recap[HOST]["ok"], recap[HOST]["changed"]))
        return seconds, recap[HOST]


# --- the bench --------------------------------------------------------------------------------

def bench(args, workdir):
    inventory, logs = workdir / "inventory", workdir / "logs"
    logs.mkdir()
    shape = write_inventory(inventory, args.clients, args.names)
    log("synthetic reseller: %(clients)d clients, %(names)d names, %(vhosts)d vhosts, %(php_clients)d clients with PHP 8.2" % shape)
    log("starting %s from %s on docker's default bridge" % (CONTAINER, IMAGE))
    log("systemd in %s: %s" % (CONTAINER, start_container()))
    runner = Runner(inventory, logs)

    mode, mode_note = args.mode, ""
    if mode == "auto":
        mode = "role" if TLS_MODULE.exists() else "module"
        if mode == "module":
            mode_note = "fracto.hosting.tls_certificates does not exist yet, so the fracto_web role cannot run"
    log("preparing the host (apt: nginx php8.2-fpm python3-acme python3-cryptography python3-jinja2), mode %s" % mode)
    seconds, outcome = runner.run("prepare", "prepare.yml", "-e", "bench_mode=%s" % mode, allow_fail=(args.mode == "auto" and mode == "role"))
    if seconds is None:
        mode_note = "the fracto_web role failed on the bench host, last lines of its run:\n%s\n" % outcome
        mode = "module"
        runner.run("prepare", "prepare.yml", "-e", "bench_mode=module")
    elif mode == "role":
        mode_note = "apt, web_sites, tls_certificates with no certificate to order, handlers"
    mode_arg = ("-e", "bench_mode=%s" % mode)

    fig, notes = {}, []
    fig["first"], first = runner.run("a_first_converge", "converge_scale.yml", *mode_arg)
    if not first["changed"]:
        notes.append("the first converge reported no change")
    after_first = host_summary()
    fig["rerun"], rerun = runner.run("b_idempotent_rerun", "converge_scale.yml", *mode_arg)
    fig["check"], check = runner.run("c_check", "converge_scale.yml", "--check", *mode_arg)
    if mode == "role":  # the share of web_sites alone in the role's rerun
        fig["rerun_module"], rerun_module = runner.run("b2_rerun_web_sites_alone", "converge_scale.yml", "-e", "bench_mode=module")
        if rerun_module["changed"]:
            notes.append("web_sites called alone after the role reported changed=%d" % rerun_module["changed"])

    total = shape["vhosts"]
    sample = total if args.naive_sample in ("all", "-1") else min(int(args.naive_sample), total)
    _, naive_first = runner.run("d_naive_converge_n%d" % sample, "naive_vhosts.yml", "-e", "bench_naive_limit=%d" % sample)
    fig["naive_sample"], naive = runner.run("d_naive_rerun_n%d" % sample, "naive_vhosts.yml", "-e", "bench_naive_limit=%d" % sample)
    if sample < total:
        fig["naive_fixed"], _ = runner.run("d_naive_rerun_n0", "naive_vhosts.yml", "-e", "bench_naive_limit=0")
        per_vhost = max(fig["naive_sample"] - fig["naive_fixed"], 0.0) / max(sample, 1)
        fig["naive"] = fig["naive_fixed"] + per_vhost * total
    else:
        per_vhost = fig["naive_sample"] / max(total, 1)
        fig["naive"] = fig["naive_sample"]
    final = host_summary()
    return dict(shape=shape, mode=mode, mode_note=mode_note, fig=fig, sample=sample, per_vhost=per_vhost,
                changed={"first": first["changed"], "rerun": rerun["changed"], "check": check["changed"],
                         "naive_first": naive_first["changed"], "naive_rerun": naive["changed"]},
                after_first=after_first, final=final, notes=notes)


def report(r, command):
    fig, ch, shape = r["fig"], r["changed"], r["shape"]
    ratio = fig["naive"] / fig["rerun"] if fig["rerun"] > 0 else float("inf")
    extrapolated = r["sample"] < shape["vhosts"]
    print()
    print("fracto.hosting converge at scale: %d clients, %d names, %d vhosts, %d PHP-FPM pools, one host (%s)"
          % (shape["clients"], shape["names"], shape["vhosts"], shape["php_clients"], CONTAINER))
    print("command: %s" % command)
    print("converge: %s" % ("the fracto_web role" if r["mode"] == "role" else "fracto.hosting.web_sites alone, once (the role's tasks/sites.yml)"))
    if r["mode_note"]:
        print("          (%s)" % r["mode_note"])
    print("times are wall-clock seconds of a whole ansible-playbook run (start-up, state resolution on the controller, host)")
    if r["smoke"]:
        print("(smoke run: a tiny size that checks the bench works; the figures are printed, not judged)")
    print()
    rows = [
        ("(a) first converge", fig["first"], "changed=%d (tasks and handlers)" % ch["first"]),
        ("(b) idempotent rerun", fig["rerun"], "changed=%d%s" % (ch["rerun"], "" if ch["rerun"] == 0 else "  NOT IDEMPOTENT")),
        ("(c) --check", fig["check"], "changed=%d" % ch["check"]),
    ]
    if "rerun_module" in fig:
        rows.append(("(b2) rerun, web_sites alone", fig["rerun_module"], "the same playbook without the role's other tasks"))
    if extrapolated:
        rows += [
            ("(d) naive rerun, %d vhosts" % r["sample"], fig["naive_sample"], "measured, changed=%d" % ch["naive_rerun"]),
            ("    naive, empty loop", fig["naive_fixed"], "measured (start-up and resolution)"),
            ("(d) naive rerun, %d vhosts" % shape["vhosts"], fig["naive"],
             "EXTRAPOLATED: %.1f + %.3f s/vhost x %d" % (fig["naive_fixed"], r["per_vhost"], shape["vhosts"])),
        ]
    else:
        rows.append(("(d) naive rerun, %d vhosts" % shape["vhosts"], fig["naive"], "measured, changed=%d" % ch["naive_rerun"]))
    width = max(len(row[0]) for row in rows)
    print("%-*s  %9s  %s" % (width, "step", "seconds", "note"))
    for name, seconds, note in rows:
        print("%-*s  %9.1f  %s" % (width, name, seconds, note))
    print()
    print("ratio naive_rerun / module_rerun: %.1f%s%s" % (
        ratio, " with the role's rerun (b)" if r["mode"] == "role" else "",
        " (naive extrapolated from a sample of %d vhosts)" % r["sample"] if extrapolated else ""))
    if "rerun_module" in fig:
        print("ratio naive_rerun / web_sites alone (b2): %.1f" % (fig["naive"] / fig["rerun_module"]))
    agree = "yes" if ch["naive_first"] == 0 else "NO (%d of the %d sampled files differed)" % (ch["naive_first"], r["sample"])
    print("naive template renders the module's vhost files byte for byte: %s" % agree)
    print("host after the first converge: %s" % r["after_first"])
    for note in r["notes"]:
        print("note: %s" % note)
    checks = [
        ("idempotent rerun < %.0f s" % TARGET_RERUN, fig["rerun"] < TARGET_RERUN, "%.1f s" % fig["rerun"]),
        ("idempotent rerun changed=0", ch["rerun"] == 0, "changed=%d" % ch["rerun"]),
        ("--check changed=0 after converge", ch["check"] == 0, "changed=%d" % ch["check"]),
        ("naive / module >= %.0f" % TARGET_RATIO, ratio >= TARGET_RATIO, "%.1f" % ratio),
    ]
    print()
    for name, ok, value in checks:
        print("%-4s %s (%s)" % ("PASS" if ok else "FAIL", name, value))
    print("%s: %s" % ("PASS" if all(ok for _, ok, _ in checks) else "FAIL", "targets of issue 3"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--clients", type=int, default=300, help="clients of the synthetic reseller (default 300)")
    parser.add_argument("--names", type=int, default=1000, help="names in total, domains + www + subdomains (default 1000)")
    parser.add_argument("--naive-sample", default="100",
                        help="vhosts the naive loop really renders, extrapolated to all of them; 'all' to time every vhost (default 100)")
    parser.add_argument("--mode", choices=("auto", "role", "module"), default="auto",
                        help="auto: the fracto_web role when tls_certificates exists and works on the host, else web_sites directly")
    parser.add_argument("--keep", action="store_true", help="keep the container and the work directory (for a look afterwards)")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run (3 clients, 8 names, a naive sample of 2) that checks the bench works: figures printed, not judged")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.names, args.naive_sample = 3, 8, "2"
    if args.naive_sample not in ("all", "-1") and not args.naive_sample.isdigit():
        parser.error("--naive-sample: a number of vhosts or 'all'")
    if shutil.which("docker") is None:
        print("bench: docker is not installed (scripts/ensure-docker.sh)", file=sys.stderr)
        return 1

    exit_on_sigterm()
    command = " ".join(["bench/converge_scale", *sys.argv[1:]])
    workdir = Path(tempfile.mkdtemp(prefix="fracto-bench-"))
    start = time.monotonic()
    try:
        result = bench(args, workdir)
        report(dict(result, smoke=args.smoke), command)
        print("whole bench: %.0f s" % (time.monotonic() - start))
        return 0
    except Broken as exc:
        print("bench BROKEN: %s" % exc, file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log("kept: container %s, work directory %s" % (CONTAINER, workdir))
        else:
            remove_container()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
