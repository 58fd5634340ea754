"""Sender binding (issue 13): the smtpd_sender_login_maps source the mail host's Postfix reads, and its use on
submission and submissions (module_utils/mail/sender_logins.py, config.py, host_files.py)."""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import host_files as hf
from ansible_collections.fracto.hosting.plugins.module_utils.mail import owners, sender_logins
from role_templates import mail_templates

MAIL_T = mail_templates()
HASH = "$6$saltsaltsaltsalt$nozu4aSZ9tvfyqr8kV.PwuNYpJaa6RCOb1XRcivY.S4HEWnm/pcZbgbhIR2EeRNbUrMigQuyF/KzM9qzoEvpz0"


def box(client):
    return {"hash": HASH, "quota": None, "client": client}


# Two clients of one reseller, and a domain of c2 that has no mailbox at all.
DOMAINS = {"c1.test": "c1", "shop.c1.test": "c1", "c2.test": "c2", "empty.test": "c2"}
MAILBOXES = {"info@c1.test": box("c1"), "ana@c1.test": box("c1"), "hola@c2.test": box("c2")}


def logins(aliases, domains=None, mailboxes=None):
    return sender_logins.owners(DOMAINS if domains is None else domains, MAILBOXES if mailboxes is None else mailboxes,
                                aliases)


def test_each_mailbox_sends_as_itself_only():
    assert logins({}) == {"info@c1.test": ["info@c1.test"], "ana@c1.test": ["ana@c1.test"], "hola@c2.test": ["hola@c2.test"]}


def test_an_alias_belongs_to_the_mailboxes_of_its_client_it_delivers_to():
    found = logins({"sales@c1.test": ["info@c1.test", "ana@c1.test"], "news@shop.c1.test": ["ana@c1.test"]})
    assert found["sales@c1.test"] == ["ana@c1.test", "info@c1.test"]
    assert found["news@shop.c1.test"] == ["ana@c1.test"]  # a subdomain of the same client


def test_an_alias_to_another_clients_mailbox_or_outside_gives_nobody_its_address():
    found = logins({"boss@c1.test": ["hola@c2.test"],                       # c2's mailbox: not c1's to send as
                    "fwd@c1.test": ["someone@gmail.example"],               # outside: nobody here owns it
                    "mixed@c1.test": ["hola@c2.test", "info@c1.test", "x@outside.example"]})
    assert "boss@c1.test" not in found and "fwd@c1.test" not in found
    assert found["mixed@c1.test"] == ["info@c1.test"]


def test_a_domain_without_mailboxes_gives_no_login_any_address():
    found = logins({"info@empty.test": ["someone@outside.example"]})
    assert not [address for address in found if address.endswith("@empty.test")]
    assert not [key for key in found if key.startswith("@")]  # never a catch-all key


def test_aliases_of_aliases_are_followed_and_loops_end():
    found = logins({"all@c1.test": ["team@c1.test"], "team@c1.test": ["info@c1.test", "all@c1.test"],
                    "ping@c1.test": ["pong@c1.test"], "pong@c1.test": ["ping@c1.test"]})
    assert found["all@c1.test"] == ["info@c1.test"] and found["team@c1.test"] == ["info@c1.test"]
    assert "ping@c1.test" not in found and "pong@c1.test" not in found


def test_a_target_with_an_extension_delivers_to_its_mailbox():
    assert logins({"lists@c1.test": ["info+lists@c1.test"]})["lists@c1.test"] == ["info@c1.test"]


def test_a_mailbox_written_without_a_client_is_owned_by_its_domains_client():
    mailboxes = dict(MAILBOXES, **{"old@c1.test": box(None)})
    assert logins({"sales@c1.test": ["old@c1.test"]}, mailboxes=mailboxes)["sales@c1.test"] == ["old@c1.test"]


def test_several_resellers_records_make_one_map_with_each_clients_own_logins():
    """The map is built from the union of every reseller's record: each alias still only its own client's."""
    record_a = dict(owners.empty_record("resa"), domains={"ca.test": "ca"}, mailboxes={"info@ca.test": box("ca")},
                    aliases={"sales@ca.test": ["info@ca.test", "info@cb.test"]})
    record_b = dict(owners.empty_record("resb"), domains={"cb.test": "cb"}, mailboxes={"info@cb.test": box("cb")},
                    aliases={"sales@cb.test": ["info@cb.test"]})
    entries = sender_logins.entries(owners.union({"resa": record_a, "resb": record_b}))
    assert entries == {"info@ca.test": "info@ca.test", "info@cb.test": "info@cb.test",
                       "sales@ca.test": "info@ca.test", "sales@cb.test": "info@cb.test"}


def test_the_map_is_written_with_the_other_maps_and_compiled_like_them():
    shared = owners.union({"resa": dict(owners.empty_record("resa"), domains={"c1.test": "c1"},
                                        mailboxes={"info@c1.test": box("c1"), "ana@c1.test": box("c1")},
                                        aliases={"sales@c1.test": ["info@c1.test", "ana@c1.test"]})})
    params = {"hostname": "mail01.fracto.test", "postfix_settings": {}, "webroot": "/var/lib/fracto/acme",
              "webmail_ca_file": mc.SYSTEM_CA, "send_limit_window": 3600}
    files = hf.render_all(params, shared, {}, {}, (5000, 5000), "k" * 24, templates=MAIL_T)
    assert files[mc.MAP_LOGINS] == ("# managed by fracto.hosting mail_server\n"
                                    "ana@c1.test ana@c1.test\n"
                                    "info@c1.test info@c1.test\n"
                                    "sales@c1.test ana@c1.test,info@c1.test\n")
    assert mc.MAP_LOGINS in hf.MAPS  # postmap lmdb: before postfix check, put back with the others on a failure
    assert "smtpd_sender_login_maps = lmdb:/etc/postfix/fracto/sender_logins\n" in files[mc.POSTFIX_MAIN]
    # A reseller's diff of the shared map shows its own lines only.
    own = hf.only_own(mc.MAP_LOGINS, files[mc.MAP_LOGINS] + "other@x.test other@x.test\n", {"sales@c1.test"})
    assert own == "# managed by fracto.hosting mail_server\nsales@c1.test ana@c1.test,info@c1.test\n"


def test_both_submission_services_refuse_a_sender_the_login_does_not_own():
    master = mc.render_master(templates=MAIL_T)
    submission, submissions = master.split("\nsubmission inet", 1)[1].split("\nsubmissions inet", 1)
    for service in (submission, submissions.split("\n", 1)[1].split("\nsmtp", 1)[0]):
        assert "  -o smtpd_sender_restrictions=reject_authenticated_sender_login_mismatch\n" in service
    # Not on port 25 (no login there: mail from outside is judged by SPF, DKIM and DMARC at its receiver).
    assert master.split("\nsubmission inet", 1)[0].count("sender_login_mismatch") == 0
