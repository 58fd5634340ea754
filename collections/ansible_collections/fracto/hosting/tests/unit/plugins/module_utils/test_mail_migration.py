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
    assert mapping["Sent Messages"] == "Sent"  # RFC 6154 flag wins over the folder merely named Sent
    assert mapping["Sent"] == "Sent" or mapping["Sent"] != mapping["Sent Messages"]
    assert mapping["Spam"] == "Junk" and mapping["Deleted Items"] == "Trash"
    assert mapping["Antiguos"] == "Archive" and mapping["INBOX"] == "INBOX"
    assert mapping["Clientes.2024"] == "Clientes/2024" and mapping["Facturación"] == "Facturación"
    assert "Raiz" not in mapping  # \Noselect: nothing to copy
    assert mp.map_folders(SOURCE, DEST, {"Spam": "Old spam"})["Spam"] == "Old spam"


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
