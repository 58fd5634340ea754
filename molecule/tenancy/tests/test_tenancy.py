"""Tenant isolation on shared hosts (issue 12): resellers alpha and beta (and the demo) on cloud01 and mail01.

The order of the tests matters: the converge is checked first, then the cross-tenant reads, then the converge-time
attacks (hostile values given straight to the writer modules), and last alpha's prune, which ends by converging
alpha again so that the lab is as converge.yml left it (and a later converge changes nothing).
"""

import base64
import http.client
import imaplib
import json
import os
import re
import shutil
import ssl
import subprocess
import uuid

import pytest
import testinfra
import yaml
from ansible_collections.fracto.hosting.tests.unit.plugins.module_utils.role_templates import template_paths
from attacks import ATTACKS
from conftest import PROJECT

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
HOSTS = {"cloud01": CLOUD01, "mail01": MAIL01}
SCENARIO = PROJECT / "molecule" / "tenancy"
RESELLERS = SCENARIO / "resellers"
LOGS = PROJECT / ".fracto" / "tenancy"
PLAIN = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0"}

# What each reseller has (resellers/<r>/group_vars/all/clients/*.yml).
SITES = {"alpha1": ["alpha1.test"], "alpha2": ["alpha2.test"], "beta1": ["beta1.test", "shop.beta1.test"]}
MAILBOXES = {"alpha1": ["info@alpha1.test"], "alpha2": ["hello@alpha2.test"], "beta1": ["info@beta1.test", "sales@beta1.test"]}
DATABASES = {"alpha1": "alpha1_db", "alpha2": "alpha2_db", "beta1": "beta1_db"}
ALIASES = {"alpha2": "contact@alpha2.test", "beta1": "contact@beta1.test"}
BRANDS = {"alpha": "alpha-hosting.test", "beta": "beta-hosting.test"}
CLIENTS = {"alpha": ["alpha1", "alpha2"], "beta": ["beta1"]}
# What marks alpha's objects in a shared file (alpha's domains and brand).
ALPHA_MARKS = ("alpha1", "alpha2", "alpha-hosting")

NGINX_SITES = "/etc/nginx/fracto/sites"
USERS_FILE = "/etc/dovecot/fracto/users"
MAPS = ["/etc/postfix/fracto/%s" % m for m in ("domains", "mailboxes", "aliases", "sni", "sender_transports")]


def secrets(reseller):
    return yaml.safe_load((RESELLERS / reseller / "group_vars" / "all" / "vault_secrets.yml").read_text())


def pool_file(client):
    return "/etc/php/8.2/fpm/pool.d/fracto-%s.conf" % client


def sh(host, command):
    """Output of a command that must succeed on the host."""
    return host.check_output(command)


def demo_present():
    return CLOUD01.file("/var/lib/fracto/state/demo.json").exists


def site(inventory, tmp_path, *extra):
    """site.yml for one reseller's state directory, on the platform inventory; returns (rc, plain output)."""
    command = ["ansible-playbook", "-i", INVENTORY, "-e", "fracto_reseller_dir=%s" % inventory, str(PROJECT / "playbooks" / "site.yml"),
               "-e", "fracto_report_dir=%s" % tmp_path] + list(extra)
    run = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=1800, check=False,
                         env=dict(os.environ, **PLAIN))
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)


# --------------------------------------------------------------------------- a. both converges complete

def test_both_resellers_converged_at_the_same_time():
    runs = json.loads((LOGS / "runs.json").read_text())
    assert sorted(runs) == ["alpha", "beta"]
    for reseller, run in runs.items():
        assert run["rc"] == 0, reseller
        log = (LOGS / ("%s.log" % reseller)).read_text()
        recap = log.split("PLAY RECAP")[-1]
        assert "cloud01" in recap and "mail01" in recap and "failed=0" in recap, log[-3000:]
    alpha, beta = runs["alpha"], runs["beta"]
    # Two processes, their lifetimes overlapping: each started before the other ended.
    assert alpha["start"] < beta["end"] and beta["start"] < alpha["end"], runs


def test_each_resellers_records_are_on_both_hosts():
    for reseller in ("alpha", "beta"):
        for host in HOSTS.values():
            record = json.loads(host.file("/var/lib/fracto/state/%s.json" % reseller).content_string)
            clients = {o["client"] for o in record["objects"].values()}
            assert set(CLIENTS[reseller]) <= clients, (reseller, clients)
        assert MAIL01.file("/etc/fracto/mail/resellers/%s.json" % reseller).exists


@pytest.mark.parametrize("client", sorted(SITES))
def test_each_site_answers_on_cloud01(cloud01_address, client):
    for name in SITES[client]:
        connection = http.client.HTTPConnection(cloud01_address, 80, timeout=10)
        connection.request("GET", "/", headers={"Host": name})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        assert response.status == 200 and "<title>%s</title>" % name in body, (name, response.status, body[:300])
        connection.close()


@pytest.mark.parametrize("client", sorted(SITES))
def test_each_pool_runs_as_its_client(cloud01_address, client):
    pool = CLOUD01.file(pool_file(client)).content_string
    assert "\nuser = %s\ngroup = %s\n" % (client, client) in pool
    passwd = CLOUD01.user(client)
    assert passwd.exists and passwd.home == "/srv/www/%s" % client and passwd.uid >= 1000
    home = CLOUD01.file("/srv/www/%s" % client)
    assert (home.user, home.group, home.mode) == (client, "www-data", 0o2750)
    name = SITES[client][0]
    script = "/srv/www/%s/%s/public/tenancy-whoami.php" % (client, name)
    write_as(client, script, '<?php echo posix_getpwuid(posix_geteuid())["name"];')
    try:
        connection = http.client.HTTPConnection(cloud01_address, 80, timeout=10)
        connection.request("GET", "/tenancy-whoami.php", headers={"Host": name})
        response = connection.getresponse()
        assert response.status == 200 and response.read().decode() == client
        workers = CLOUD01.check_output("ps -eo user:32,args | grep '[p]hp-fpm: pool %s-8.2' || true" % client)
        assert workers and all(line.split()[0] == client for line in workers.splitlines()), workers
    finally:
        CLOUD01.run("rm -f %s" % script)


@pytest.mark.parametrize("client", sorted(MAILBOXES))
def test_each_mailbox_exists(client):
    users = MAIL01.file(USERS_FILE).content_string
    for address in MAILBOXES[client]:
        local, domain = address.split("@")
        assert re.search(r"^%s:\{CRYPT\}\$6\$[^:\n]*:::client=%s:/var/vmail/%s/%s:" % (
            re.escape(address), client, re.escape(domain), re.escape(local)), users, re.M), address
        info = MAIL01.check_output("doveadm user -f home %s" % address)
        assert info == "/var/vmail/%s/%s" % (domain, local)


@pytest.mark.parametrize("client", sorted(DATABASES))
def test_each_database_exists_with_its_user(client):
    database = DATABASES[client]
    found = CLOUD01.check_output("mariadb -N -e \"SHOW DATABASES LIKE '%s'\"" % database.replace("_", "\\\\_"))
    assert found == database
    reseller = "alpha" if client.startswith("alpha") else "beta"
    password = secrets(reseller)["vault_%s_db_password" % client]
    run = CLOUD01.run("MYSQL_PWD=%s mariadb -u %s -N -e 'SELECT DATABASE()' %s" % (quote(password), database, database))
    assert run.rc == 0 and run.stdout.strip() == database, run.stderr


def quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def write_as(user, path, content):
    """Write a file on cloud01 as the client (umask 027: group www-data reads, as the client's own uploads)."""
    encoded = base64.b64encode(content.encode()).decode()
    CLOUD01.check_output("runuser -u %s -- sh -c %s" % (user, quote("umask 027; echo %s | base64 -d > %s" % (encoded, path))))


# --------------------------------------------------------------------------- c. cross-tenant reads

@pytest.fixture(scope="module")
def beta_secret_file():
    """A file of beta1 in its docroot, written as beta1 (as its own PHP would)."""
    token = "beta-secret-%s" % uuid.uuid4().hex
    path = "/srv/www/beta1/beta1.test/public/tenancy-secret.txt"
    write_as("beta1", path, token)
    yield path, token
    CLOUD01.run("rm -f %s" % path)


@pytest.mark.parametrize("command", [
    "cat {path}",
    "ls /srv/www/beta1",
    "ls /srv/www/beta1/beta1.test/public",
    "head -c 100 /srv/www/beta1/beta1.test/public/index.html",
    "cat /srv/www/.logs/beta1/access.log",
    "ls /srv/www/.logs/beta1",
    "ls /var/lib/mysql/beta1_db",
    "ls /srv/www/beta1/tmp",
])
def test_alphas_user_cannot_read_betas_files(beta_secret_file, command):
    path, token = beta_secret_file
    run = CLOUD01.run("runuser -u alpha1 -- %s" % command.format(path=path))
    assert run.rc != 0 and token not in run.stdout and "Permission denied" in run.stderr, (run.rc, run.stdout, run.stderr)


def test_alphas_php_cannot_read_betas_files(cloud01_address, beta_secret_file):
    path, token = beta_secret_file
    script = "/srv/www/alpha1/alpha1.test/public/tenancy-steal.php"
    php = ("<?php header('Content-Type: text/plain');"
           " echo 'read=', (@file_get_contents('%s') === false ? 'denied' : 'LEAKED'), \"\\n\";"
           " echo 'list=', (@scandir('/srv/www/beta1') === false ? 'denied' : 'LEAKED'), \"\\n\";"
           " echo 'exec=', @shell_exec('cat %s 2>&1; id -un'), \"\\n\";" % (path, path))
    write_as("alpha1", script, php)
    try:
        connection = http.client.HTTPConnection(cloud01_address, 80, timeout=10)
        connection.request("GET", "/tenancy-steal.php", headers={"Host": "alpha1.test"})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        CLOUD01.run("rm -f %s" % script)
    assert response.status == 200, body
    assert token not in body and "LEAKED" not in body, body
    assert "read=denied" in body and "list=denied" in body, body
    if "exec=" in body and body.split("exec=", 1)[1].strip():
        assert "alpha1" in body.split("exec=", 1)[1], body  # a shell of the pool runs as alpha1 and is denied too


def test_alphas_database_user_cannot_reach_betas_database():
    password = secrets("alpha")["vault_alpha1_db_password"]
    run = CLOUD01.run("MYSQL_PWD=%s mariadb -u alpha1_db -N -e 'SELECT COUNT(*) FROM information_schema.tables' beta1_db"
                      % quote(password))
    assert run.rc != 0 and "denied" in run.stderr.lower(), run.stderr
    run = CLOUD01.run("MYSQL_PWD=%s mariadb -u alpha1_db -N -e 'SHOW DATABASES'" % quote(password))
    assert run.rc == 0 and "beta1_db" not in run.stdout and "cliente" not in run.stdout, run.stdout


# Dovecot delays the answers to an address whose logins failed (up to 15 s each): the tests make several on purpose.
IMAP_TIMEOUT = 90


def unverified():
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


@pytest.fixture(scope="module")
def beta_message():
    """A message in beta's INBOX, with a token only it carries."""
    token = "tenancy-%s" % uuid.uuid4().hex
    MAIL01.check_output("printf 'From: probe@beta1.test\\r\\nSubject: %s\\r\\n\\r\\nbeta only %s\\r\\n' | doveadm save -u info@beta1.test"
                        % (token, token))
    yield token
    MAIL01.run("doveadm expunge -u info@beta1.test mailbox INBOX subject %s" % token)


def test_alphas_password_does_not_open_betas_mailbox(mail01_address, beta_message):
    alpha_password = secrets("alpha")["vault_alpha1_info_password"]
    for login in ("info@beta1.test", "sales@beta1.test", "info@beta1.test*info@alpha1.test", "info@alpha1.test*info@beta1.test"):
        with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=IMAP_TIMEOUT) as imap:
            with pytest.raises(imaplib.IMAP4.error):
                imap.login(login, alpha_password)
    # SASL PLAIN with beta's mailbox as the authorization identity (only a master user may do that).
    with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=IMAP_TIMEOUT) as imap:
        message = b"info@beta1.test\0info@alpha1.test\0" + alpha_password.encode()
        with pytest.raises(imaplib.IMAP4.error):
            imap.authenticate("PLAIN", lambda _challenge: message)
    # Beta's own password does work (the mailbox is there).
    with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=IMAP_TIMEOUT) as imap:
        imap.login("info@beta1.test", secrets("beta")["vault_beta1_info_password"])
        imap.select("INBOX", readonly=True)
        _typ, data = imap.search(None, "SUBJECT", beta_message)
        assert data[0].split()


SELECTS = ["../../beta1.test/info/Maildir", "../beta1.test/info", "/var/vmail/beta1.test/info/Maildir", "~/../../beta1.test/info",
           "#shared/info@beta1.test/INBOX", "shared/info@beta1.test", "info@beta1.test", "Other Users/info@beta1.test/INBOX",
           "..", "../../../beta1.test/info/Maildir/cur"]


def test_a_logged_in_alpha_user_cannot_select_or_list_betas_mail(mail01_address, beta_message):
    with imaplib.IMAP4_SSL(mail01_address, 993, ssl_context=unverified(), timeout=IMAP_TIMEOUT) as imap:
        imap.login("info@alpha1.test", secrets("alpha")["vault_alpha1_info_password"])
        _typ, listed = imap.list('""', "*")
        assert "beta" not in str(listed) and "cliente" not in str(listed), listed
        for pattern in ("../*", "%/../*", "/var/vmail/*", "~*", "#shared/*", "*/*/*"):
            _typ, data = imap.list('""', pattern)
            assert not any(line and b"beta" in line for line in data), (pattern, data)
        for name in SELECTS:
            typ, data = imap.select('"%s"' % name, readonly=True)
            if typ == "OK":  # a name Dovecot maps inside alpha's own Maildir may open; it must not hold beta's mail
                _typ, found = imap.search(None, "TEXT", beta_message)
                assert not found[0].split(), (name, data)
                imap.close()
            else:
                assert typ in ("NO", "BAD"), (name, typ, data)
        for folder in [re.split(rb' "/" ', line, maxsplit=1)[-1].strip(b'"').decode() for line in listed if isinstance(line, bytes)]:
            typ, _data = imap.select('"%s"' % folder, readonly=True)
            if typ == "OK":
                _typ, found = imap.search(None, "TEXT", beta_message)
                assert not found[0].split(), folder
                imap.close()


# --------------------------------------------------------------------------- d. converge-time attacks

def call(host, module, args, check=False):
    """fracto.hosting.<module> on the host, ad hoc, with JSON arguments; returns (rc, plain output)."""
    command = ["ansible", host, "-i", INVENTORY, "-m", "fracto.hosting.%s" % module, "-a", json.dumps(args)]
    if check:
        command.append("--check")
    run = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=300, check=False,
                         env=dict(os.environ, **PLAIN))
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)


# Trees no attack may change, digested per entry (so that a difference names the directory): every file of /etc
# (content, mode, owner, links), the platform's records and tools, root's SSH files, the other tenants' trees.
TREES = {
    "cloud01": "/etc/* /var/lib/fracto/* /usr/local/sbin /root/.ssh /srv/www/*",
    "mail01": "/etc/* /var/lib/fracto/* /usr/local/sbin /root/.ssh /var/vmail/*",
}
OWN_TREES = ("/srv/www/alpha1", "/var/vmail/alpha1.test")  # the attacker's own tree may change


def fingerprint(name):
    """{what: digest} of the host: each tree of TREES, its addresses, on cloud01 MariaDB's accounts, grants and
    schemas, and the marker files an injected command would leave (listed)."""
    host = HOSTS[name]
    tree = ("{ find \"$d\" -xdev -printf '%p %y %m %u %g %l\\n' | sort; "
            "find \"$d\" -xdev -type f -print0 | sort -z | xargs -0r sha256sum; } 2>&1 | sha256sum | cut -c1-16")
    script = "for d in %s; do [ -e \"$d\" ] || continue; echo \"$d=$(%s)\"; done; " % (TREES[name], tree)
    script += "echo addresses=$(ip -o addr show | awk '{print $2, $3, $4}' | sort | sha256sum | cut -c1-16); "
    if name == "cloud01":
        script += ("echo mariadb=$(mariadb -N -e 'SELECT user, host, authentication_string FROM mysql.user ORDER BY 1, 2; "
                   "SELECT * FROM mysql.db ORDER BY 1, 2, 3; SHOW DATABASES' 2>&1 | sha256sum | cut -c1-16); ")
    script += "echo markers=$(ls -d /tmp/pwned* /var/tmp/pwned* /pwned* /root/pwned* /etc/cron.d/pwned* 2>/dev/null)"
    out = host.check_output("bash -c %s" % quote(script))
    return {k: v for k, v in (line.split("=", 1) for line in out.splitlines() if "=" in line) if k not in OWN_TREES}


def _sources(role):
    """{key: a lookup of the role's template file}, the keys and files the role's own call site passes (read on the
    controller, role_templates.template_paths): a template added to the role reaches the attacks without an edit here."""
    return {key: "{{ lookup('ansible.builtin.file', '%s', rstrip=false) }}" % path for key, path in template_paths(role).items()}


# The writer modules render the roles' templates: every call gets them, as the roles pass them (module_defaults); they
# are the only templated values of the attacks' playbook, never an attack's own.
ROLE_TEMPLATES = {
    "fracto.hosting.web_sites": {"templates": _sources("fracto_web")},
    "fracto.hosting.mail_server": {"templates": _sources("fracto_mail")},
}


def run_attacks(calls, check):
    """Every (ident, host, module, args) of calls in ONE ansible-playbook run (one play per host, each call a task
    that may fail); returns {ident: (failed, plain output of the task)}. One run instead of one per call: the
    module's refusal is the same, the suite takes minutes less."""
    plays = []
    for host in HOSTS:
        tasks = [{"name": ident, "fracto.hosting.%s" % module: args, "ignore_errors": True}
                 for ident, on, module, args in calls if on == host]
        if tasks:
            plays.append({"name": "attacks on %s" % host, "hosts": host, "gather_facts": False,
                          "check_mode": check, "module_defaults": ROLE_TEMPLATES, "tasks": tasks})
    text = yaml.safe_dump([args for _ident, _on, _module, args in calls], sort_keys=False)
    assert "{{" not in text and "{%" not in text, "an attack value would be templated by the playbook, not given as is"
    text = yaml.safe_dump(plays, sort_keys=False)
    playbook = PROJECT / ".fracto" / ("tenancy-attacks-%s.yml" % ("check" if check else "run"))
    playbook.parent.mkdir(exist_ok=True)
    playbook.write_text(text)
    run = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(playbook)], capture_output=True, text=True,
                         cwd=PROJECT, timeout=1200, check=False,
                         env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", **PLAIN))
    assert run.returncode in (0, 2) and run.stdout.lstrip().startswith("{"), run.stdout[-3000:] + run.stderr[-3000:]
    results = {}
    for play in json.loads(run.stdout)["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                results[task["task"]["name"]] = (bool(result.get("failed")) or bool(result.get("unreachable")),
                                                 json.dumps(result, sort_keys=True))
    return results


def escapes(before, after):
    """The host:part digests that differ, and the marker files that appeared, between two fingerprints."""
    escaped = {"%s:%s" % (name, part) for name in HOSTS for part in set(before[name]) | set(after[name])
               if before[name].get(part) != after[name].get(part) and part != "markers"}
    markers = {name: after[name]["markers"] for name in HOSTS if after[name]["markers"] != before[name]["markers"]}
    return escaped, markers


@pytest.fixture(scope="module")
def attacks():
    """The harmless twins (check mode: they must pass, so a refusal is the hostile value's and not a badly shaped
    call), then every hostile call, the hosts fingerprinted before and after the whole batch."""
    for host in HOSTS.values():
        host.run("rm -rf /tmp/pwned* /var/tmp/pwned*")
    benign = run_attacks([(a[0], a[1], a[2], a[3]) for a in ATTACKS], check=True)
    before = {name: fingerprint(name) for name in HOSTS}
    hostile = run_attacks([(a[0], a[1], a[2], a[4]) for a in ATTACKS], check=False)
    after = {name: fingerprint(name) for name in HOSTS}
    return benign, hostile, escapes(before, after)


def attack_alone(host, module, args):
    """One hostile call between two fingerprints: which attack escaped, once the batch saw an escape."""
    before = {name: fingerprint(name) for name in HOSTS}
    rc, out = call(host, module, args)
    return escapes(before, {name: fingerprint(name) for name in HOSTS}), rc, out


@pytest.mark.parametrize("ident, host, module, benign, hostile", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_a_hostile_value_given_to_a_module_is_refused_and_nothing_escapes(attacks, ident, host, module, benign, hostile):
    twins, results, (escaped, markers) = attacks
    failed, out = twins[ident]
    assert not failed, "%s: the harmless twin of the call fails, fix the test: %s" % (ident, out[-2000:])
    if escaped or markers:  # the batch changed a host: this attack alone, to name the one that did
        (escaped, markers), rc, alone = attack_alone(host, module, hostile)
        assert not markers, "%s: a command ran, its marker is there: %s" % (ident, markers)
        assert not escaped, "%s: the call changed %s (rc=%d): %s" % (ident, ", ".join(sorted(escaped)), rc, alone[-1500:])
    failed, out = results[ident]
    assert failed and '"unreachable": true' not in out, "%s: the hostile call was accepted: %s" % (ident, out[-1500:])
    assert '"msg"' in out, "%s: the refusal names no rule: %s" % (ident, out[-1500:])


# --------------------------------------------------------------------------- b. alpha's prune leaves beta (and the demo) intact

def others_of(content):
    """The lines of a shared file that are not alpha's."""
    return [line for line in (content or "").splitlines() if not any(mark in line for mark in ALPHA_MARKS)]


def read_files(host, pattern):
    """{path: content} of the files matching a shell pattern."""
    paths = host.check_output("ls -1d %s 2>/dev/null || true" % pattern).split()
    return {p: host.file(p).content_string for p in paths}


def not_alphas(files):
    """The files whose first line does not mark them as alpha's (managed files name their reseller and client)."""
    return {p: c for p, c in files.items() if not any(mark in p for mark in ALPHA_MARKS) and "reseller=alpha " not in c.split("\n", 1)[0]}


def others_snapshot():
    """Every object on cloud01 and mail01 that is not alpha's: beta's, the demo's, the platform's."""
    non_alpha_users = [u for u in ["beta1"] + (["cliente1", "cliente2", "cliente3"] if demo_present() else [])]
    cloud = {
        "vhosts": not_alphas(read_files(CLOUD01, NGINX_SITES + "/*.conf")),
        "pools": not_alphas(read_files(CLOUD01, "/etc/php/*/fpm/pool.d/fracto-*.conf")),
        "users": {u: CLOUD01.check_output("getent passwd %s" % u) for u in non_alpha_users},
        "files": {u: CLOUD01.check_output("cd /srv/www/%s && find . -xdev -type f -print0 | sort -z | xargs -0r sha256sum" % u)
                  for u in non_alpha_users},
        "records": {p: c for p, c in read_files(CLOUD01, "/var/lib/fracto/state/*.json").items() if not p.endswith("/alpha.json")},
        "databases": others_of(CLOUD01.check_output("mariadb -N -e 'SHOW DATABASES'")),
        "db_users": others_of(CLOUD01.check_output("mariadb -N -e 'SELECT user, host FROM mysql.user ORDER BY 1, 2'")),
        "certificates": CLOUD01.check_output("ls -1 /etc/fracto/tls | grep -v alpha || true"),
    }
    mail = {
        "passwd-file": others_of(MAIL01.file(USERS_FILE).content_string),
        "maps": {p: others_of(MAIL01.file(p).content_string) for p in MAPS},
        "postfix": {p: others_of(MAIL01.file(p).content_string) for p in ("/etc/postfix/main.cf", "/etc/postfix/master.cf")},
        "dovecot": others_of(MAIL01.file("/etc/dovecot/dovecot.conf").content_string),
        "webmail": not_alphas(read_files(MAIL01, NGINX_SITES + "/webmail.*.conf")),
        "roundcube": {p: others_of(c) for p, c in read_files(MAIL01, "/etc/roundcube/config.inc.php /etc/roundcube/fracto-*.inc.php").items()
                      if "alpha" not in p},
        "mail_records": {p: c for p, c in read_files(MAIL01, "/etc/fracto/mail/resellers/*.json").items() if not p.endswith("/alpha.json")},
        "records": {p: c for p, c in read_files(MAIL01, "/var/lib/fracto/state/*.json").items() if not p.endswith("/alpha.json")},
        "certificates": MAIL01.check_output("cd /etc/fracto/tls && for c in $(ls -1 | grep -v alpha); do echo $c; cat $c/meta.json 2>/dev/null; done"),
        "maildirs": MAIL01.check_output("cd /var/vmail && find . -xdev -path './alpha*' -prune -o -type d -name cur -print | sort"),
    }
    return {"cloud01": cloud, "mail01": mail}


def assert_betas_objects_are_there():
    """Beta's objects are each on the hosts (so that an unchanged snapshot is not an empty one)."""
    assert CLOUD01.file(NGINX_SITES + "/beta1.test.conf").exists and CLOUD01.file(NGINX_SITES + "/shop.beta1.test.conf").exists
    assert CLOUD01.file(pool_file("beta1")).exists and CLOUD01.user("beta1").exists
    assert CLOUD01.file("/srv/www/beta1/beta1.test/public/index.html").exists
    users = MAIL01.file(USERS_FILE).content_string
    assert all(re.search("^%s:" % re.escape(a), users, re.M) for a in MAILBOXES["beta1"])
    assert MAIL01.check_output("postmap -q beta1.test lmdb:/etc/postfix/fracto/domains")
    assert MAIL01.check_output("postmap -q contact@beta1.test lmdb:/etc/postfix/fracto/aliases") == "info@beta1.test,sales@beta1.test"
    assert "mail.beta-hosting.test " in MAIL01.file("/etc/postfix/fracto/sni").content_string
    assert "local_name mail.beta-hosting.test {" in MAIL01.file("/etc/dovecot/dovecot.conf").content_string
    assert MAIL01.file(NGINX_SITES + "/webmail.beta-hosting.test.conf").exists
    assert MAIL01.file("/etc/roundcube/fracto-webmail.beta-hosting.test.inc.php").exists
    if demo_present():
        # The demo's dedicated sending address: its sender transport.
        assert MAIL01.check_output("postmap -q @cliente2.test lmdb:/etc/postfix/fracto/sender_transports") == "smtp-198-51-100-102:"
        assert MAIL01.file(NGINX_SITES + "/webmail.dominioreseller.test.conf").exists


def alpha2_objects():
    """Where alpha2 is on the hosts: each entry is True while it is there."""
    users = MAIL01.file(USERS_FILE).content_string
    return {
        "vhost": CLOUD01.file(NGINX_SITES + "/alpha2.test.conf").exists,
        "pool": CLOUD01.file(pool_file("alpha2")).exists,
        "mailbox": bool(re.search(r"^hello@alpha2\.test:", users, re.M)),
        "mail domain": MAIL01.run("postmap -q alpha2.test lmdb:/etc/postfix/fracto/domains").rc == 0,
        "alias": MAIL01.run("postmap -q contact@alpha2.test lmdb:/etc/postfix/fracto/aliases").rc == 0,
        "record": "alpha2" in CLOUD01.file("/var/lib/fracto/state/alpha.json").content_string,
    }


def test_a_name_alpha_serves_is_refused_to_beta_before_any_file_is_written(tmp_path):
    """beta asks for www.alpha1.test (alpha1.test's alias on cloud01) as a site of its own: host_state refuses it on
    cloud01 (a host name another reseller serves), before nginx, the certificate store or anything else is touched."""
    taken = "www.alpha1.test"
    before = {"sites": sh(CLOUD01, "ls -1 %s" % NGINX_SITES), "alpha": CLOUD01.file(NGINX_SITES + "/alpha1.test.conf").content_string,
              "tls": sh(CLOUD01, "ls -1 /etc/fracto/tls"), "record": CLOUD01.file("/var/lib/fracto/state/beta.json").content_string}
    hostile = tmp_path / "beta"
    shutil.copytree(RESELLERS / "beta", hostile)
    client = hostile / "group_vars" / "all" / "clients" / "beta1.yml"
    state = yaml.safe_load(client.read_text())
    state["fracto_clients__beta1"]["beta1"]["domains"][taken] = {"php": "8.2"}
    client.write_text(yaml.safe_dump(state))
    rc, out = site(hostile, tmp_path, "--limit", "localhost,cloud01")
    assert rc != 0
    assert "host name %s is served by reseller alpha here (client alpha1)" % taken in out, out[-3000:]
    after = {"sites": sh(CLOUD01, "ls -1 %s" % NGINX_SITES), "alpha": CLOUD01.file(NGINX_SITES + "/alpha1.test.conf").content_string,
             "tls": sh(CLOUD01, "ls -1 /etc/fracto/tls"), "record": CLOUD01.file("/var/lib/fracto/state/beta.json").content_string}
    assert after == before and taken not in after["sites"]


def test_alphas_prune_leaves_every_object_of_the_others_intact(tmp_path):
    assert_betas_objects_are_there()
    assert all(alpha2_objects().values()), alpha2_objects()
    before = others_snapshot()
    pruned = tmp_path / "alpha"
    shutil.copytree(RESELLERS / "alpha", pruned)
    (pruned / "group_vars" / "all" / "clients" / "alpha2.yml").unlink()
    try:
        rc, out = site(pruned, tmp_path, "-e", "fracto_prune=true")
        assert rc == 0, out[-4000:]
        after = others_snapshot()
        for host in before:
            for part in before[host]:
                assert after[host][part] == before[host][part], "%s %s changed by alpha's prune" % (host, part)
        assert_betas_objects_are_there()
        left = {what for what, there in alpha2_objects().items() if there}
        assert not left, "alpha2 is still on the hosts after alpha's prune: %s" % ", ".join(sorted(left))
        # alpha1 stays.
        assert CLOUD01.file(NGINX_SITES + "/alpha1.test.conf").exists
        assert re.search(r"^info@alpha1\.test:", MAIL01.file(USERS_FILE).content_string, re.M)
    finally:
        # Put alpha back as converge.yml left it (alpha2 too), so that a later converge changes nothing.
        rc, out = site(RESELLERS / "alpha", tmp_path)
        assert rc == 0, out[-4000:]
    assert all(alpha2_objects().values()), alpha2_objects()
    assert others_snapshot() == before
    rc, out = site(RESELLERS / "alpha", tmp_path)
    recap = out.split("PLAY RECAP")[-1]
    assert rc == 0 and not re.search(r"changed=[1-9]", recap), recap


def test_logs_hold_no_secret():
    for reseller in ("alpha", "beta"):
        log = (LOGS / ("%s.log" % reseller)).read_text()
        for value in secrets(reseller).values():
            assert value not in log, reseller
        assert not re.search(r"\$6\$[./0-9A-Za-z]", log), reseller
