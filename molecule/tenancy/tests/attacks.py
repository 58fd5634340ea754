"""The converge-time attacks of molecule/tenancy: hostile values given straight to the writer modules, each with
its harmless twin (the same call with benign values), as test_tenancy.py runs them."""

import os

import testinfra

CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + os.environ["MOLECULE_INVENTORY_FILE"])

# A valid SHA512-CRYPT hash (the demo's contacto@cliente3.test), to make a mailbox otherwise acceptable.
HASH = "$6$rounds=656000$fractodemo$0yEHqgA800Zikuz997l5A3w09.w9e34jG9lQuwRvhnzzEmM9sjLZ1soR8k2Yrcms1L2Oe5j0n.WUl6B47XGJm/"


def _keys():
    """A throwaway ed25519 key pair: the private key in OpenSSH format, the public key as a known_hosts key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


def _host_ssh():
    """The backup SSH key and known_hosts the web host has (the platform's): an attack that got through would write
    them unchanged, so what changes is the attack's own doing. A throwaway pair on a host without them."""
    key, known = "/etc/fracto/backup/ssh/id_ed25519", "/etc/fracto/backup/ssh/known_hosts"
    if CLOUD01.file(key).exists and CLOUD01.file(known).exists:
        return CLOUD01.file(key).content_string, CLOUD01.file(known).content_string
    private, public = _keys()
    return private, "backup01.fracto.test %s\n" % public


PRIVATE_KEY, KNOWN_HOSTS = _host_ssh()


def web(client="alpha1", name="probe.alpha1.test", docroot=None, home=None, user=None, aliases=(), php="8.2", tls="none",
        certificate=None, reseller="alpha"):
    home = home if home is not None else "/srv/www/%s" % client
    return {
        "sites": [{"client": client, "name": name, "aliases": list(aliases), "user": user or client,
                   "docroot": docroot if docroot is not None else "%s/%s/public" % (home, name), "php": php, "tls": tls,
                   "certificate": certificate, "ipv4": None, "https_redirect": False, "hsts": False}],
        "users": [{"name": client, "client": client, "home": home}],
        "php_pools": [{"client": client, "user": user or client, "version": php, "name": "%s-%s" % (client, php)}],
        "clients": [client], "reseller": reseller,
    }


def mail(address="probe@alpha1.test", password_hash=HASH, domain="alpha1.test", aliases=None, postfix_settings=None,
         reseller="alpha"):
    return {"hostname": "mail01.fracto.test", "reseller": reseller, "domains": [{"domain": domain, "client": "alpha1"}],
            "mailboxes": [{"address": address, "client": "alpha1", "quota": 104857600, "password_hash": password_hash}],
            "aliases": aliases or [], "postfix_settings": postfix_settings or {}, "clients": ["alpha1"]}


# A REST target (nothing answers there: a run that got through fails to reach it and changes no shared SSH file).
REST = "rest:https://backup01.fracto.test:8000/alpha1"


def backup(repository="sftp:restic@backup01.fracto.test:/srv/restic/alpha/alpha1", client="alpha1", side="web",
           password="alpha1-backup-lab-password", mailboxes=(), on_calendar="daily", host="cloud01", randomized_delay="1h",
           timeout="6h"):
    return {"jobs": [{"client": client, "side": side, "what": ["files"] if side == "web" else ["mailboxes"],
                      "repository": repository, "keep": {"daily": 7}, "managed_by": "reseller"}],
            "passwords": {"%s/%s" % (client, side): password}, "ssh_key": PRIVATE_KEY, "known_hosts": KNOWN_HOSTS,
            "mailboxes": list(mailboxes), "reseller": "alpha", "clients": [client], "host": host, "on_calendar": on_calendar,
            "randomized_delay": randomized_delay, "timeout": timeout}


def database(name="alpha1_probe", user="alpha1_probe", client="alpha1"):
    return {"databases": [{"name": name, "user": user, "client": client}], "passwords": {name: "alpha1-probe-lab-password"},
            "reseller": "alpha"}


def binding(address="198.51.100.104", interface="eth0", helo=None, reseller="alpha"):
    entry = {"address": address, "sides": ["web", "mail"] if helo else ["web"], "clients": ["alpha1"]}
    if helo:
        entry["helo"] = helo
    return {"bindings": [entry], "reseller": reseller, "interface": interface, "check_rdns": False}


INJECT = "\n  up touch /tmp/pwned-ifupdown"
# (id, host, module, the same call with harmless values (must pass, in check mode), the hostile call (must fail)).
ATTACKS = [
    ("web-client-root", "cloud01", "web_sites", web(), web(client="root")),
    ("web-client-www-data", "cloud01", "web_sites", web(), web(client="www-data")),
    ("web-client-trailing-newline", "cloud01", "web_sites", web(), web(client="alpha1\n")),
    ("web-client-of-beta", "cloud01", "web_sites", web(), web(client="beta1")),
    ("web-server-name-newline-brace", "cloud01", "web_sites", web(),
     web(name="probe.alpha1.test;\n}\nserver { listen 8099; root /etc; autoindex on; location / { }", docroot="/srv/www/alpha1/x/public")),
    ("web-alias-newline-brace", "cloud01", "web_sites", web(), web(aliases=["www.probe.alpha1.test;\n}\nserver { root /;"])),
    ("web-docroot-dotdot-etc", "cloud01", "web_sites", web(), web(docroot="/srv/www/alpha1/../../etc")),
    ("web-docroot-betas-tree", "cloud01", "web_sites", web(), web(docroot="/srv/www/beta1/beta1.test/public")),
    ("web-home-dotdot-etc", "cloud01", "web_sites", web(), web(home="/srv/www/alpha1/../../etc")),
    ("web-pool-as-root", "cloud01", "web_sites", web(), web(user="root")),
    ("web-php-version-injection", "cloud01", "web_sites", web(), web(php="8.2\nphp_admin_value[open_basedir] = /")),
    ("web-certificate-path", "cloud01", "web_sites", web(), web(tls="custom", certificate="../../../etc/ssl/private")),
    ("web-reseller-path", "cloud01", "web_sites", web(), web(reseller="alpha client=beta1")),
    ("mail-local-part-slash", "mail01", "mail_server", mail(), mail(address="info/../../beta1.test/info@alpha1.test")),
    ("mail-local-part-dotdot", "mail01", "mail_server", mail(), mail(address="../../../etc@alpha1.test")),
    ("mail-local-part-colon", "mail01", "mail_server", mail(), mail(address="x:y@alpha1.test")),
    ("mail-hash-newline", "mail01", "mail_server", mail(),
     mail(password_hash=HASH + "\ninfo@beta1.test:{PLAIN}pwned:::client=alpha1:/var/vmail/beta1.test/info::")),
    ("mail-hash-colon-home", "mail01", "mail_server", mail(), mail(password_hash=HASH + ":::client=alpha1:/var/vmail/beta1.test/info")),
    ("mail-hash-plain-scheme", "mail01", "mail_server", mail(), mail(password_hash="{PLAIN}pwned")),
    ("mail-domain-newline", "mail01", "mail_server", mail(), mail(domain="alpha1.test\nbeta1.test")),
    ("mail-domain-of-beta", "mail01", "mail_server", mail(), mail(address="info@beta1.test", domain="beta1.test")),
    ("mail-alias-target-injection", "mail01", "mail_server", mail(),
     mail(aliases=[{"address": "x@alpha1.test", "targets": ["info@alpha1.test\n@beta1.test info@alpha1.test"], "client": "alpha1"}])),
    ("mail-postfix-setting-newline", "mail01", "mail_server", mail(),
     mail(postfix_settings={"smtpd_banner": "hello\nmynetworks = 0.0.0.0/0"})),
    ("backup-sftp-proxycommand-user", "cloud01", "backup_jobs", backup(),
     backup(repository="sftp:-oProxyCommand=touch /tmp/pwned@backup01.fracto.test:/r")),
    ("backup-sftp-proxycommand-host", "cloud01", "backup_jobs", backup(),
     backup(repository="sftp:restic@-oProxyCommand=touch${IFS}/tmp/pwned-host:/r")),
    ("backup-local-repository", "cloud01", "backup_jobs", backup(), backup(repository="/tmp/pwned-local")),
    ("backup-client-dotdot", "cloud01", "backup_jobs", backup(), backup(client="../../etc")),
    ("backup-mailbox-dotdot", "mail01", "backup_jobs", backup(side="mail", host="mail01"),
     backup(side="mail", host="mail01", mailboxes=[{"address": "../../../../etc@alpha1.test", "client": "alpha1"}])),
    ("backup-password-newline", "cloud01", "backup_jobs", backup(), backup(password="x\nExecStartPre=/bin/touch /tmp/pwned-unit")),
    ("backup-calendar-newline", "cloud01", "backup_jobs", backup(repository=REST),
     backup(repository=REST, on_calendar="daily\n[Service]\nExecStartPre=/bin/touch /tmp/pwned-unit")),
    ("backup-timeout-newline", "cloud01", "backup_jobs", backup(repository=REST),
     backup(repository=REST, timeout="6h\nExecStartPre=/bin/touch /tmp/pwned-unit")),
    ("backup-delay-newline", "cloud01", "backup_jobs", backup(repository=REST),
     backup(repository=REST, on_calendar="daily", randomized_delay="1h\nOnBootSec=1")),
    ("db-user-root", "cloud01", "mariadb_databases", database(), database(name="alpha1_x", user="root")),
    ("db-name-mysql", "cloud01", "mariadb_databases", database(), database(name="mysql", user="alpha1_x")),
    ("db-name-of-beta", "cloud01", "mariadb_databases", database(), database(name="beta1_db", user="alpha1_x")),
    ("db-user-of-beta", "cloud01", "mariadb_databases", database(), database(name="alpha1_x", user="beta1_db")),
    ("db-name-sql-injection", "cloud01", "mariadb_databases", database(),
     database(name="alpha1_x`; DROP DATABASE beta1_db; -- ", user="alpha1_x")),
    ("db-user-host-injection", "cloud01", "mariadb_databases", database(), database(name="alpha1_x", user="alpha1_x'@'%")),
    ("ip-interface-newline", "cloud01", "ip_bindings", binding(), binding(interface="eth0" + INJECT)),
    ("ip-address-newline", "cloud01", "ip_bindings", binding(), binding(address="198.51.100.104" + INJECT)),
    ("ip-helo-newline", "mail01", "ip_bindings", binding(helo="smtp.alpha1.test"), binding(helo="smtp.alpha1.test" + INJECT)),
    ("ip-reseller-path", "cloud01", "ip_bindings", binding(), binding(reseller="../../cron.d/pwned")),
]
