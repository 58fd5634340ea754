"""Rendering and planning of a FractoMail host (module_utils/mail/), and the password hashing, without a host."""

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.mail import config as mc
from ansible_collections.fracto.hosting.plugins.module_utils.mail import passwords
from role_templates import mail_templates

MAIL_T = mail_templates()  # the role's default templates (roles/fracto_mail/templates)

HASH = "$6$saltsaltsaltsalt$nozu4aSZ9tvfyqr8kV.PwuNYpJaa6RCOb1XRcivY.S4HEWnm/pcZbgbhIR2EeRNbUrMigQuyF/KzM9qzoEvpz0"
OTHER_HASH = "$6$othersalt$KOS45/wSnH6..5vYtXvxa/gg1tkVv.WrULD326ImCQwVYWXWcUoDZgo/pgdq.QRDLjAY8WVB3FOJKXIUWdPl//"
ARGON = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo"
DOMAINS = [{"domain": "c1.test", "client": "c1"}, {"domain": "c2.test", "client": "c2"}]
BOXES = [{"address": "info@c1.test", "client": "c1", "quota": 2 << 30, "password_hash": HASH},
         {"address": "x@c2.test", "client": "c2", "quota": None, "password_hash": ARGON}]
ALIASES = [{"address": "sales@c1.test", "client": "c1", "targets": ["info@c1.test"]}]
CERTS = {"mail.c1.test": ("/etc/fracto/tls/mail.c1.test/fullchain.pem", "/etc/fracto/tls/mail.c1.test/privkey.pem"),
         "webmail.c1.test": ("/etc/fracto/tls/mail.c1.test/fullchain.pem", "/etc/fracto/tls/mail.c1.test/privkey.pem"),
         "mail01.example.test": ("/etc/fracto/tls/mail01/fullchain.pem", "/etc/fracto/tls/mail01/privkey.pem")}
WEBMAIL = [{"name": "webmail.c1.test", "branding": "client", "clients": ["c1"]},
           {"name": "webmail.brand.test", "branding": "reseller", "clients": ["c2"]}]
MAIL_NAMES = [{"name": "mail.c1.test", "branding": "client", "clients": ["c1"]},
              {"name": "mail.brand.test", "branding": "reseller", "clients": ["c2"]}]


def converge(current_files, domains=None, boxes=None, aliases=None, clients=("c1", "c2"), prune=False):
    domains, boxes, aliases = domains or DOMAINS, BOXES if boxes is None else boxes, ALIASES if aliases is None else aliases
    current = mc.current_objects(current_files.get("users"), current_files.get("domains"), current_files.get("aliases"))
    wanted = mc.wanted_objects(domains, boxes, aliases)
    (d, u, a), changes = mc.plan_objects(current, wanted, clients, prune)
    files = {"users": mc.render_users(u), "domains": mc.render_map(d),
             "aliases": mc.render_map({k: ",".join(v) for k, v in a.items()})}
    return files, changes


def test_first_run_creates_everything_and_the_second_changes_nothing():
    files, changes = converge({})
    assert {(c["action"], c["kind"], c["id"]) for c in changes} == {
        ("create", "mail_domain", "c1.test"), ("create", "mail_domain", "c2.test"), ("create", "mailbox", "info@c1.test"),
        ("create", "mailbox", "x@c2.test"), ("create", "mail_alias", "sales@c1.test")}
    again, changes = converge(files)
    assert changes == [] and again == files


def test_users_file_carries_scheme_home_and_quota_and_parses_back():
    files, _changes = converge({})
    line = next(x for x in files["users"].splitlines() if x.startswith("info@c1.test:"))
    assert line == "info@c1.test:{CRYPT}%s:::client=c1:/var/vmail/c1.test/info::userdb_quota_rule=*:storage=2147483648B" % HASH
    assert "x@c2.test:{ARGON2ID}$argon2id$" in files["users"]
    parsed = mc.parse_users(files["users"])
    assert parsed["info@c1.test"] == {"hash": HASH, "quota": 2 << 30, "client": "c1"}
    assert parsed["x@c2.test"]["quota"] is None


def test_password_and_quota_changes_are_described_without_the_hash():
    files, _changes = converge({})
    boxes = [dict(BOXES[0], password_hash=OTHER_HASH, quota=500 << 20), BOXES[1]]
    _files, changes = converge(files, boxes=boxes)
    assert changes == [{"action": "change", "kind": "mailbox", "id": "info@c1.test", "client": "c1",
                        "detail": ["password changed", "quota: 2G -> 500M"]}]
    assert "$6$" not in repr(changes)


def test_objects_of_a_client_gone_from_the_state_are_kept_unless_prune():
    files, _changes = converge({})
    kept, changes = converge(files, domains=DOMAINS[:1], boxes=BOXES[:1], clients=("c1",))
    assert "x@c2.test" in kept["users"] and "c2.test" in kept["domains"]
    assert {c["action"] for c in changes} == {"keep"}
    pruned, changes = converge(files, domains=DOMAINS[:1], boxes=BOXES[:1], clients=("c1",), prune=True)
    assert "x@c2.test" not in pruned["users"] and "c2.test" not in pruned["domains"]
    assert {(c["action"], c["id"]) for c in changes} == {("remove", "c2.test"), ("remove", "x@c2.test")}


def test_mailbox_of_a_present_client_is_removed_from_the_maps():
    files, _changes = converge({})
    after, changes = converge(files, boxes=BOXES[1:])
    assert "info@c1.test" not in after["users"]
    assert changes[0]["action"] == "remove" and "kept in /var/vmail" in changes[0]["detail"][0]


def test_alias_changes_list_destinations():
    files, _changes = converge({})
    _after, changes = converge(files, aliases=[dict(ALIASES[0], targets=["info@c1.test", "x@c2.test"])])
    assert changes == [{"action": "change", "kind": "mail_alias", "id": "sales@c1.test", "client": "c1", "detail": ["+ x@c2.test"]}]


def test_redacted_users_file_shows_no_hash():
    files, _changes = converge({})
    shown = mc.redact_users(files["users"])
    assert "$6$" not in shown and "$argon2id$" not in shown and "info@c1.test:********:" in shown


def test_dovecot_is_tls_only_with_sni_blocks_for_installed_certificates():
    text = mc.render_dovecot("mail01.example.test", ["mail.c1.test", "mail.brand.test"], CERTS, 5000, 5000, templates=MAIL_T)
    assert "ssl = required\n" in text and "disable_plaintext_auth = yes\n" in text
    assert "ssl_cert = </etc/fracto/tls/mail01/fullchain.pem\n" in text
    assert "local_name mail.c1.test {" in text and "local_name mail.brand.test" not in text  # not installed yet
    assert "ssl_cipher_list = %s\n" % mc.MOZILLA_INTERMEDIATE_CIPHERS in text
    assert "quota = maildir:User quota" in text


def test_snakeoil_until_the_hosts_certificate_is_installed():
    text = mc.render_dovecot("mail01.example.test", [], {}, 5000, 5000, templates=MAIL_T)
    assert "ssl_cert = <%s\n" % mc.SNAKEOIL[0] in text
    assert "smtpd_tls_chain_files = %s, %s\n" % (mc.SNAKEOIL[1], mc.SNAKEOIL[0]) in mc.render_main("mail01.example.test", {}, templates=MAIL_T)


def test_postfix_is_no_open_relay_and_offers_auth_only_over_tls():
    main = mc.render_main("mail01.example.test", CERTS, {"smtpd_peername_lookup": "no"}, templates=MAIL_T)
    assert "smtpd_tls_auth_only = yes\n" in main and "smtpd_sasl_auth_enable = no\n" in main
    assert "reject_unauth_destination" in main and "tls_server_sni_maps = lmdb:/etc/postfix/fracto/sni\n" in main
    assert "tls_high_cipherlist = %s\n" % mc.MOZILLA_INTERMEDIATE_CIPHERS in main
    assert "smtpd_peername_lookup = no\n" in main
    master = mc.render_master(templates=MAIL_T)
    assert "submission inet" in master and "smtpd_tls_security_level=encrypt" in master
    assert "submissions inet" in master and "smtpd_tls_wrappermode=yes" in master
    assert master.count("smtpd_sasl_auth_enable=yes") == 2


def test_sni_map_changes_when_a_certificate_is_renewed():
    names = ["mail.c1.test", "mail.brand.test"]
    first = mc.render_sni(names, CERTS, {CERTS["mail.c1.test"][0]: "aa"})
    second = mc.render_sni(names, CERTS, {CERTS["mail.c1.test"][0]: "bb"})
    assert first != second and "mail.brand.test" not in first
    assert "mail.c1.test %s %s\n" % (CERTS["mail.c1.test"][1], CERTS["mail.c1.test"][0]) in first


def test_webmail_vhost_serves_roundcube_over_https_once_its_certificate_is_there():
    files = mc.nginx_files("/var/lib/fracto/acme", WEBMAIL, CERTS, templates=MAIL_T)
    c1 = files["/etc/nginx/fracto/sites/webmail.c1.test.conf"]
    assert "listen 443 ssl" in c1 and "root %s;" % mc.ROUNDCUBE_ROOT in c1 and "client=c1 " in c1
    brand = files["/etc/nginx/fracto/sites/webmail.brand.test.conf"]
    assert "listen 443" not in brand and "client=(reseller)" in brand and "acme-challenge" in brand


def test_roundcube_brands_each_webmail_name_and_keeps_its_des_key():
    files = mc.roundcube_files(WEBMAIL, MAIL_NAMES, "k" * 24, "mail01.example.test", templates=MAIL_T)
    main = files[mc.ROUNDCUBE_CONF]
    assert "'webmail.c1.test' => 'fracto-webmail.c1.test.inc.php'" in main
    assert mc.des_key_of(main) == "k" * 24
    host = files["/etc/roundcube/fracto-webmail.brand.test.inc.php"]
    assert "$config['product_name'] = 'Webmail brand.test';" in host
    assert "'peer_name' => 'mail.brand.test'" in host
    assert mc.roundcube_files([], MAIL_NAMES, "k", "h", templates=MAIL_T) == {}


@pytest.mark.parametrize("given, expected", [("$6$x$y", "{CRYPT}$6$x$y"), ("$2b$12$abc", "{CRYPT}$2b$12$abc"),
                                             ("$argon2i$v=19$abc", "{ARGON2I}$argon2i$v=19$abc")])
def test_dovecot_scheme(given, expected):
    assert mc.dovecot_scheme(given) == expected and mc.strip_scheme(expected) == given


def test_passwords_are_hashed_and_a_verifying_hash_is_kept():
    boxes = [{"address": "a@c1.test", "password": "secret-password-1", "password_hash": None, "quota": None, "client": "c1"},
             {"address": "b@c1.test", "password": None, "password_hash": HASH, "quota": None, "client": "c1"}]
    first, _prints = passwords.hashed_mailboxes(boxes, {})
    assert "password" not in first[0] and first[0]["password_hash"].startswith("$6$")
    assert first[1]["password_hash"] == HASH
    again, _prints = passwords.hashed_mailboxes(boxes, {"a@c1.test": first[0]["password_hash"]})
    assert again[0]["password_hash"] == first[0]["password_hash"]
    changed, _prints = passwords.hashed_mailboxes([dict(boxes[0], password="another-password")], {"a@c1.test": first[0]["password_hash"]})
    assert changed[0]["password_hash"] != first[0]["password_hash"]


def test_an_unverifiable_hash_is_replaced():
    boxes = [{"address": "a@c1.test", "password": "secret-password-1", "client": "c1"}]
    out, _prints = passwords.hashed_mailboxes(boxes, {"a@c1.test": "not-a-hash"})
    assert out[0]["password_hash"].startswith("$6$")


KEY = bytes(range(32))


def test_a_recorded_fingerprint_skips_verification(monkeypatch):
    box = {"address": "a@c1.test", "password": "secret-password-1", "client": "c1"}
    first, prints = passwords.hashed_mailboxes([box], {}, key=KEY)
    current = {"a@c1.test": first[0]["password_hash"]}
    assert "secret-password-1" not in prints["a@c1.test"] and len(prints["a@c1.test"]) == 64

    def no_verify(*_args):
        raise AssertionError("verified although the fingerprint matched")
    monkeypatch.setattr(passwords, "verifies", no_verify)
    again, prints_again = passwords.hashed_mailboxes([box], current, key=KEY, known=prints)
    assert again[0]["password_hash"] == first[0]["password_hash"] and prints_again == prints


def test_a_fingerprint_never_vouches_for_another_password_hash_or_key():
    box = {"address": "a@c1.test", "password": "secret-password-1", "client": "c1"}
    first, prints = passwords.hashed_mailboxes([box], {}, key=KEY)
    current = {"a@c1.test": first[0]["password_hash"]}
    changed, _prints = passwords.hashed_mailboxes([dict(box, password="another-password")], current, key=KEY, known=prints)
    assert changed[0]["password_hash"] != first[0]["password_hash"]
    assert passwords.verifies(passwords.context(), "another-password", changed[0]["password_hash"])
    other_key, _prints = passwords.hashed_mailboxes([box], current, key=bytes(32), known=prints)
    assert other_key[0]["password_hash"] == first[0]["password_hash"]  # verified the slow way, still kept


def test_many_mailboxes_are_settled_in_parallel_with_the_same_result():
    boxes = [{"address": "u%d@c1.test" % i, "password": "pw-%d" % i, "client": "c1"} for i in range(passwords.PARALLEL_FROM)]
    out, prints = passwords.hashed_mailboxes(boxes, {}, key=KEY, workers=2)
    ctx = passwords.context()
    assert all(passwords.verifies(ctx, b["password"], o["password_hash"]) for b, o in zip(boxes, out))
    current = {o["address"]: o["password_hash"] for o in out}
    again, _prints = passwords.hashed_mailboxes(boxes, current, workers=2)
    assert [o["password_hash"] for o in again] == [o["password_hash"] for o in out]


def test_human_quota():
    assert [mc.human(q) for q in (None, 1 << 30, 250 << 20, 1000)] == ["unlimited", "1G", "250M", "1000B"]


def test_senders_with_a_dedicated_address_get_their_own_transport():
    bindings = [{"address": "198.51.100.102", "sides": ["mail"], "clients": ["c2"], "helo": "smtp-198-51-100-102.fracto.test"},
                {"address": "198.51.100.100", "sides": ["web"], "clients": ["c1"]}]
    transports, entries = mc.sender_transports(DOMAINS, bindings)
    assert transports == [("smtp-198-51-100-102", "198.51.100.102", "smtp-198-51-100-102.fracto.test")]
    assert entries == {"@c2.test": "smtp-198-51-100-102:"}  # c1 (web only) keeps the main address
    master = mc.render_master(transports, templates=MAIL_T)
    assert ("smtp-198-51-100-102 unix  -       -       n       -       -       smtp\n"
            "  -o syslog_name=postfix/smtp-198-51-100-102\n  -o smtp_bind_address=198.51.100.102\n"
            "  -o smtp_helo_name=smtp-198-51-100-102.fracto.test\n") in master
    assert "smtp_bind_address" not in mc.render_master(templates=MAIL_T)
    main = mc.render_main("mail01.example.test", CERTS, mc.sender_settings(), templates=MAIL_T)
    assert "sender_dependent_default_transport_maps = lmdb:/etc/postfix/fracto/sender_transports\n" in main
    assert mc.render_map(entries).endswith("@c2.test smtp-198-51-100-102:\n")


def test_sender_changes_say_where_mail_leaves_from():
    transports = [("smtp-198-51-100-102", "198.51.100.102", "smtp-198-51-100-102.fracto.test")]
    before = mc.render_map({"@c1.test": "smtp-198-51-100-102:"})
    lines = mc.sender_changes(before, {"@c2.test": "smtp-198-51-100-102:"}, transports, DOMAINS, "mail01.example.test")
    assert lines == [
        {"action": "remove", "kind": "mail_sender", "id": "c1.test", "client": "c1",
         "detail": ["mail leaves from the host's main address (HELO mail01.example.test)"]},
        {"action": "create", "kind": "mail_sender", "id": "c2.test", "client": "c2",
         "detail": ["mail leaves from 198.51.100.102 (HELO smtp-198-51-100-102.fracto.test)"]}]
    assert mc.sender_changes(before, {"@c1.test": "smtp-198-51-100-102:"}, transports, DOMAINS, "h") == []
