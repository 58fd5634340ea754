"""Mail migration from legacy01's Dovecot to FractoMail on mail01 (playbooks/migrate_mail.yml), read over IMAP.

The source is read through legacy01's master user (its certificate verified against the lab CA), the destination
through mail01's migration master user (on the lab's address: its certificate is Pebble's, not checked here).
"""

import json
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import yaml
from conftest import PROJECT, run_playbook
from imapclient import IMAPClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus  # noqa: E402  the generator of the corpus

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
ACME = testinfra.get_host("ansible://acme?ansible_inventory=" + INVENTORY)
MIGRATE = str(PROJECT / "playbooks" / "migrate_mail.yml")
REPORT = PROJECT / ".fracto" / "mail-migration-demo.json"
ANA_MAILDIR = "/var/vmail/cliente1.test/ana/Maildir"  # INBOX: cur/ and new/ at its top
USERS = ["info@cliente1.test", "ana@cliente1.test", "hola@cliente2.test"]
# The old folders ("." separator) and where they land ("/" separator; special use; cliente1's folder_map).
MAPPING = {"INBOX": "INBOX", "Sent Messages": "Sent", "Drafts": "Drafts", "Deleted Messages": "Trash", "Spam": "Junk",
           "Clientes": "Clientes", "Clientes.2024": "Clientes/2024", "Clientes.2024.Marzo": "Clientes/2024/Marzo",
           "Facturación": "Facturación", "Antiguos": "Archive"}


def mapping(user):
    return dict(MAPPING, Antiguos="Archive" if user.endswith("@cliente1.test") else "Antiguos")


@pytest.fixture(scope="module")
def secrets():
    found = {}
    for vault in ("inventories/demo/group_vars/all/vault_mail_migration.yml", "inventories/platform/group_vars/all/vault.yml"):
        out = subprocess.run(["ansible-vault", "view", str(PROJECT / vault)], capture_output=True, text=True, check=True,
                             cwd=PROJECT).stdout
        found.update(yaml.safe_load(out))
    return found


@pytest.fixture(scope="module")
def addresses(lab_resolve):
    return {h: lab_resolve("%s.fracto.test" % h)[0] for h in ("legacy01", "mail01")}


@pytest.fixture(scope="module")
def open_source(addresses, secrets):
    cadata = ACME.file("/etc/pebble/lab-ca.pem").content_string

    def connect(user):
        client = IMAPClient(addresses["legacy01"], ssl=True, ssl_context=ssl.create_default_context(cadata=cadata), timeout=60)
        client.plain_login("migrator", secrets["vault_legacy_mail_master_password"], authorization_identity=user)
        return client
    return connect


@pytest.fixture(scope="module")
def open_dest(addresses, vault):
    # Each mailbox with its own password: the migration master user exists only while a migration runs, on loopback.
    passwords = {"info@cliente1.test": vault["vault_cliente1_info_password"], "ana@cliente1.test": vault["vault_cliente1_ana_password"],
                 "hola@cliente2.test": vault["vault_cliente2_hola_password"]}

    def connect(user):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        client = IMAPClient(addresses["mail01"], ssl=True, ssl_context=context, timeout=60)
        client.login(user, passwords[user])
        return client
    return connect


def snapshot(client, folder):
    """Sorted [(Message-ID or Date+Subject, size, flags, INTERNALDATE)] of a folder (the INTERNALDATE as the server says it)."""
    client.normalise_times = False
    client.select_folder(folder, readonly=True)
    out = []
    fields = b"BODY[HEADER.FIELDS (MESSAGE-ID DATE SUBJECT)]"
    uids = client.search("ALL")
    for item in (client.fetch(uids, ["RFC822.SIZE", "FLAGS", "INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE SUBJECT)]"]) if uids else {}).values():
        header = re.sub(rb"\s+", b" ", item.get(fields, b"")).strip()
        flags = tuple(sorted(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent"))
        out.append((header, item[b"RFC822.SIZE"], flags, item[b"INTERNALDATE"].isoformat()))
    return sorted(out)


def compare(open_source, open_dest, user):
    src, dst = open_source(user), open_dest(user)
    try:
        differences = {}
        for old, new in mapping(user).items():
            before, after = snapshot(src, old), snapshot(dst, new)
            # Other scenarios deliver mail to these mailboxes (sales@ is an alias of info@ and ana@): only messages
            # with the headers of a source message count; duplicates of those would still show.
            headers = {entry[0] for entry in before}
            after = [entry for entry in after if entry[0] in headers]
            if before != after:
                differences[old] = (len(before), len(after))
        return differences
    finally:
        src.logout()
        dst.logout()


def recap(output, host):
    match = re.search(r"^%s\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)" % host, output, re.M)
    return (int(match.group(1)), int(match.group(2))) if match else None


def test_the_corpus_is_on_the_source_as_generated(open_source):
    src = open_source("ana@cliente1.test")
    try:
        generated = corpus.corpus("ana@cliente1.test")
        for folder, msgs in generated.items():
            assert src.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] == len(msgs), folder
        sizes = [len(body) for msgs in generated.values() for body, _f, _d in msgs]
        assert min(sizes) < 2048 and max(sizes) > 10 * 1024 * 1024
        assert src.folder_exists("Facturación") and any(b"\\Sent" in f for f, _s, n in src.list_folders() if n == "Sent Messages")
    finally:
        src.logout()


@pytest.mark.parametrize("user", USERS)
def test_every_folder_has_the_same_messages_flags_and_internaldates(open_source, open_dest, user):
    assert compare(open_source, open_dest, user) == {}


def test_special_use_nested_non_ascii_folders_and_subscriptions(open_dest):
    dst = open_dest("info@cliente1.test")
    try:
        folders = {name: flags for flags, _sep, name in dst.list_folders()}
        assert {"Sent", "Drafts", "Trash", "Junk", "Archive", "Clientes/2024/Marzo", "Facturación"} <= set(folders)
        assert "Sent Messages" not in folders and "Antiguos" not in folders and "Spam" not in folders
        subscribed = {name for _flags, _sep, name in dst.list_sub_folders()}
        assert "Clientes/2024" in subscribed and "Archive" in subscribed
        assert "Facturación" not in subscribed  # not subscribed on the source
    finally:
        dst.logout()


def test_a_rerun_copies_nothing_and_the_report_verifies_every_mailbox(secrets):
    rc, output = run_playbook(PROJECT, MIGRATE)
    assert rc == 0, output[-3000:]
    assert recap(output, "mail01") == (0, 0), output[-2000:]
    report = json.loads(REPORT.read_text())
    assert {m["address"]: m["status"] for m in report["mailboxes"]} == dict.fromkeys(USERS, "ok")
    for box in report["mailboxes"]:
        assert box["copied"] == 0 and box["verified"]
        assert box["verification"] == "all %d messages of the source are on the destination" % box["messages"]
    # CONDSTORE on both Dovecots: folders verified by the previous run and unchanged on both sides are skipped
    # (other scenarios' mail may land in an INBOX meanwhile: those get the full comparison).
    unchanged = [(b["address"], f["source"]) for b in report["mailboxes"] for f in b["folders"] if f.get("unchanged")]
    assert len(unchanged) >= len(USERS), report["mailboxes"]
    assert all(b["unchanged_folders"] == sum(1 for f in b["folders"] if f.get("unchanged")) for b in report["mailboxes"])
    # The records: one per mailbox, root's, 0600 in a 0700 directory, no secret in them.
    state_dir = MAIL01.file("/var/lib/fracto/imap-migrate")
    assert state_dir.is_directory and state_dir.mode == 0o700
    for user in USERS:
        record = MAIL01.file("/var/lib/fracto/imap-migrate/%s.json" % user)
        assert record.exists and record.user == "root" and record.mode == 0o600
        content = record.content_string
        assert json.loads(content)["address"] == user
        assert all(value not in content for value in secrets.values() if isinstance(value, str) and len(value) > 4)


def empty_folder(client, folder):
    client.select_folder(folder)
    uids = client.search("ALL")
    if uids:
        client.delete_messages(uids)
        client.uid_expunge(uids)


def test_killed_in_the_middle_of_a_mailbox_then_rerun_gives_exact_counts_and_no_duplicate(open_source, open_dest):
    user, folder = "ana@cliente1.test", "INBOX"
    dst = open_dest(user)
    empty_folder(dst, folder)
    empty_folder(dst, "Clientes/2024")
    total = len(corpus.corpus(user)["INBOX"])
    # --check says what would be copied and writes nothing.
    rc, output = run_playbook(PROJECT, MIGRATE, "--check", "-e", "client=cliente1")
    assert rc == 0, output[-3000:]
    plan = json.loads((PROJECT / ".fracto" / "mail-migration-plan-demo.json").read_text())
    ana = next(m for m in plan["mailboxes"] if m["address"] == user)
    inbox = next(f for f in ana["folders"] if f["source"] == "INBOX")
    assert inbox["copied"] == total and inbox["bytes"] > 10 * 1024 * 1024 and ana["copied"] > total
    assert dst.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] == 0
    # One message per batch and one mailbox at a time: killed (the module's process on mail01) mid-INBOX.
    command = ["ansible-playbook", "-i", INVENTORY, "-e", "fracto_reseller_dir=%s" % (PROJECT / "inventories" / "demo"), MIGRATE, "-e", "client=cliente1",
               "-e", "migrate_mail__batch_messages=1", "-e", "migrate_mail__parallel=1"]
    # Inside mail01: as soon as the first message of ana's INBOX is on disk, kill the module's processes (by their ids).
    # (The ids are read again at the kill: the module's Python starts after its shell wrapper.)
    watcher = ("until pgrep -f '[A]nsiballZ_imap_migrate' >/dev/null; do sleep 0.05; done; "
               "until [ -n \"$(find %s/cur %s/new -type f 2>/dev/null | head -n 1)\" ]; do sleep 0.01; done; "
               "p=$(pgrep -f '[A]nsiballZ_imap_migrate'); kill -9 $p; echo killed $p" % (ANA_MAILDIR, ANA_MAILDIR))
    kill = subprocess.Popen(["docker", "exec", "mail01", "timeout", "300", "sh", "-c", watcher], stdout=subprocess.PIPE, text=True)
    run = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        killed = kill.communicate(timeout=320)[0]
    finally:
        run.kill()
        run.wait()
    assert killed.startswith("killed"), killed
    after_kill = dst.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]
    assert 0 < after_kill < total, (after_kill, total)
    dst.logout()
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "client=cliente1")
    assert rc == 0, output[-3000:]
    assert compare(open_source, open_dest, user) == {}
    report = json.loads(REPORT.read_text())
    ana = next(m for m in report["mailboxes"] if m["address"] == user)
    assert ana["copied"] == ana["messages"] - ana["already"] and ana["verified"]
    assert next(f for f in ana["folders"] if f["source"] == "INBOX")["already"] == after_kill


def test_a_wrong_password_fails_that_mailbox_and_the_others_complete(open_dest):
    dst = open_dest("hola@cliente2.test")
    empty_folder(dst, "Drafts")
    dst.logout()
    rc, output = run_playbook(PROJECT, MIGRATE, "-e", "vault_legacy_cliente1_info_password=not-the-password-1234")
    assert rc != 0
    assert "mail migration failed for info@cliente1.test" in re.sub(r"\s+", " ", output)
    assert "not-the-password-1234" not in output
    report = json.loads(REPORT.read_text())
    status = {m["address"]: m for m in report["mailboxes"]}
    assert status["info@cliente1.test"]["status"] == "failed" and "auth" in status["info@cliente1.test"]["error"].lower()
    drafts = len(corpus.corpus("hola@cliente2.test")["Drafts"])
    assert status["hola@cliente2.test"]["status"] == "ok" and status["hola@cliente2.test"]["copied"] == drafts
    assert status["ana@cliente1.test"]["status"] == "ok"


def test_the_lab_is_left_migrated(open_source, open_dest):
    rc, output = run_playbook(PROJECT, MIGRATE)
    assert rc == 0, output[-3000:]
    for user in USERS:
        assert compare(open_source, open_dest, user) == {}
