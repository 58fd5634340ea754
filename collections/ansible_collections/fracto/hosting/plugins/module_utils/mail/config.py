# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the configuration of a FractoMail host (Postfix, Dovecot, nginx and Roundcube) and plan its changes.

Pure functions: the module reads the host and passes what it found in, so that the rendering, the
comparison and the change lines are unit-tested without a host. No hash or password ever reaches a
change line or a diff: the users file is compared entry by entry and shown redacted.
The configuration files are rendered from the templates the role passes (roles/fracto_mail/templates,
module_utils/render.py) with a context of checked values; the users file and the Postfix maps are data,
written here line by line, each field checked so that none can break its syntax.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe
from ansible_collections.fracto.hosting.plugins.module_utils.web.sites import (
    CHALLENGE,
    MOZILLA_INTERMEDIATE_CIPHERS,
    NGINX_DIR,
    TLS_PARAMS,
    shared_files,
)

MARK = "managed by fracto.hosting mail_server"
VMAIL_HOME = "/var/vmail"
USERS_FILE = "/etc/dovecot/fracto/users"
# The temporary master users of mail migrations (module imap_migrate writes them; see module_utils/mail/masters.py).
MASTERS_FILE = "/etc/dovecot/fracto/migration-masters"
DOVECOT_CONF = "/etc/dovecot/dovecot.conf"
DOVECOT_INCLUDES = "/etc/dovecot/fracto/conf.d"
POSTFIX_MAIN = "/etc/postfix/main.cf"
POSTFIX_MASTER = "/etc/postfix/master.cf"
POSTFIX_MAPS = "/etc/postfix/fracto"
MAP_DOMAINS = POSTFIX_MAPS + "/domains"
MAP_MAILBOXES = POSTFIX_MAPS + "/mailboxes"
MAP_ALIASES = POSTFIX_MAPS + "/aliases"
MAP_SNI = POSTFIX_MAPS + "/sni"
MAP_SENDERS = POSTFIX_MAPS + "/sender_transports"
# smtpd_sender_login_maps: the addresses each login may send as (module_utils/mail/sender_logins.py).
MAP_LOGINS = POSTFIX_MAPS + "/sender_logins"
ROUNDCUBE_DIR = "/etc/roundcube"
ROUNDCUBE_CONF = ROUNDCUBE_DIR + "/config.inc.php"
ROUNDCUBE_ROOT = "/var/lib/roundcube/public_html"
# Roundcube reaches Dovecot and Postfix on the loopback and verifies them by the mail name against the system store.
LOCAL_SERVER = "127.0.0.1"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
PHP_FPM_SOCKET = "/run/php/php8.2-fpm.sock"
SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
REDACTED = "********"
# Mozilla's intermediate profile: the curves Postfix and Dovecot offer (their defaults do not pass it).
CURVES = ("X25519", "prime256v1", "secp384r1")
# Hash formats Dovecot's passwd-file is given, by their prefix.
SCHEMES = (("$argon2id$", "ARGON2ID"), ("$argon2i$", "ARGON2I"))


def dovecot_scheme(password_hash):
    """'{SCHEME}hash' for the passwd-file: argon2 by name, every crypt(3) format ($6$, $5$, $2b$, $y$) as CRYPT."""
    for prefix, scheme in SCHEMES:
        if password_hash.startswith(prefix):
            return "{%s}%s" % (scheme, password_hash)
    return "{CRYPT}%s" % password_hash


def strip_scheme(value):
    """The hash without its {SCHEME} prefix."""
    return value.split("}", 1)[1] if value.startswith("{") and "}" in value else value


# --------------------------------------------------------------------------- users file and maps

def parse_users(content):
    """{address: {"hash", "quota", "client"}} from the passwd-file (quota in bytes or None)."""
    users = {}
    for line in (content or "").splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split(":", 7)  # the extra fields hold colons (userdb_quota_rule=*:storage=...)
        if len(fields) < 2:
            continue
        address, pw_hash = fields[0], strip_scheme(fields[1])
        client = fields[4][len("client="):] if len(fields) > 4 and fields[4].startswith("client=") else None
        quota = None
        for extra in (fields[7] if len(fields) > 7 else "").split():
            if extra.startswith("userdb_quota_rule=*:storage="):
                quota = int(extra.rsplit("=", 1)[1].rstrip("B"))
        users[address] = {"hash": pw_hash, "quota": quota, "client": client}
    return users


def users_line(address, user):
    """One passwd-file line, every field checked: a ':' or newline in any of them would add or change a login."""
    field = "mailboxes[%s]" % address
    local, domain = safe.address(address, field + ".address")
    pw_hash = safe.password_hash(user["hash"], field + ".password_hash")
    quota = safe.quota(user["quota"], field + ".quota")
    client = safe.client(user["client"], field + ".client") if user["client"] else ""
    home = safe.maildir_home(VMAIL_HOME, domain, local, field + ".address")
    extra = "userdb_quota_rule=*:storage=%dB" % quota if quota else ""
    fields = [safe.passwd_field(address, field + ".address"), safe.passwd_field(dovecot_scheme(pw_hash), field + ".password_hash"),
              "", "", safe.passwd_field("client=%s" % client, field + ".client"), safe.passwd_field(home, field + ".home"), "",
              safe.passwd_extra(extra, field + ".quota")]
    return ":".join(fields)


def render_users(users):
    """The passwd-file: address:{SCHEME}hash:::client=<id>:home::userdb_quota_rule=... (uid/gid from default_fields)."""
    lines = ["# %s" % MARK]
    lines += [users_line(address, users[address]) for address in sorted(users)]
    return "\n".join(lines) + "\n"


def parse_map(content):
    """{key: value} of a Postfix map source file."""
    entries = {}
    for line in (content or "").splitlines():
        if line and not line.startswith("#"):
            key, _sep, value = line.partition(" ")
            entries[key] = value.strip()
    return entries


def render_map(entries, field="map"):
    """A Postfix map source; every key and value is one token (no whitespace, control character or leading '#')."""
    lines = ["# %s\n" % MARK]
    for key in sorted(entries):
        lines.append("%s %s\n" % (safe.map_token(key, "%s key" % field),
                                  safe.map_token(entries[key], "%s[%s]" % (field, key))))
    return "".join(lines)


def current_objects(users_content, domains_content, aliases_content):
    """What the host has: ({domain: client}, {address: user}, {address: [targets]})."""
    domains = parse_map(domains_content)
    aliases = {a: [t for t in v.split(",") if t] for a, v in parse_map(aliases_content).items()}
    return domains, parse_users(users_content), aliases


def wanted_objects(domains, mailboxes, aliases):
    """The state's objects in the same shape as current_objects (mailboxes carry their hash by now)."""
    return (
        {d["domain"]: d["client"] for d in domains},
        {b["address"]: {"hash": b["password_hash"], "quota": b.get("quota"), "client": b["client"]} for b in mailboxes},
        {a["address"]: list(a["targets"]) for a in aliases},
    )


def plan_objects(current, wanted, present_clients, prune):
    """Merge: returns (final objects, changes). Objects of clients gone from the state stay unless prune."""
    cur_domains, cur_users, cur_aliases = current
    want_domains, want_users, want_aliases = wanted
    present = set(present_clients)
    owner = dict(cur_domains)
    owner.update(want_domains)

    def client_of(address, fallback=None):
        return owner.get(address.split("@", 1)[-1]) or fallback or "(reseller)"

    def gone(client):
        return client not in present and not prune

    final_domains, domain_changes = _plan_domains(cur_domains, want_domains, gone)
    final_users, user_changes = _plan_mailboxes(cur_users, want_users, client_of, gone)
    final_aliases, alias_changes = _plan_aliases(cur_aliases, want_aliases, client_of, gone)
    return (final_domains, final_users, final_aliases), domain_changes + user_changes + alias_changes


def _plan_domains(cur_domains, want_domains, gone):
    """plan_objects' mail domains: (final {domain: client}, changes); gone(client) keeps a domain the state dropped."""
    changes = []
    final_domains = dict(want_domains)
    for domain in sorted(set(cur_domains) | set(want_domains)):
        if domain not in cur_domains:
            changes.append(change("create", "mail_domain", domain, want_domains[domain], []))
        elif domain not in want_domains:
            if gone(cur_domains[domain]):
                final_domains[domain] = cur_domains[domain]
                changes.append(change("keep", "mail_domain", domain, cur_domains[domain], [keep_reason(cur_domains[domain])]))
            else:
                changes.append(change("remove", "mail_domain", domain, cur_domains[domain], ["mail is kept in %s" % VMAIL_HOME]))
        elif cur_domains[domain] != want_domains[domain]:
            changes.append(change("change", "mail_domain", domain, want_domains[domain],
                                  ["client: %s -> %s" % (cur_domains[domain], want_domains[domain])]))
    return final_domains, changes


def _plan_mailboxes(cur_users, want_users, client_of, gone):
    """plan_objects' mailboxes: (final {address: user}, changes); client_of(address) names the owner of a mailbox
    without a client."""
    changes = []
    final_users = dict(want_users)
    for address in sorted(set(cur_users) | set(want_users)):
        old, new = cur_users.get(address), want_users.get(address)
        if old is None:
            detail = ["quota %s" % human(new["quota"])]
            changes.append(change("create", "mailbox", address, new["client"], detail))
        elif new is None:
            client = old["client"] or client_of(address)
            if gone(client):
                final_users[address] = old
                changes.append(change("keep", "mailbox", address, client, [keep_reason(client)]))
            else:
                changes.append(change("remove", "mailbox", address, client, ["its mail is kept in %s" % VMAIL_HOME]))
        else:
            detail = _mailbox_detail(old, new)
            if detail:
                changes.append(change("change", "mailbox", address, new["client"], detail))
    return final_users, changes


def _mailbox_detail(old, new):
    """The detail lines of a mailbox in both the files and the state (empty when nothing changes)."""
    detail = []
    if old["hash"] != new["hash"]:
        detail.append("password changed")
    if old["quota"] != new["quota"]:
        detail.append("quota: %s -> %s" % (human(old["quota"]), human(new["quota"])))
    if old["client"] != new["client"]:
        detail.append("client: %s -> %s" % (old["client"], new["client"]))
    return detail


def _plan_aliases(cur_aliases, want_aliases, client_of, gone):
    """plan_objects' aliases: (final {address: targets}, changes)."""
    changes = []
    final_aliases = dict(want_aliases)
    for address in sorted(set(cur_aliases) | set(want_aliases)):
        old, new = cur_aliases.get(address), want_aliases.get(address)
        client = client_of(address)
        if old is None:
            changes.append(change("create", "mail_alias", address, client, ["-> %s" % ", ".join(new)]))
        elif new is None:
            if gone(client):
                final_aliases[address] = old
                changes.append(change("keep", "mail_alias", address, client, [keep_reason(client)]))
            else:
                changes.append(change("remove", "mail_alias", address, client, []))
        elif old != new:
            detail = ["+ %s" % t for t in new if t not in old] + ["- %s" % t for t in old if t not in new]
            changes.append(change("change", "mail_alias", address, client, detail or ["order of destinations"]))
    return final_aliases, changes


def keep_reason(client):
    return "client %s is gone from the state; kept until a run with fracto_prune=true" % client


def change(action, kind, ident, client, detail):
    return {"action": action, "kind": kind, "id": ident, "client": client, "detail": detail}


def human(quota):
    if not quota:
        return "unlimited"
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if quota % size == 0:
            return "%d%s" % (quota // size, unit)
    return "%dB" % quota


# --------------------------------------------------------------------------- certificates and names

def sni_entries(names, cert_paths):
    """[(name, (fullchain, key))] for every name whose certificate is installed; the others get the default one."""
    return [(name, cert_paths[name]) for name in sorted(names) if name in cert_paths]


def default_certificate(hostname, cert_paths):
    """The host's own name's certificate, else Debian's snakeoil until the first order succeeded."""
    return cert_paths.get(hostname, SNAKEOIL)


# --------------------------------------------------------------------------- Dovecot

# The templates mail_server renders (the role passes their sources, roles/fracto_mail/templates).
TEMPLATES = ("dovecot", "postfix_main", "postfix_master", "webmail_vhost", "roundcube", "roundcube_host", "rspamd_dkim",
             "rspamd_ratelimit", "rspamd_local_lua", "mta_sts_vhost")


def render_dovecot(hostname, mail_names, cert_paths, vmail_uid, vmail_gid, *, templates):
    """dovecot.conf from the dovecot template; every name and certificate path checked to be one safe line."""
    fullchain, key = default_certificate(hostname, cert_paths)
    sni = []
    for name, (chain, privkey) in sni_entries(mail_names, cert_paths):
        safe.domain(name, "mail_names[%s]" % name)
        sni.append({"name": name, "cert": safe.config_value(chain, "certificate of %s" % name),
                    "key": safe.config_value(privkey, "certificate of %s" % name)})
    context = {
        "mark": MARK, "hostname": safe.config_value(hostname, "hostname"),
        "ssl_cert": safe.config_value(fullchain, "certificate of %s" % hostname),
        "ssl_key": safe.config_value(key, "certificate of %s" % hostname),
        "ciphers": MOZILLA_INTERMEDIATE_CIPHERS, "curves": list(CURVES),
        "vmail_uid": int(vmail_uid), "vmail_gid": int(vmail_gid),
        "users_file": USERS_FILE, "masters_file": MASTERS_FILE, "sni": sni, "includes": DOVECOT_INCLUDES,
    }
    return templates.render("dovecot", context)


# --------------------------------------------------------------------------- Postfix

# rspamd's milter (Debian's rspamd_proxy worker, localhost:11332): it signs with DKIM (module_utils/mail/dkim.py).
RSPAMD_MILTER = "inet:127.0.0.1:11332"
# The -o options of submission (587) and submissions (465): AUTH, relaying for authenticated senders only, each
# login sends only as the addresses smtpd_sender_login_maps gives it (553 5.7.1 otherwise; docs/mail.md), and the
# mail goes through rspamd, which signs it (main.cf's non_smtpd_milters does the same for mail made on the host).
SUBMISSION_OPTIONS = (
    "smtpd_sasl_auth_enable=yes",
    "smtpd_client_restrictions=permit_sasl_authenticated,reject",
    "smtpd_sender_restrictions=reject_authenticated_sender_login_mismatch",
    "smtpd_relay_restrictions=permit_sasl_authenticated,reject",
    "milter_macro_daemon_name=ORIGINATING",
    "smtpd_milters=" + RSPAMD_MILTER,
)


def render_master(transports=(), *, templates):
    """master.cf; transports are (name, address, helo) of the dedicated sending addresses (sender_transports)."""
    checked = []
    for name, address, helo in transports:
        safe.ipv4(address, "ip_bindings[%s].address" % address)
        safe.hostname(helo, "ip_bindings[%s].helo" % address)
        safe.map_token(name, "ip_bindings[%s]" % address)
        checked.append({"name": name, "address": address, "helo": helo})
    return templates.render("postfix_master", {"mark": MARK, "submission_options": list(SUBMISSION_OPTIONS),
                                               "transports": checked})


def render_main(hostname, cert_paths, extra=None, *, templates):
    """main.cf from the postfix_main template: its parameters, with extra ({parameter: value}: the operator's
    postfix_settings and the module's own) replacing those of the same name and adding the others, sorted."""
    fullchain, key = default_certificate(hostname, cert_paths)
    settings = {}
    for name, value in sorted((extra or {}).items()):
        safe.check(safe.SETTING, name, "postfix_settings", "must be a main.cf parameter name")
        settings[name] = safe.config_value(str(value), "postfix_settings[%s]" % name)
    context = {
        "mark": MARK, "hostname": safe.config_value(hostname, "hostname"),
        "fullchain": safe.config_value(fullchain, "certificate of %s" % hostname),
        "key": safe.config_value(key, "certificate of %s" % hostname),
        "maps": {"domains": MAP_DOMAINS, "mailboxes": MAP_MAILBOXES, "aliases": MAP_ALIASES, "sni": MAP_SNI,
                 "senders": MAP_SENDERS, "logins": MAP_LOGINS},
        "ciphers": MOZILLA_INTERMEDIATE_CIPHERS, "curves": list(CURVES), "postfix_settings": settings,
        "milter": RSPAMD_MILTER,
    }
    return templates.render("postfix_main", context)


def render_sni(mail_names, cert_paths, fingerprints):
    """The source of tls_server_sni_maps (compiled with postmap -F, which embeds the files).

    Each line carries the fingerprint of its chain as a comment line above it, so that a renewed certificate
    changes the source and the map is compiled again.
    """
    out = ["# %s\n" % MARK]
    for name, (chain, key) in sni_entries(mail_names, cert_paths):
        field = "mail_names[%s]" % name
        safe.domain(name, field)
        tokens = [safe.map_token(t, field) for t in (name, key, chain)]
        print_ = fingerprints.get(chain, "")
        if print_:
            safe.map_token(print_, field + " fingerprint")
        out.append("# %s sha256=%s\n%s %s %s\n" % (name, print_, tokens[0], tokens[1], tokens[2]))
    return "".join(out)


# --------------------------------------------------------------------------- nginx and Roundcube

def brand_of(name):
    """The brand a webmail name shows: the domain after webmail. (or the name itself)."""
    return name[len("webmail."):] if name.startswith("webmail.") else name


def render_webmail_vhost(entry, cert, *, templates):
    """One webmail vhost: the first line (who owns it) is the module's, the webmail_vhost template the rest."""
    name = safe.domain(entry["name"], "webmail_names[%s]" % entry["name"])
    clients = ",".join(entry["clients"])
    owner = clients if entry["branding"] == "client" else "(reseller)"
    first = "# %s: client=%s webmail=%s tls=%s\n" % (MARK, owner, name, "acme" if cert else "none")
    https = None
    if cert:
        https = {"certificate": safe.config_value(cert[0], "certificate of %s" % name),
                 "key": safe.config_value(cert[1], "certificate of %s" % name)}
    context = {"name": name, "https": https, "challenge": CHALLENGE, "tls_params": TLS_PARAMS, "root": ROUNDCUBE_ROOT,
               "php_socket": PHP_FPM_SOCKET}
    return first + templates.render("webmail_vhost", context)


def php_string(value):
    safe.config_value(value, "Roundcube setting")
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


def conn_options(peer_name, ca_file=SYSTEM_CA):
    """PHP stream context of Roundcube's IMAP/SMTP connections: the peer verified by its mail name (also the SNI name)
    against the system's trust store; the connection itself goes to the loopback, never through public DNS."""
    safe.hostname(peer_name, "mail name of the webmail")
    return ("['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'allow_self_signed' => false, "
            "'peer_name' => %s, 'cafile' => %s]]" % (php_string(peer_name), php_string(ca_file)))


def server_settings(peer_name, ca_file=SYSTEM_CA):
    """The template context of Roundcube's connections to Dovecot and Postfix, as quoted PHP values."""
    return {"imap_host": php_string("ssl://%s:993" % LOCAL_SERVER), "smtp_host": php_string("ssl://%s:465" % LOCAL_SERVER),
            "conn_options": conn_options(peer_name, ca_file)}


def render_roundcube_host(entry, mail_name, ca_file=SYSTEM_CA, *, templates):
    name = safe.domain(entry["name"], "webmail_names[%s]" % entry["name"])
    context = dict(server_settings(mail_name, ca_file), mark=MARK, name=name,
                   product_name=php_string("Webmail %s" % brand_of(name)))
    return templates.render("roundcube_host", context)


def mail_name_for(webmail_entry, mail_names, hostname, cert_paths=None):
    """The mail name of the same brand (webmail.X -> mail.X) once its certificate is installed, else the host's own
    name: Roundcube verifies the name it asks for (SNI), so it must be a name served with its own certificate."""
    wanted = "mail." + brand_of(webmail_entry["name"])
    names = {m["name"] for m in mail_names}
    return wanted if wanted in names and (cert_paths is None or wanted in cert_paths) else hostname


def render_roundcube(webmail_names, des_key, hostname, ca_file=SYSTEM_CA, *, templates):
    hosts = [{"name": php_string(w["name"]), "file": php_string(roundcube_host_file(w["name"]))}
             for w in sorted(webmail_names, key=lambda w: w["name"])]
    context = dict(server_settings(hostname, ca_file), mark=MARK, des_key=php_string(des_key), hosts=hosts)
    return templates.render("roundcube", context)


def roundcube_host_file(name):
    return "fracto-%s.inc.php" % name


def des_key_of(content):
    """The des_key of an existing Roundcube config (kept: it encrypts the sessions' passwords)."""
    marker = "$config['des_key'] = '"
    if content and marker in content:
        return content.split(marker, 1)[1].split("'", 1)[0]
    return None


def nginx_files(webroot, webmail_names, cert_paths, *, templates):
    files = dict(shared_files(webroot))
    for entry in webmail_names:
        path = "%s/sites/%s.conf" % (NGINX_DIR, entry["name"])
        files[path] = render_webmail_vhost(entry, cert_paths.get(entry["name"]), templates=templates)
    return files


def roundcube_files(webmail_names, mail_names, des_key, hostname, cert_paths=None, ca_file=SYSTEM_CA, *, templates):
    if not webmail_names:
        return {}
    files = {ROUNDCUBE_CONF: render_roundcube(webmail_names, des_key, hostname, ca_file, templates=templates)}
    for entry in webmail_names:
        safe.domain(entry["name"], "webmail_names[%s]" % entry["name"])
        files["%s/%s" % (ROUNDCUBE_DIR, roundcube_host_file(entry["name"]))] = render_roundcube_host(
            entry, mail_name_for(entry, mail_names, hostname, cert_paths), ca_file, templates=templates)
    return files


def redact_users(content):
    """The users file as a diff shows it: every hash replaced."""
    out = []
    for line in (content or "").splitlines():
        fields = line.split(":")
        if len(fields) > 1 and not line.startswith("#"):
            fields[1] = REDACTED
        out.append(":".join(fields))
    return "\n".join(out) + ("\n" if out else "")


# --------------------------------------------------------------------------- dedicated sending addresses

def transport_name(address):
    """The master.cf service that sends from a dedicated address: smtp-198-51-100-102."""
    return "smtp-" + address.replace(".", "-")


def sender_transports(domains, ip_bindings):
    """(transports [(name, address, helo)], map {"@domain": "name:"}) for the addresses bound for mail.

    Mail from a domain of a client bound to an address leaves through that address's transport
    (sender_dependent_default_transport_maps); a sender without one keeps the default smtp transport, that is
    the host's main address and its hostname as HELO.
    """
    transports, entries = [], {}
    for binding in sorted(ip_bindings, key=lambda b: b["address"]):
        if "mail" not in (binding.get("sides") or []) or not binding.get("helo"):
            continue
        name = transport_name(binding["address"])
        transports.append((name, binding["address"], binding["helo"]))
        for entry in domains:
            if entry["client"] in (binding.get("clients") or []):
                entries.setdefault("@" + entry["domain"], name + ":")
    return transports, entries


def sender_settings():
    """The main.cf setting of the per-sender transports (the map is always there, empty without bindings)."""
    return {"sender_dependent_default_transport_maps": "lmdb:%s" % MAP_SENDERS}


def sender_changes(before_content, entries, transports, domains, hostname):
    """Change lines (kind mail_sender) for the domains whose outgoing address changes."""
    before = parse_map(before_content or "")
    helo = {name + ":": (address, name_helo) for name, address, name_helo in transports}
    owner = {"@" + d["domain"]: d["client"] for d in domains}

    def leaves(value):
        if value in helo:
            return "from %s (HELO %s)" % helo[value]
        if value:
            return "through %s" % value.rstrip(":")
        return "from the host's main address (HELO %s)" % hostname

    out = []
    for key in sorted(set(before) | set(entries)):
        old, new = before.get(key), entries.get(key)
        if old == new:
            continue
        action = "create" if old is None else "remove" if new is None else "change"
        detail = "mail leaves %s" % leaves(new) if new else "mail leaves %s" % leaves(None)
        out.append(change(action, "mail_sender", key[1:], owner.get(key, "(reseller)"), [detail]))
    return out
