"""Trust boundaries on the mail host (issue 12): sinks that cannot be broken out of, ownership per reseller on a shared
host, the host lock, the per-reseller temporary master user of the migration, Roundcube verifying its local servers,
and no secret in diffs or unmasked options. Each test fails without its fix."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.fracto.hosting.plugins.module_utils import lock as host_lock
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.mail import masters, owners, safe
from ansible_collections.fracto.hosting.plugins.modules import imap_migrate, mail_server
from role_templates import mail_templates, sources

MAIL_T = mail_templates()  # the role's default templates (roles/fracto_mail/templates)

HASH = "$6$saltsaltsaltsalt$nozu4aSZ9tvfyqr8kV.PwuNYpJaa6RCOb1XRcivY.S4HEWnm/pcZbgbhIR2EeRNbUrMigQuyF/KzM9qzoEvpz0"
HASH_B = "$6$othersalt$KOS45/wSnH6..5vYtXvxa/gg1tkVv.WrULD326ImCQwVYWXWcUoDZgo/pgdq.QRDLjAY8WVB3FOJKXIUWdPl//"
ARGON = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
BCRYPT = "$2b$12$" + "a" * 53


def user(pw_hash=HASH, quota=None, client="c1"):
    return {"hash": pw_hash, "quota": quota, "client": client}


# --------------------------------------------------------------------------- 1. sinks

@pytest.mark.parametrize("address, box, field", [
    ("evil@c1.test", user(HASH + "\nroot@c2.test:{PLAIN}x"), "password_hash"),  # a newline adds a login
    ("evil@c1.test", user(HASH + "\n"), "password_hash"),                        # trailing newline: fullmatch
    ("evil@c1.test", user(HASH + ":::"), "password_hash"),
    ("evil@c1.test", user("{PLAIN}secret"), "password_hash"),                     # no known scheme
    ("evil@c1.test", user("$6$short$abc"), "password_hash"),                      # prefix only
    ("evil@c1.test", user(client="c1:::x"), "client"),
    ("evil@c1.test", user(client="c1\nx"), "client"),
    ("ev:il@c1.test", user(), "address"),
    ("evil\n@c1.test", user(), "address"),
    ("evil\x00@c1.test", user(), "address"),
    ("ev\til@c1.test", user(), "address"),
    ("../../etc@c1.test", user(), "address"),
    ("a/b@c1.test", user(), "address"),
    ("evil@c1.test\n", user(), "address"),
    ("evil@c1.test", user(quota="1:storage=0"), "quota"),
])
def test_the_passwd_file_writer_refuses_what_would_break_a_line(address, box, field):
    with pytest.raises(safe.UnsafeValue) as caught:
        mc.render_users({address: box})
    assert caught.value.field.endswith(field)
    assert "nozu4aSZ" not in str(caught.value) and "secret" not in str(caught.value)  # no hash in the message


@pytest.mark.parametrize("good", [HASH, HASH_B, ARGON, BCRYPT, "$6$rounds=5000$abc$" + "x" * 86, "$5$salt$" + "y" * 43])
def test_well_formed_hashes_of_each_scheme_pass(good):
    assert safe.password_hash(good, "h") == good
    assert "%s:{" % "a@c1.test" in mc.render_users({"a@c1.test": user(good)})


@pytest.mark.parametrize("entries", [
    {"a@c1.test b@c2.test": "c1"},   # whitespace splits key and value
    {"a@c1.test": "c1\nevil@c2.test c2"},
    {"#a@c1.test": "c1"},            # a comment line
    {"a@c1.test": ""},
    {"a@c1.test": "c1\x00"},
    {"a@c1.test": "c1 c2"},
])
def test_postfix_map_sources_refuse_whitespace_controls_and_comments(entries):
    with pytest.raises(safe.UnsafeValue):
        mc.render_map(entries, "mailboxes")


def test_sni_and_transport_writers_refuse_broken_values():
    certs = {"mail.c1.test": ("/etc/fracto/tls/x/fullchain.pem\nmail.c2.test /k /c", "/etc/fracto/tls/x/privkey.pem")}
    with pytest.raises(safe.UnsafeValue):
        mc.render_sni(["mail.c1.test"], certs, {})
    with pytest.raises(safe.UnsafeValue):
        mc.render_master([("smtp-x", "198.51.100.1", "helo.test\n  -o smtpd_relay_restrictions=")], templates=MAIL_T)
    with pytest.raises(safe.UnsafeValue):
        mc.render_main("mail01.test", {}, {"smtpd_relay_restrictions": "permit\nmynetworks = 0.0.0.0/0"}, templates=MAIL_T)


def test_maildir_homes_stay_under_the_vmail_root(tmp_path):
    root = tmp_path / "vmail"
    root.mkdir()
    assert safe.maildir_home(str(root), "c1.test", "info") == str(root / "c1.test" / "info")
    (root / "evil.test").symlink_to("/etc")  # a domain directory that leads out
    with pytest.raises(safe.UnsafeValue, match="leaves"):
        safe.maildir_home(str(root), "evil.test", "info")
    for local in ("..", ".", "a/b", "-a", "a..b", ""):
        with pytest.raises(safe.UnsafeValue):
            safe.maildir_home(str(root), "c1.test", local)


# --------------------------------------------------------------------------- module harness

class FakeHost:
    """The mail host's configuration files in memory; the records and certificates in tmp_path."""

    def __init__(self, tmp_path, monkeypatch):
        self.files, self.tmp = {}, tmp_path
        self.locked = []
        monkeypatch.setattr(mc, "MASTERS_FILE", str(tmp_path / "masters"), raising=False)
        (tmp_path / "masters").write_text("")
        monkeypatch.setattr(mail_server, "read_text", self.read)
        monkeypatch.setattr(mail_server, "write_config", self.files.__setitem__)
        monkeypatch.setattr(mail_server, "write_atomic", self.write_atomic)
        monkeypatch.setattr(mail_server, "compile_maps", lambda module, paths: None)
        monkeypatch.setattr(mail_server, "check_config", lambda module, paths: None)
        monkeypatch.setattr(mail_server, "reload_services", lambda module, paths: ([], None))
        # The DKIM keys and index are files of self.files too (write_config); their directories are not made here.
        monkeypatch.setattr(mail_server, "ensure_dkim_dirs", lambda: None)

        def run_locked(module, name, body, reseller=None):
            self.locked.append((name, reseller))
            return body()
        monkeypatch.setattr(mail_server, "run_locked", run_locked, raising=False)

    def read(self, path):
        if path.startswith(str(self.tmp)):
            return open(path, encoding="utf-8").read() if os.path.exists(path) else None
        return self.files.get(path)

    def write_atomic(self, path, content, **_kwargs):
        if path.startswith(str(self.tmp)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(content)
        else:
            self.files[path] = content

    def run(self, capsys, reseller, check=False, diff=False, **state):
        args = dict(hostname="mail01.fracto.test", reseller=reseller, clients=state.pop("clients"),
                    records_dir=str(self.tmp / "records"), host_state_dir=str(self.tmp / "state"),
                    store=str(self.tmp / "tls"), webroot=str(self.tmp / "acme"), _ansible_check_mode=check,
                    _ansible_diff=diff, templates=sources("fracto_mail"), **state)
        capsys.readouterr()
        with patch_module_args(args), pytest.raises(SystemExit):
            mail_server.main()
        return json.loads(capsys.readouterr().out)


def reseller_state(tag, client, extra_box=True, binding=True):
    domain = "%s.test" % client
    boxes = [{"address": "info@%s" % domain, "client": client, "quota": None, "password_hash": HASH}]
    if extra_box:
        boxes.append({"address": "ana@%s" % domain, "client": client, "quota": 1 << 30, "password_hash": HASH_B})
    state = dict(
        clients=[client],
        domains=[{"domain": domain, "client": client}],
        mailboxes=boxes,
        aliases=[{"address": "sales@%s" % domain, "client": client, "targets": ["info@%s" % domain]}],
        mail_names=[{"name": "mail.%s" % domain, "branding": "client", "clients": [client]},
                    {"name": "mail01.fracto.test", "branding": "generic", "clients": [client]}],
        webmail_names=[{"name": "webmail.%s" % domain, "branding": "client", "clients": [client]}],
        certificates=[{"id": "mail.%s" % domain, "names": ["mail.%s" % domain, "webmail.%s" % domain]}],
        ip_bindings=[{"address": "198.51.100.%d" % (10 if tag == "a" else 20), "sides": ["mail"], "clients": [client],
                      "helo": "smtp-%s.fracto.test" % tag}] if binding else [],
    )
    return state


@pytest.fixture
def host(tmp_path, monkeypatch):
    return FakeHost(tmp_path, monkeypatch)


def install_cert(host, cert_id, names):
    directory = host.tmp / "tls" / cert_id
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_text("chain")
    (directory / "privkey.pem").write_text("key")
    (directory / "meta.json").write_text(json.dumps({"names": names}))


# --------------------------------------------------------------------------- 2. ownership on a shared host

def test_one_resellers_run_and_prune_leave_the_other_resellers_objects_intact(host, capsys):
    install_cert(host, "mail.ca.test", ["mail.ca.test", "webmail.ca.test"])
    install_cert(host, "mail.cb.test", ["mail.cb.test", "webmail.cb.test"])
    assert not host.run(capsys, "resa", **reseller_state("a", "ca")).get("failed")
    assert not host.run(capsys, "resb", **reseller_state("b", "cb")).get("failed")
    # Reseller A again, its client gone from its state, with prune: only A's objects go.
    pruned = host.run(capsys, "resa", prune=True, **dict(reseller_state("a", "ca"), clients=[], domains=[], mailboxes=[],
                                                         aliases=[], mail_names=[], webmail_names=[], certificates=[],
                                                         ip_bindings=[]))
    assert not pruned.get("failed"), pruned
    assert {c["id"] for c in pruned["changes"] if c["action"] == "remove" and c["kind"] in ("mailbox", "mail_domain", "mail_alias")} \
        == {"info@ca.test", "ana@ca.test", "ca.test", "sales@ca.test"}
    users, files = host.files[mc.USERS_FILE], host.files
    assert "info@cb.test:" in users and "ana@cb.test:" in users and "info@ca.test" not in users
    assert "cb.test cb" in files[mc.MAP_DOMAINS] and "sales@cb.test info@cb.test" in files[mc.MAP_ALIASES]
    assert "mail.cb.test " in files[mc.MAP_SNI] and "local_name mail.cb.test {" in files[mc.DOVECOT_CONF]
    assert "@cb.test smtp-198-51-100-20:" in files[mc.MAP_SENDERS] and "smtp_bind_address=198.51.100.20" in files[mc.POSTFIX_MASTER]
    assert "'webmail.cb.test'" in files[mc.ROUNDCUBE_CONF]
    assert "webmail.cb.test" in "".join(p for p in files if p.startswith("/etc/nginx/fracto/sites/"))
    records = owners.read_records(str(host.tmp / "records"))
    assert set(records["resb"]["mailboxes"]) == {"info@cb.test", "ana@cb.test"} and records["resa"]["mailboxes"] == {}


def test_each_run_keeps_the_other_resellers_sni_senders_and_webmail(host, capsys):
    install_cert(host, "mail.ca.test", ["mail.ca.test", "webmail.ca.test"])
    install_cert(host, "mail.cb.test", ["mail.cb.test", "webmail.cb.test"])
    host.run(capsys, "resa", **reseller_state("a", "ca"))
    host.run(capsys, "resb", **reseller_state("b", "cb"))
    again = host.run(capsys, "resa", **reseller_state("a", "ca"))
    assert again["changed"] is False, again["changes"]  # A's rerun does not drop B's entries (nor rewrite anything)
    for name in ("mail.ca.test", "mail.cb.test"):
        assert "%s " % name in host.files[mc.MAP_SNI]
    assert "@ca.test" in host.files[mc.MAP_SENDERS] and "@cb.test" in host.files[mc.MAP_SENDERS]


@pytest.mark.parametrize("take", ["domain", "mailbox", "alias", "webmail"])
def test_an_object_of_another_reseller_is_refused_and_nothing_changes(host, capsys, take):
    host.run(capsys, "resb", **reseller_state("b", "cb"))
    before = dict(host.files)
    state = reseller_state("a", "ca")
    if take == "domain":
        state["domains"].append({"domain": "cb.test", "client": "ca"})
    elif take == "mailbox":
        state["mailboxes"].append({"address": "info@cb.test", "client": "ca", "quota": None, "password_hash": HASH})
    elif take == "alias":
        state["aliases"].append({"address": "sales@cb.test", "client": "ca", "targets": ["info@ca.test"]})
    else:
        state["webmail_names"].append({"name": "webmail.cb.test", "branding": "client", "clients": ["ca"]})
    result = host.run(capsys, "resa", **state)
    assert result["failed"] and "held by reseller resb" in result["msg"] and "nothing was changed" in result["msg"]
    assert host.files == before and not (host.tmp / "records" / "resa.json").exists()


def test_objects_written_before_the_records_are_attributed_kept_or_claimed(host, capsys):
    # A host converged before records existed: B's mailbox (its host_state record says so) and one nobody names.
    host.files[mc.USERS_FILE] = mc.render_users({"old@cb.test": user(client="cb"), "orphan@cz.test": user(client="cz"),
                                                 "info@ca.test": user(client="ca")})
    host.files[mc.MAP_DOMAINS] = mc.render_map({"cb.test": "cb", "cz.test": "cz", "ca.test": "ca"})
    state_dir = host.tmp / "state"
    state_dir.mkdir()
    (state_dir / "resb.json").write_text(json.dumps({"objects": {
        "mailbox old@cb.test": {"kind": "mailbox", "id": "old@cb.test", "client": "cb"},
        "mail_domain cb.test": {"kind": "mail_domain", "id": "cb.test", "client": "cb"}}}))
    result = host.run(capsys, "resa", prune=True, **reseller_state("a", "ca", extra_box=False, binding=False))
    assert not result.get("failed"), result
    assert "old@cb.test:" in host.files[mc.USERS_FILE] and "orphan@cz.test:" in host.files[mc.USERS_FILE]
    assert not [c for c in result["changes"] if c["action"] == "remove"]
    taken = reseller_state("a", "ca", extra_box=False, binding=False)
    taken["mailboxes"].append({"address": "old@cb.test", "client": "ca", "quota": None, "password_hash": HASH})
    refused = host.run(capsys, "resa", **taken)
    assert refused["failed"] and "old@cb.test" in refused["msg"]


def test_a_host_converged_before_the_records_is_taken_over_without_a_change_line(host, capsys):
    install_cert(host, "mail.ca.test", ["mail.ca.test", "webmail.ca.test"])
    host.run(capsys, "resa", **reseller_state("a", "ca"))
    (host.tmp / "records" / "resa.json").unlink()  # as if written by the module before records existed
    files = dict(host.files)
    result = host.run(capsys, "resa", **reseller_state("a", "ca"))
    assert result["changes"] == [] and host.files == files and (host.tmp / "records" / "resa.json").exists()
    assert host.run(capsys, "resa", **reseller_state("a", "ca"))["changed"] is False


def test_read_hashes_returns_only_the_callers_mailboxes(host, capsys):
    host.run(capsys, "resa", **reseller_state("a", "ca"))
    host.run(capsys, "resb", **reseller_state("b", "cb"))
    out = host.run(capsys, "resa", check=True, read_hashes=True, clients=["ca"])
    assert set(out["hashes"]) == {"info@ca.test", "ana@ca.test"}


# --------------------------------------------------------------------------- 1b. the module re-checks its arguments

@pytest.mark.parametrize("mutate, field", [
    (lambda s: s["mailboxes"][0].update(address="a/../../x@ca.test"), "mailboxes[0].address"),
    (lambda s: s["mailboxes"][0].update(password_hash=HASH + "\nx@cb.test:{PLAIN}pw"), "password_hash"),
    (lambda s: s["domains"][0].update(domain="ca.test\n"), "domains[0].domain"),
    (lambda s: s["aliases"][0].update(targets=["info@ca.test other@cb.test"]), "aliases[sales@ca.test].targets"),
    (lambda s: s["mailboxes"][0].update(client="www-data:x"), "client"),
    (lambda s: s["certificates"][0].update(id="../../etc"), "certificates[0].id"),
    (lambda s: s["ip_bindings"][0].update(helo="x\n  -o y=z"), "helo"),
    (lambda s: s.update(postfix_settings={"mynetworks": "0.0.0.0/0\nrelay = yes"}), "postfix_settings[mynetworks]"),
])
def test_the_module_refuses_hostile_arguments_naming_the_field(host, capsys, mutate, field):
    state = reseller_state("a", "ca")
    mutate(state)
    result = host.run(capsys, "resa", **state)
    assert result["failed"] and field in result["msg"] and "nothing was changed" in result["msg"]
    assert host.files == {} and "nozu4aSZ" not in json.dumps(result)


def test_a_hostile_reseller_name_is_refused(host, capsys):
    result = host.run(capsys, "../x", **reseller_state("a", "ca"))
    assert result["failed"] and "reseller: '../x' is refused" in result["msg"] and "nothing was changed" in result["msg"]


# --------------------------------------------------------------------------- 3. the host lock

def test_writes_run_under_the_host_lock_and_check_mode_neither_locks_nor_writes(host, capsys):
    checked = host.run(capsys, "resa", check=True, **reseller_state("a", "ca"))
    assert checked["changed"] and host.locked == [] and host.files == {}
    assert not (host.tmp / "records").exists()
    host.run(capsys, "resa", **reseller_state("a", "ca"))
    assert host.locked == [("fracto.hosting.mail_server", "resa")] and host.files


def test_a_run_waits_for_the_lock_another_run_holds_and_writes_nothing(host, capsys, monkeypatch):
    class Busy:
        """A lock another run holds: entering it times out at once."""

        def __init__(self, name, reseller=None, **_kw):
            pass

        def __enter__(self):
            raise host_lock.HostLockTimeout("another run holds the host lock /run/fracto/host.lock: web_sites (reseller other)")

        def __exit__(self, *exc_info):
            return False

    monkeypatch.setattr(host_lock, "host_lock", Busy)
    monkeypatch.setattr(mail_server, "run_locked", host_lock.run_locked)
    result = host.run(capsys, "resa", **reseller_state("a", "ca"))
    assert result["failed"] and "another run holds the host lock" in result["msg"]
    assert host.files == {} and not (host.tmp / "records").exists()
    monkeypatch.setattr(imap_migrate.sync, "migrate_all", lambda *a, **k: pytest.fail("migrated without the master user"))
    records = host.tmp / "records"
    records.mkdir()
    (records / "resa.json").write_text(json.dumps({"mailboxes": {"info@ca.test": {}}}))
    migrated = run_migrate(capsys, host.tmp, reseller="resa", mailboxes=[{"address": "info@ca.test", "from": "legacy01"}])
    assert migrated["failed"] and "another run holds the host lock" in migrated["msg"]


# --------------------------------------------------------------------------- 6. secrets

def test_diffs_and_changes_carry_no_hash(host, capsys):
    result = host.run(capsys, "resa", diff=True, **reseller_state("a", "ca"))
    shown = json.dumps(result)
    assert result["diff"] and "nozu4aSZ" not in shown and "KOS45" not in shown and "$6$" not in shown


def test_a_diff_shows_only_the_callers_lines_of_the_shared_files(host, capsys):
    install_cert(host, "mail.ca.test", ["mail.ca.test", "webmail.ca.test"])
    install_cert(host, "mail.cb.test", ["mail.cb.test", "webmail.cb.test"])
    host.run(capsys, "resa", **reseller_state("a", "ca"))
    result = host.run(capsys, "resb", diff=True, **reseller_state("b", "cb"))
    shared = [d for d in result["diff"] if d["after_header"] in (mc.USERS_FILE, mc.MAP_DOMAINS, mc.MAP_ALIASES, mc.MAP_SNI)]
    assert len(shared) == 4 and all("cb.test" in d["after"] for d in shared)
    assert "ca.test" not in json.dumps(shared)  # reseller A's mailboxes, domains and aliases are not B's to see
    # Nor in any other file: Dovecot's local_name blocks, rspamd's DKIM domains, Roundcube's brands, the vhosts
    assert "ca.test" not in json.dumps(result["diff"]) and "ca.test" not in json.dumps(result["changes"])
    assert any("cb.test" in d["after"] for d in result["diff"] if d["after_header"] == mc.DOVECOT_CONF)


def argument_spec(module, monkeypatch):
    captured = {}

    class Capture:
        def __init__(self, argument_spec, **_kwargs):
            captured.update(argument_spec)
            raise RuntimeError("captured")
    monkeypatch.setattr(module, "AnsibleModule", Capture)
    with pytest.raises(RuntimeError):
        module.main()
    return captured


@pytest.mark.parametrize("module, secret", [(mail_server, ("mailboxes",)),
                                            (imap_migrate, ("passwords", "destination_master_password"))])
def test_every_option_carrying_a_secret_is_no_log(module, secret, monkeypatch):
    spec = argument_spec(module, monkeypatch)
    for name in secret:
        assert spec[name].get("no_log") is True, name
    for name, option in spec.items():
        if any(word in name for word in ("password", "secret", "hash", "key")) and name not in ("read_hashes",):
            assert option.get("no_log") is True, name


# --------------------------------------------------------------------------- 5. Roundcube

def test_roundcube_talks_to_the_local_servers_and_verifies_their_names():
    webmail = [{"name": "webmail.c1.test", "branding": "client", "clients": ["c1"]}]
    mail_names = [{"name": "mail.c1.test", "branding": "client", "clients": ["c1"]}]
    certs = {"mail.c1.test": ("/c", "/k")}
    files = mc.roundcube_files(webmail, mail_names, "k" * 24, "mail01.fracto.test", certs, templates=MAIL_T)
    main, host_file = files[mc.ROUNDCUBE_CONF], files["/etc/roundcube/fracto-webmail.c1.test.inc.php"]
    for text in (main, host_file):
        assert "$config['imap_host'] = 'ssl://127.0.0.1:993';" in text
        assert "$config['smtp_host'] = 'ssl://127.0.0.1:465';" in text
        assert "'verify_peer' => false" not in text and "'verify_peer_name' => false" not in text
        # IMAP and SMTP; the webmail name's file ManageSieve too
        connections = 3 if text is host_file else 2
        assert text.count("'verify_peer' => true") == connections and text.count("'verify_peer_name' => true") == connections
        assert "'cafile' => '/etc/ssl/certs/ca-certificates.crt'" in text
    assert "$config['managesieve_host'] = 'tls://127.0.0.1:4190';" in host_file
    assert "'peer_name' => 'mail.c1.test'" in host_file and "'peer_name' => 'mail01.fracto.test'" in main
    # Until the branded name's certificate is installed, the host's own name (the one its default certificate has).
    early = mc.roundcube_files(webmail, mail_names, "k" * 24, "mail01.fracto.test", {}, templates=MAIL_T)
    assert "'peer_name' => 'mail01.fracto.test'" in early["/etc/roundcube/fracto-webmail.c1.test.inc.php"]


# --------------------------------------------------------------------------- 4. the migration's master user

def test_dovecot_looks_master_users_up_per_mailbox_and_checks_the_mailbox_exists():
    conf = mc.render_dovecot("mail01.fracto.test", [], {}, 5000, 5000, templates=MAIL_T)
    block = conf[conf.index("passdb {\n  driver = passwd-file\n  master = yes"):]
    block = block[:block.index("}\n")]
    assert "username_format=%{login_user}*%{user} " + mc.MASTERS_FILE in block
    assert "result_success = continue" in block and "auth_master_user_separator = *\n" in conf


def test_master_lines_are_per_reseller_per_mailbox_and_only_from_the_loopback():
    pw_hash = masters.ssha512("random", salt=b"0123456789abcdef")
    content = masters.add(None, "resa", ["info@ca.test", "ana@ca.test"], pw_hash, pid=100, is_alive=lambda pid: True)
    lines = [line for line in content.splitlines() if not line.startswith("#")]
    assert lines == ["ana@ca.test*migrate-resa:%s::::::allow_nets=127.0.0.1/32,::1/128" % pw_hash,
                     "info@ca.test*migrate-resa:%s::::::allow_nets=127.0.0.1/32,::1/128" % pw_hash]
    both = masters.add(content, "resb", ["info@cb.test"], pw_hash, pid=200, is_alive=lambda pid: True)
    assert "info@cb.test*migrate-resb:" in both and "info@ca.test*migrate-resa:" in both
    # The end of A's run removes only its lines; a run whose process died is dropped by the next one.
    assert "migrate-resa" not in masters.remove(both, 100) and "migrate-resb" in masters.remove(both, 100)
    assert "migrate-resa" not in masters.add(both, "resb", ["x@cb.test"], pw_hash, pid=300, is_alive=lambda pid: pid == 200)


@pytest.mark.parametrize("bad", [["evil@ca.test\nroot*migrate-resa:{PLAIN}x"], ["a:b@ca.test"], ["a/b@ca.test"]])
def test_master_lines_refuse_broken_addresses(bad):
    with pytest.raises(safe.UnsafeValue):
        masters.add(None, "resa", bad, masters.ssha512("x"), pid=1, is_alive=lambda pid: True)
    with pytest.raises(safe.UnsafeValue):
        masters.nets_field(["127.0.0.1/32\nx"])


def run_migrate(capsys, tmp_path, **args):
    args = dict(dict(records_dir=str(tmp_path / "records"), _ansible_check_mode=True), **args)
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        imap_migrate.main()
    return json.loads(capsys.readouterr().out)


def test_the_migration_refuses_a_mailbox_of_another_reseller(tmp_path, capsys, monkeypatch):
    records = tmp_path / "records"
    records.mkdir()
    (records / "resb.json").write_text(json.dumps({"mailboxes": {"info@cb.test": {}}}))
    (records / "resa.json").write_text(json.dumps({"mailboxes": {"info@ca.test": {}}}))
    monkeypatch.setattr(imap_migrate.sync, "migrate_all", lambda *a, **k: pytest.fail("migrated"))
    result = run_migrate(capsys, tmp_path, reseller="resa", mailboxes=[
        {"address": "info@ca.test", "client": "ca", "from": "legacy01"},
        {"address": "info@cb.test", "client": "ca", "from": "legacy01"}])
    assert result["failed"] and "info@cb.test" in result["msg"] and "info@ca.test" not in result["msg"]


def test_the_migration_uses_a_temporary_master_limited_to_its_mailboxes_and_removes_it(tmp_path, capsys, monkeypatch):
    records = tmp_path / "records"
    records.mkdir()
    (records / "resa.json").write_text(json.dumps({"mailboxes": {"info@ca.test": {}}}))
    masters_file = tmp_path / "migration-masters"
    monkeypatch.setattr(mc, "MASTERS_FILE", str(masters_file))
    monkeypatch.setattr(imap_migrate, "write_atomic", lambda path, content, **_k: open(path, "w").write(content))
    locks, seen = [], {}

    def run_locked(module, name, body, reseller=None):
        locks.append(name)
        return body()
    monkeypatch.setattr(imap_migrate.lock, "run_locked", run_locked)
    monkeypatch.setattr(imap_migrate.lock, "host_lock", lambda name, reseller=None: locks.append(name) or contextlib.nullcontext())

    def migrate_all(jobs, *args, **kwargs):
        seen["file"] = masters_file.read_text()
        seen["dest"] = jobs[0]["destination"]
        return [], []
    monkeypatch.setattr(imap_migrate.sync, "migrate_all", migrate_all)
    result = run_migrate(capsys, tmp_path, reseller="resa", mailboxes=[{"address": "info@ca.test", "client": "ca", "from": "legacy01"}])
    assert not result.get("failed"), result
    assert seen["dest"]["master_user"] == "migrate-resa" and seen["dest"]["host"] == "127.0.0.1"
    assert len(seen["dest"]["password"]) >= 40 and seen["dest"]["password"] not in seen["file"]
    entries = [line for line in seen["file"].splitlines() if not line.startswith("#")]
    assert len(entries) == 1 and entries[0].startswith("info@ca.test*migrate-resa:{SSHA512}")
    assert entries[0].endswith(":allow_nets=127.0.0.1/32,::1/128")
    assert "migrate-resa" not in masters_file.read_text() and len(locks) == 2  # set and removed under the lock
    assert seen["dest"]["password"] not in json.dumps(result)


def test_the_migration_refuses_secrets_outside_passwords(tmp_path, capsys):
    result = run_migrate(capsys, tmp_path, reseller="resa", mailboxes=[
        {"address": "info@ca.test", "from": "legacy01", "password": "UNIT-SECRET-pw"}])
    assert result["failed"] and "password belongs in passwords (no_log)" in result["msg"]
    assert "UNIT-SECRET" not in json.dumps(result)


@pytest.mark.parametrize("item, field", [
    ({"from": "legacy01\r\nA1 LOGOUT"}, "from"),
    ({"from": "legacy01", "user": "info\x00admin"}, "user"),
    ({"from": "legacy01", "master_user": "m\r\nA2 DELETE INBOX"}, "master_user"),
    ({"from": "legacy01", "folder_map": {"Sent": "Sent\r\nA3 DELETE INBOX"}}, "folder_map"),
    ({"from": "legacy01", "address": "x/../../y@ca.test"}, "address"),
])
def test_the_migration_refuses_control_characters_and_broken_names(tmp_path, capsys, item, field):
    box = dict({"address": "info@ca.test", "client": "ca"}, **item)
    result = run_migrate(capsys, tmp_path, reseller="resa", mailboxes=[box])
    assert result["failed"] and field in result["msg"] and "nothing was changed" in result["msg"]


@pytest.mark.parametrize("line, shown", [
    ("local_name mail.ca.test {", False),
    ('  ssl_cert = </etc/fracto/tls/mail.ca.test/fullchain.pem', False),
    ('    path = "/var/lib/rspamd/dkim/ca.test.fr2026a.key";', False),  # the name, then a dot: a key of its domain
    ("  'webmail.ca.test' => 'fracto-webmail.ca.test.inc.php',", False),
    ("local_name mail.cb.test {", True),
    ("local_name shop.ca.test.example {", False),
    ("local_name notca.test {", True),                 # another name that merely ends like it
    ("  ssl_cert = </etc/fracto/tls/mail01/fullchain.pem", True),
])
def test_a_line_naming_another_resellers_name_is_left_out_of_a_diff(line, shown):
    hidden = {"mail.ca.test", "webmail.ca.test", "ca.test", "shop.ca.test"}
    assert hf.only_own(mc.DOVECOT_CONF, line + "\n", {"cb.test"}, hidden) == (line + "\n" if shown else "")
