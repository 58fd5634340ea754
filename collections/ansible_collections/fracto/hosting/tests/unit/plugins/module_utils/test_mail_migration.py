# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mail migration without servers: signatures, folder mapping, modified UTF-7, the plan of a folder, the IMAP
response parsers, and migration.mail in the state (validation and what the mail host gets)."""

from __future__ import annotations

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.imap import client as ic
from ansible_collections.fracto.hosting.plugins.module_utils.imap import plan as mp
from ansible_collections.fracto.hosting.plugins.module_utils.state.model import validate_state
from ansible_collections.fracto.hosting.plugins.module_utils.state.resolve import resolve_state

PREFIX = "fracto_clients.cliente1.migration.mail"


# --------------------------------------------------------------------------- signatures

def test_signature_is_the_message_id_when_there_is_one():
    a = mp.signature(b"Message-ID: <A1@x.test>\r\nSubject: one\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n", 100)
    b = mp.signature(b"message-id:  <a1@x.test>\r\nSubject: rewritten by the server\r\n\r\n", 999)
    assert a == b


def test_signature_without_message_id_uses_date_from_subject_and_size():
    head = b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: a@x.test\r\nSubject: folded\r\n  subject\r\n\r\n"
    same = b"Subject: folded subject\r\nFrom: a@x.test\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
    assert mp.signature(head, 100) == mp.signature(same, 100)
    assert mp.signature(head, 100) != mp.signature(head, 101)
    assert mp.signature(head, 100) != mp.signature(head.replace(b"a@x", b"b@x"), 100)
    assert mp.signature(b"", 5) == mp.signature(b"\r\n", 5)


def test_flags_drop_recent_and_keep_keywords():
    assert mp.normal_flags([b"\\Recent", b"\\SEEN", b"$Label1", "\\Flagged"]) == ("$Label1", "\\Flagged", "\\Seen")
    assert mp.keywords_refused(("\\Seen", "$Label1", "Importante"), ("\\Seen", "$Label1")) == ["Importante"]
    assert mp.keywords_refused(("\\Seen", "Importante"), ("\\Seen", "\\*")) == []


# --------------------------------------------------------------------------- plan of a folder

def msgs(*sigs, start=1, flags=()):
    return [{"uid": start + i, "sig": s, "size": 10 * (i + 1), "flags": tuple(flags)} for i, s in enumerate(sigs)]


def test_duplicates_are_copied_as_many_times_as_they_exist_on_the_source():
    plan = mp.plan_folder(msgs("a", "a", "a", "b"), msgs("a", start=100))
    assert plan["copy"] == [2, 3, 4] and plan["matched"] == 1 and plan["copy_bytes"] == 20 + 30 + 40


def test_a_rerun_after_an_interrupted_copy_copies_only_the_rest_and_syncs_flags():
    source = msgs("a", "b", "c", "c", flags=("\\Seen",))
    dest = msgs("a", "c", start=50)
    plan = mp.plan_folder(source, dest)
    assert plan["copy"] == [2, 4]
    assert plan["flags"] == {50: ("\\Seen",), 51: ("\\Seen",)}
    assert mp.plan_folder(source, msgs("a", "b", "c", "c", start=9, flags=("\\Seen",)))["copy"] == []


def test_extra_messages_are_deleted_only_when_asked():
    plan = mp.plan_folder(msgs("a"), msgs("a", "z", start=7))
    assert plan["extra"] == [8] and plan["delete"] == []
    assert mp.plan_folder(msgs("a"), msgs("a", "z", start=7), delete_extra=True)["delete"] == [8]


def test_missing_after_is_count_based():
    assert [m["uid"] for m in mp.missing_after(msgs("a", "a", "b"), msgs("a", "b", start=10))] == [2]
    assert mp.missing_after(msgs("a", "b"), msgs("b", "a", start=10)) == []


def test_batches_bound_messages_and_bytes():
    items = [(1, 10), (2, 10), (3, 100), (4, 5), (5, 5), (6, 5)]
    assert list(mp.batches(items, 2, 1000)) == [[1, 2], [3, 4], [5, 6]]
    assert list(mp.batches(items, 10, 25)) == [[1, 2], [3], [4, 5, 6]]  # the big one goes alone
    assert mp.group_flags({3: ("\\Seen",), 1: ("\\Seen",), 2: ()}) == {("\\Seen",): [1, 3], (): [2]}


# --------------------------------------------------------------------------- folders

SOURCE = {"separator": ".", "prefix": "", "folders": [
    ("INBOX", ()), ("Sent Messages", ("\\HasNoChildren", "\\Sent")), ("Sent", ()), ("Spam", ()),
    ("Deleted Items", ()), ("Clientes", ("\\HasChildren",)), ("Clientes.2024", ()), ("Facturación", ()),
    ("Antiguos", ()), ("Raiz", ("\\Noselect",))]}
DEST = {"separator": "/", "prefix": "", "folders": [("INBOX", ()), ("Sent", ("\\Sent",)), ("Junk", ("\\Junk",)),
                                                    ("Trash", ("\\Trash",)), ("Drafts", ("\\Drafts",))]}


def test_special_use_flags_then_common_names_then_the_explicit_map():
    mapping = mp.map_folders(SOURCE, DEST, {"Antiguos": "Archive"})
    assert mapping == {
        "INBOX": "INBOX",
        "Sent Messages": "Sent",        # RFC 6154 \Sent flag: onto the destination's \Sent folder
        "Sent": "Sent",                 # merely named Sent: \Sent is taken, it keeps its own name (the same folder here)
        "Spam": "Junk", "Deleted Items": "Trash",  # common names onto the destination's \Junk and \Trash
        "Antiguos": "Archive",          # the explicit map
        "Clientes": "Clientes", "Clientes.2024": "Clientes/2024", "Facturación": "Facturación",
    }  # "Raiz" is \Noselect: nothing to copy
    assert mp.map_folders(SOURCE, DEST, {"Spam": "Old spam"})["Spam"] == "Old spam"


def test_a_folder_only_named_like_a_special_use_one_keeps_its_name_when_the_flagged_one_took_it():
    """The flagged \\Sent folder is mapped first, whatever the alphabetical order: "Enviados" (a common name of Sent,
    sorted before "Sent Messages") keeps its own name instead of being merged into the destination's Sent."""
    source = {"separator": ".", "prefix": "", "folders": [
        ("INBOX", ()), ("Enviados", ()), ("Sent Messages", ("\\Sent",)), ("Papelera", ())]}
    assert mp.map_folders(source, DEST) == {"INBOX": "INBOX", "Sent Messages": "Sent", "Enviados": "Enviados",
                                            "Papelera": "Trash"}
    # Without a flagged one, the common name is the Sent folder.
    unflagged = {"separator": ".", "prefix": "", "folders": [("INBOX", ()), ("Enviados", ())]}
    assert mp.map_folders(unflagged, DEST) == {"INBOX": "INBOX", "Enviados": "Sent"}


def test_courier_like_prefix_is_dropped():
    source = {"separator": ".", "prefix": "INBOX.", "folders": [("INBOX", ()), ("INBOX.Sent Items", ()), ("INBOX.A.B", ())]}
    mapping = mp.map_folders(source, DEST)
    assert mapping == {"INBOX": "INBOX", "INBOX.Sent Items": "Sent", "INBOX.A.B": "A/B"}


@pytest.mark.parametrize("name, encoded", [("Facturación", "Facturaci&APM-n"), ("A&B", "A&-B"),
                                           ("日本語", "&ZeVnLIqe-"), ("plain", "plain"), ("Tr~/x", "Tr~/x")])
def test_modified_utf7(name, encoded):
    assert ic.utf7_encode(name) == encoded
    assert ic.utf7_decode(encoded) == name
    assert ic.utf7_decode(encoded.encode()) == name


# --------------------------------------------------------------------------- IMAP responses

def test_parse_list_quoted_literal_and_utf7_names():
    data = [b'(\\HasNoChildren \\Sent) "." "Sent Messages"', b'(\\HasChildren) "." Clientes',
            (b'(\\HasNoChildren) "." {15}', b'Facturaci&APM-n'), b'(\\Noselect) NIL "x\\"y"']
    assert ic.parse_list(data) == [(("\\HasNoChildren", "\\Sent"), ".", "Sent Messages"), (("\\HasChildren",), ".", "Clientes"),
                                   (("\\HasNoChildren",), ".", "Facturación"), (("\\Noselect",), None, 'x"y')]


def test_parse_namespace():
    assert ic.parse_namespace([b'(("" ".")) NIL NIL']) == ("", ".")
    assert ic.parse_namespace([b'(("INBOX." ".")) NIL (("#shared." "."))']) == ("INBOX.", ".")
    assert ic.parse_namespace([b"NIL NIL NIL"]) is None


def test_parse_fetch_with_literals_and_flags_after_them():
    data = [(b'1 (UID 7 RFC822.SIZE 120 FLAGS (\\Seen $Label1) BODY[HEADER.FIELDS (MESSAGE-ID)] {20}', b"Message-ID: <a@b>\r\n\r\n"),
            b")",
            (b'2 (UID 9 RFC822.SIZE 30 INTERNALDATE "01-Jan-2024 10:00:00 +0100" BODY[] {3}', b"abc"), b" FLAGS (\\Answered))",
            b"3 (UID 11 FLAGS ())"]
    parsed = ic.parse_fetch(data)
    assert parsed[7] == {"flags": ("\\Seen", "$Label1"), "size": 120, "internaldate": None, "literal": b"Message-ID: <a@b>\r\n\r\n"}
    assert parsed[9]["flags"] == ("\\Answered",) and parsed[9]["internaldate"] == '"01-Jan-2024 10:00:00 +0100"'
    assert parsed[9]["literal"] == b"abc" and parsed[11]["flags"] == () and parsed[11]["literal"] is None


def test_uid_set_and_quoting():
    assert ic.uid_set([5, 1, 2, 3, 8, 10, 11]) == "1:3,5,8,10:11"
    assert ic.mailbox_arg('Fact "2024"') == '"Fact \\"2024\\""'


# --------------------------------------------------------------------------- migration.mail in the state

def with_mail(state, **mail):
    state["fracto_clients"]["cliente1"]["migration"] = {"mail": dict({"from": "legacy01"}, **mail)}
    return state


def test_mail_migration_resolves_per_mailbox_on_the_mail_host(state, inventory):
    with_mail(state, **{"from": "old.example.test:9993", "master_user": "migrator", "master_password": "m-secret-123",
                        "folder_map": {"Antiguos": "Archive"},
                        "mailboxes": {"Info@cliente1.test": {"password": "p-secret-123"}, "ana@cliente1.test": None}})
    model, problems = validate_state(state, inventory)
    assert problems.errors == []
    hosts = resolve_state(model)["hosts"]
    moves = {m["address"]: m for m in hosts["mail01"]["mail_migrations"]}
    assert set(moves) == {"info@cliente1.test", "ana@cliente1.test"}
    assert moves["info@cliente1.test"]["password"] == "p-secret-123" and moves["info@cliente1.test"]["port"] == 9993
    assert moves["ana@cliente1.test"]["password"] is None and moves["ana@cliente1.test"]["master_user"] == "migrator"
    assert moves["ana@cliente1.test"]["from"] == "old.example.test" and moves["ana@cliente1.test"]["folder_map"] == {"Antiguos": "Archive"}
    assert moves["ana@cliente1.test"]["delete_extra"] is False and hosts["cloud01"]["mail_migrations"] == []


def test_mail_migration_rules(state, inventory):
    with_mail(state, mailboxes={"ana@cliente1.test": {}})
    assert validate_state(state, inventory)[1].errors == [
        PREFIX + '.mailboxes["ana@cliente1.test"].password: is required without master_user/master_password '
                 "(the migrator logs in to the old server as this user)"]
    with_mail(state, master_user="m", mailboxes={"ana@cliente1.test": {}})
    assert validate_state(state, inventory)[1].errors == [PREFIX + ".master_password: is required with master_user"]
    with_mail(state, delete_extra="yes", folder_map={"A": 3}, mailboxes={"ana@cliente1.test": {"password": "x" * 12}})
    found = validate_state(state, inventory)[1].errors
    assert PREFIX + ".delete_extra: must be true or false, got a string" in found
    assert any(e.startswith(PREFIX + ".folder_map") and "old folder name to a new folder name" in e for e in found)


# --------------------------------------------------------------------------- the record of verified folders

JOB = {"address": "info@cliente1.test", "source": {"host": "legacy01.fracto.test", "port": 993, "user": "info@x.test"},
       "destination": {"host": "127.0.0.1", "port": 143}}
SRC = {"UIDVALIDITY": 1700000000, "UIDNEXT": 41, "MESSAGES": 3, "HIGHESTMODSEQ": 57}
DST = {"UIDVALIDITY": 1700000500, "UIDNEXT": 12, "MESSAGES": 4, "HIGHESTMODSEQ": 9}


def _msgs(*specs):
    return [{"uid": uid, "sig": sig, "size": 10, "flags": tuple(flags)} for uid, sig, flags in specs]


REC_SOURCE = _msgs((1, "a", ["\\Seen"]), (2, "b", []), (3, "b", ["$label1"]))
REC_DEST = _msgs((5, "a", ["\\Seen"]), (6, "b", []), (7, "b", ["$label1"]), (8, "foreign", []))


def _entry(**changes):
    entry = mp.verified_entry("Archive", SRC, DST, REC_SOURCE, REC_DEST, False)
    entry.update(changes)
    return entry


def test_a_verified_folder_is_recorded_with_both_sides_values_and_its_counts():
    assert _entry() == {"destination": "Archive", "source_status": [1700000000, 41, 3, 57],
                        "destination_status": [1700000500, 12, 4, 9], "messages": 3, "already": 3, "extra": 1}


@pytest.mark.parametrize("source, destination, delete_extra", [
    (REC_SOURCE, REC_DEST[:2] + REC_DEST[3:], False),  # a message missing (the second "b")
    (REC_SOURCE, _msgs((5, "a", []), (6, "b", []), (7, "b", ["$label1"]), (8, "foreign", [])), False),  # flags differ
    (REC_SOURCE, REC_DEST, True),  # delete_extra with an extra message left (no UIDPLUS)
    (REC_SOURCE[:2], REC_DEST, False),  # the inventory is not that of the status (MESSAGES 3): changed in between
])
def test_a_folder_that_is_not_complete_and_equal_is_not_recorded(source, destination, delete_extra):
    assert mp.verified_entry("Archive", SRC, DST, source, destination, delete_extra) is None


@pytest.mark.parametrize("status", [None, {}, dict(SRC, HIGHESTMODSEQ=0), {k: v for k, v in SRC.items() if k != "UIDNEXT"}])
def test_no_record_without_all_four_values_or_without_persistent_modseqs(status):
    assert mp.status_tuple(status) is None
    assert mp.verified_entry("Archive", status, DST, REC_SOURCE, REC_DEST, False) is None
    assert mp.verified_entry("Archive", SRC, status, REC_SOURCE, REC_DEST, False) is None


def test_an_unchanged_folder_is_skipped_only_when_all_four_values_match_on_both_sides():
    assert mp.unchanged_since_verified(_entry(), "Archive", dict(SRC), dict(DST), False)
    for item in mp.STATUS_ITEMS:
        assert not mp.unchanged_since_verified(_entry(), "Archive", dict(SRC, **{item: SRC[item] + 1}), DST, False), item
        assert not mp.unchanged_since_verified(_entry(), "Archive", SRC, dict(DST, **{item: DST[item] + 1}), False), item
    # Another destination folder (folder_map changed), no record, a status the server refused, no modseqs.
    assert not mp.unchanged_since_verified(_entry(), "Archivo", SRC, DST, False)
    assert not mp.unchanged_since_verified(None, "Archive", SRC, DST, False)
    assert not mp.unchanged_since_verified(_entry(), "Archive", {}, DST, False)
    assert not mp.unchanged_since_verified(_entry(), "Archive", SRC, dict(DST, HIGHESTMODSEQ=0), False)


def test_delete_extra_compares_in_full_a_folder_recorded_with_extra_messages():
    assert not mp.unchanged_since_verified(_entry(), "Archive", SRC, DST, True)
    assert mp.unchanged_since_verified(_entry(extra=0), "Archive", SRC, DST, True)


def test_a_record_counts_only_for_the_same_mailbox_servers_and_login():
    record = mp.updated_record(JOB, {"Archive": _entry()})
    assert mp.usable_record(record, JOB) == {"Archive": _entry()}
    other_source = dict(JOB, source=dict(JOB["source"], host="old2.example.test"))
    other_login = dict(JOB, source=dict(JOB["source"], user="admin"))
    other_dest = dict(JOB, destination={"host": "mail.example.test", "port": 993})
    for job in (other_source, other_login, other_dest, dict(JOB, address="ana@cliente1.test")):
        assert mp.usable_record(record, job) == {}
    assert mp.usable_record(dict(record, version=0), JOB) == {}
    assert mp.usable_record("garbage", JOB) == {}
    assert "password" not in repr(record)


def test_record_file_names_stay_in_their_directory():
    assert mp.record_file_name("info@cliente1.test") == "info@cliente1.test.json"
    assert "/" not in mp.record_file_name("../../etc/x")
    assert not mp.record_file_name("../x").startswith(".")


@pytest.mark.parametrize("data, expected", [
    ([b'"INBOX" (UIDVALIDITY 17 UIDNEXT 41 MESSAGES 3 HIGHESTMODSEQ 57)'],
     {"UIDVALIDITY": 17, "UIDNEXT": 41, "MESSAGES": 3, "HIGHESTMODSEQ": 57}),
    ([b'Archive (MESSAGES 0 UIDNEXT 1)'], {"MESSAGES": 0, "UIDNEXT": 1}),
    ([(b'{7}', b'A (b) c'), b' (MESSAGES 2 UIDVALIDITY 5)'], {"MESSAGES": 2, "UIDVALIDITY": 5}),
    ([b'"Clientes/2024 (old)" (MESSAGES 4)'], {"MESSAGES": 4}),
    ([None], {}),
])
def test_parse_status(data, expected):
    assert ic.parse_status(data) == expected


def test_tls_context_is_built_once_per_trust_setting():
    assert ic.tls_context(True) is ic.tls_context(True)
    loopback = ic.tls_context(False)
    assert loopback is not ic.tls_context(True)
    assert loopback.verify_mode == ic.ssl.CERT_NONE and ic.tls_context(True).verify_mode == ic.ssl.CERT_REQUIRED


def test_imap_connection_sends_without_nagle_delay():
    """AUTHENTICATE and APPEND write a literal and its CRLF separately: TCP_NODELAY keeps them from waiting 40 ms."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def greet():
        conn = server.accept()[0]
        conn.sendall(b"* OK ready\r\n")
        tag = conn.recv(1024).split(b" ")[0]  # imaplib asks CAPABILITY at once
        conn.sendall(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    imap = ic.IMAP("127.0.0.1", server.getsockname()[1], tls=False, timeout=5)
    try:
        assert imap.imap.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        imap.imap.shutdown()
        thread.join(5)
        server.close()


def test_a_literal_larger_than_the_limit_is_refused_before_it_is_read(monkeypatch):
    """A hostile old server announcing a huge literal cannot make the migrator allocate it."""
    import imaplib
    import io

    import pytest
    from ansible_collections.fracto.hosting.plugins.module_utils.imap import client

    monkeypatch.setattr(client, "MAX_LITERAL", 10)
    server = client._BoundedIMAP4.__new__(client._BoundedIMAP4)  # pylint: disable=protected-access  # no connection needed
    server.file = io.BytesIO(b"x" * 100)
    assert server.read(10) == b"x" * 10
    with pytest.raises(imaplib.IMAP4.abort, match="literal of 11 bytes"):
        server.read(11)
