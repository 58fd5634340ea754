"""Rendering and planning of nginx vhosts and PHP-FPM pools (module_utils/web/sites.py), without a host."""

import os

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web
from role_templates import web_templates

WEB_T = web_templates()  # the role's default templates (roles/fracto_web/templates)

SITE = {"client": "c1", "name": "c1.test", "aliases": ["www.c1.test"], "user": "c1", "docroot": "/srv/www/c1/c1.test/public",
        "php": "8.2", "https_redirect": True, "hsts": True, "tls": "acme", "certificate": "c1.test", "ipv4": None}
STATIC = dict(SITE, name="static.c1.test", aliases=[], php=None, https_redirect=False, hsts=False, tls="none", certificate=None,
              docroot="/srv/www/c1/static.c1.test/public")
POOL = {"client": "c1", "user": "c1", "version": "8.2", "name": "c1-8.2"}
USERS = [{"name": "c1", "client": "c1", "home": "/srv/www/c1"}]
CERT = ("/etc/fracto/tls/c1.test/fullchain.pem", "/etc/fracto/tls/c1.test/privkey.pem", {"c1.test", "www.c1.test"})


def test_site_without_installed_certificate_is_http_only_and_answers_challenges():
    text = web.render_site(SITE, None, templates=WEB_T)
    assert "listen 443" not in text and "return 301" not in text
    assert "include %s;" % web.CHALLENGE in text
    assert "server_name c1.test www.c1.test;" in text


def test_site_with_certificate_redirects_and_sends_hsts():
    text = web.render_site(SITE, CERT, templates=WEB_T)
    port80 = text.split("listen 443", 1)[0]
    assert "return 301 https://$host$request_uri;" in port80 and "include %s;" % web.CHALLENGE in port80
    assert "ssl_certificate %s;" % CERT[0] in text and "Strict-Transport-Security" in text
    assert "fastcgi_pass unix:/run/php/fracto-c1-8.2.sock;" in text


def test_static_site_has_no_php_and_no_redirect():
    text = web.render_site(STATIC, None, templates=WEB_T)
    assert "fastcgi_pass" not in text and "try_files $uri $uri/ =404;" in text


def test_denied_paths_answer_403_before_php_or_files_are_served():
    text = web.render_site(dict(SITE, deny=["/logs/", "/config.ini"]), CERT, templates=WEB_T)
    https = text.split("listen 443")[1]
    assert "    location ^~ /logs/ {\n        deny all;\n    }\n" in https  # ^~: no regex location (PHP) is tried
    assert "    location = /config.ini {\n        deny all;\n    }\n" in https
    plain = web.render_site(dict(SITE, deny=[]), CERT, templates=WEB_T)
    assert "location ^~" not in plain and "location =" not in plain and plain == web.render_site(SITE, CERT, templates=WEB_T)


def test_tls_parameters_follow_mozilla_intermediate_without_debian_duplicates():
    tls = web.shared_files("/var/lib/fracto/acme")[web.TLS_PARAMS]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls and "ECDHE-ECDSA-AES128-GCM-SHA256" in tls
    assert "ssl_prefer_server_ciphers" not in tls  # Debian's nginx.conf sets it already: a repeat breaks nginx


def test_vhost_uses_its_certificate_only_when_it_covers_every_name():
    asked = []

    def lookup(cert_id, names):
        asked.append((cert_id, tuple(names)))
        return CERT if "www.c1.test" in names else None

    files = web.wanted_files([SITE, STATIC], [POOL], USERS, lookup, "/var/lib/fracto/acme", templates=WEB_T)
    assert asked == [("c1.test", ("c1.test", "www.c1.test"))]  # static site: tls none, nothing asked
    assert "listen 443" in files[web.site_path("c1.test")]
    pool = files[web.pool_path(POOL)]
    assert "open_basedir] = /srv/www/c1/\n" in pool and "upload_tmp_dir] = /srv/www/c1/tmp" in pool


def test_plan_keeps_files_of_gone_clients_unless_pruning():
    gone = web.header("gone", "site=gone.test tls=none") + "server {}\n"
    ours = web.header("c1", "site=old.c1.test tls=none") + "server {}\n"
    foreign = "# written by hand\n"
    current = {"/etc/nginx/fracto/sites/gone.test.conf": gone, "/etc/nginx/fracto/sites/old.c1.test.conf": ours,
               "/etc/nginx/fracto/sites/hand.conf": foreign}
    writes, removes, kept, _conflicts = web.plan_files(current, {"/x": "y"}, {"c1"}, prune=False)
    assert writes == {"/x": "y"}
    assert removes == ["/etc/nginx/fracto/sites/hand.conf", "/etc/nginx/fracto/sites/old.c1.test.conf"]
    assert kept == ["/etc/nginx/fracto/sites/gone.test.conf"]
    _writes, removes, kept, _conflicts = web.plan_files(current, {}, {"c1"}, prune=True)
    assert kept == [] and "/etc/nginx/fracto/sites/gone.test.conf" in removes


def test_unchanged_files_are_not_rewritten():
    assert web.plan_files({"/a": "same"}, {"/a": "same"}, set(), prune=False) == ({}, [], [], [])


def test_describe_reports_vhost_and_tls_change():
    before = web.render_site(SITE, None, templates=WEB_T)
    after = web.render_site(SITE, CERT, templates=WEB_T)
    change = web.describe(web.site_path("c1.test"), before, after)
    assert change == {"action": "change", "kind": "vhost", "id": "c1.test", "client": "c1", "detail": ["tls: none -> acme"]}
    assert web.describe(web.site_path("c1.test"), None, after)["action"] == "create"
    assert web.describe(web.pool_path(POOL), web.render_pool(POOL, "/srv/www/c1", templates=WEB_T), None)["id"] == "c1 (php 8.2)"


def test_an_uncovered_alias_stays_on_http_while_the_domain_keeps_https():
    text = web.render_site(SITE, (CERT[0], CERT[1], {"c1.test"}), templates=WEB_T)
    https = text.split("listen 443", 1)[1]
    assert "server_name c1.test;" in https
    port80 = text.split("listen 443", 1)[0]
    assert "server_name c1.test;" in port80 and "return 301" in port80
    assert "server_name www.c1.test;" in port80 and "fastcgi_pass" in port80.split("server_name www.c1.test;", 1)[1]


def test_files_of_another_reseller_are_never_touched_and_a_clash_is_a_conflict():
    theirs = web.header("c1", "site=c1.test tls=none", "other") + "server {}\n"
    current = {"/etc/nginx/fracto/sites/c1.test.conf": theirs, "/etc/nginx/fracto/sites/x.test.conf": theirs}
    wanted = {"/etc/nginx/fracto/sites/c1.test.conf": web.header("c1", "site=c1.test tls=none", "demo")}
    writes, removes, kept, conflicts = web.plan_files(current, wanted, {"c1"}, prune=True, reseller="demo")
    assert writes == {} and removes == [] and kept == []
    assert conflicts == ["/etc/nginx/fracto/sites/c1.test.conf"]


def test_client_symlinks_are_not_followed_to_other_clients():
    assert "disable_symlinks if_not_owner;" in web.render_site(STATIC, None, templates=WEB_T)


def test_site_of_a_client_with_a_dedicated_address_also_listens_on_it():
    site = dict(SITE, ipv4="198.51.100.100")
    text = web.render_site(site, CERT, templates=WEB_T)
    assert text.count("    listen 80;\n") == 1 and "    listen 198.51.100.100:80;\n" in text
    assert "    listen 443 ssl http2;\n    listen 198.51.100.100:443 ssl http2;\n" in text
    assert "default_server" not in text  # only the address's default site is its default server
    assert "listen 198.51.100.100" not in web.render_site(SITE, CERT, templates=WEB_T)


def test_the_main_site_of_the_address_is_its_default_server_on_80_and_443():
    site = dict(SITE, ipv4="198.51.100.100")
    text = web.render_site(site, CERT, ip_default=True, templates=WEB_T)
    assert text.count("listen 198.51.100.100:80 default_server;") == 1
    assert "listen 198.51.100.100:443 ssl http2 default_server;\n    server_name c1.test www.c1.test;\n" in text
    assert "ssl_certificate %s;" % CERT[0] in text.split("listen 198.51.100.100:443", 1)[1]


def test_first_site_of_each_address_is_its_default():
    sites = [dict(SITE, ipv4="198.51.100.100"), dict(STATIC, ipv4="198.51.100.100"),
             dict(SITE, name="other.test", client="c2", ipv4="198.51.100.101"), dict(SITE, name="plain.test", client="c3")]
    assert web.ip_default_sites(sites) == {"c1.test", "other.test"}
    files = web.wanted_files(sites, [], USERS, lambda cert, names: None, "/var/lib/fracto/acme", templates=WEB_T)
    assert "198.51.100.100:80 default_server" in files[web.site_path("c1.test")]
    assert "default_server" not in files[web.site_path("static.c1.test")]
    assert "198.51.100" not in files[web.site_path("plain.test")]


# -- module-side whitelists: hostile values injected past the controller never reach a config file (issue 12) --------
import collections  # noqa: E402

from ansible_collections.fracto.hosting.plugins.module_utils.argguard import Refused  # noqa: E402


def _args(**changes):
    """Valid web_sites arguments with one value replaced: (sites, pools, users, clients, reseller, webroot, store)."""
    args = {"sites": [dict(SITE), dict(STATIC)], "pools": [dict(POOL)], "users": [dict(u) for u in USERS], "clients": ["c1"],
            "reseller": "demo", "webroot": "/var/lib/fracto/acme", "store": "/etc/fracto/tls"}
    for path, value in changes.items():
        target, *keys = path.split(".")
        if not keys:
            args[target] = value
            continue
        item = args[target][0]
        item[keys[0]] = value
    return args


def _check(args):
    web.check_args(args["sites"], args["pools"], args["users"], args["clients"], args["reseller"], args["webroot"], args["store"])


def test_valid_arguments_pass_the_whitelists():
    _check(_args())


@pytest.mark.parametrize("path, value, option", [
    ("sites.name", "c1.test\n", "sites[0].name"),                            # re.match('...$') would accept it
    ("sites.name", "c1.test; include /etc/shadow", "sites[0].name"),
    ("sites.name", "c1.test}server{", "sites[0].name"),
    ("sites.name", "../../etc/nginx/nginx", "sites[0].name"),
    ("sites.aliases", ["www.c1.test\n    root /"], "sites[0].aliases[0]"),
    ("sites.aliases", ["www c1.test"], "sites[0].aliases[0]"),
    ("sites.aliases", ["'www.c1.test'"], "sites[0].aliases[0]"),
    ("sites.docroot", "/", "sites[0].docroot"),
    ("sites.docroot", "/srv/www/c2/c1.test/public", "sites[0].docroot"),
    ("sites.docroot", "/srv/www/c1/c1.test/public/../../c2", "sites[0].docroot"),
    ("sites.php", "8.2;\n", "sites[0].php"),
    ("sites.ipv4", "198.51.100.1:80 default_server;", "sites[0].ipv4"),
    ("sites.certificate", "../../../etc", "sites[0].certificate"),
    ("sites.user", "root", "sites[0].user"),
    ("sites.tls", "acme\n", "sites[0].tls"),
    ("sites.deny", ["/logs/ { allow all; }"], "sites[0].deny[0]"),
    ("sites.deny", ["/a/../../etc/"], "sites[0].deny[0]"),
    ("sites.deny", ["/"], "sites[0].deny[0]"),
    ("sites.deny", ["logs/"], "sites[0].deny[0]"),
    ("sites.deny", ["/.git/", "/ok/"], "sites[0].deny[0]"),
    ("sites.deny", "/logs/", "sites[0].deny"),
    ("users.name", "c1\n", "users[0].name"),
    ("users.name", "www-data", "users[0].name"),
    ("users.name", "root", "users[0].name"),
    ("users.name", "mysql", "users[0].name"),
    ("users.home", "/root", "users[0].home"),
    ("pools.user", "www-data", "php_pools[0].user"),
    ("pools.name", "c1-8.2]\n[www", "php_pools[0].name"),
    ("pools.version", "8.2\nphp_admin_value[open_basedir] = /", "php_pools[0].version"),
    ("pools.client", "c2", "php_pools[0].client"),
    ("clients", ["c1\n"], "clients[0]"),
    ("reseller", "../demo", "reseller"),
    ("webroot", "/var/lib/fracto/acme; }", "webroot"),
    ("store", "/etc/fracto/tls/../..", "store"),
])
def test_hostile_values_are_refused_naming_the_option(path, value, option):
    with pytest.raises(Refused) as refused:
        _check(_args(**{path: value}))
    assert refused.value.option == option and "refused" in str(refused.value)


@pytest.mark.parametrize("field, value", [("name", "c1.test;\n"), ("client", "c1;"), ("docroot", "/srv/www/c1 /x"),
                                          ("ipv4", "1.2.3.4 default_server"), ("aliases", ["a.test{"]),
                                          ("deny", ["/x/;"])])
def test_the_vhost_writer_refuses_by_itself_what_would_break_nginx(field, value):
    with pytest.raises(Refused):
        web.render_site(dict(SITE, **{field: value}), CERT, reseller="demo", templates=WEB_T)


@pytest.mark.parametrize("field, value", [("user", "c1\nuser = root"), ("name", "c1]"), ("version", "8.2 ")])
def test_the_pool_writer_refuses_by_itself_what_would_break_php_fpm(field, value):
    with pytest.raises(Refused):
        web.render_pool(dict(POOL, **{field: value}), "/srv/www/c1", reseller="demo", templates=WEB_T)
    with pytest.raises(Refused):
        web.render_pool(POOL, "/srv/www/c1\nphp_admin_value[open_basedir] = /", reseller="demo", templates=WEB_T)


Account = collections.namedtuple("Account", "pw_name pw_uid pw_gid pw_gecos pw_dir pw_shell")
HomeStat = collections.namedtuple("HomeStat", "st_mode st_uid st_gid")
OURS = Account("c1", 1001, 1001, "fracto client demo", "/srv/www/c1", "/usr/sbin/nologin")
PLATFORM_HOME = HomeStat(0o42750, 1001, 33)


@pytest.mark.parametrize("name, account, verdict", [
    ("c1", None, "create"),
    ("c1", OURS, "ours"),
    # made by an earlier version of the platform: no mark yet, its home, shell and home directory
    ("c1", OURS._replace(pw_gecos=""), "adopt"),
])
def test_users_the_platform_made_are_kept(name, account, verdict):
    assert web.account_verdict(name, "demo", account, 1001, PLATFORM_HOME, 33) == (verdict, None)


@pytest.mark.parametrize("name, account, gid, home, reason", [
    ("www-data", None, None, None, "system or service account"),
    ("root", None, None, None, "system or service account"),
    ("systemd-oom", None, None, None, "system or service account"),
    ("c1", OURS._replace(pw_uid=33), 1001, PLATFORM_HOME, "uid 33"),
    ("c1", OURS._replace(pw_uid=65534), 1001, PLATFORM_HOME, "uid 65534"),
    ("c1", OURS, 27, PLATFORM_HOME, "own group"),                                   # primary group is another's
    ("c1", OURS._replace(pw_gecos="fracto client other"), 1001, PLATFORM_HOME, "reseller other"),
    ("c1", OURS._replace(pw_dir="/home/c1"), 1001, PLATFORM_HOME, "home /home/c1"),
    ("c1", OURS._replace(pw_gecos="Debian admin,,,", pw_dir="/home/c1"), 1001, PLATFORM_HOME, "not created by the platform"),
    ("c1", OURS._replace(pw_gecos="", pw_shell="/bin/bash"), 1001, PLATFORM_HOME, "not created by the platform"),
    ("c1", OURS._replace(pw_gecos=""), 1001, None, "not created by the platform"),  # no platform home
    ("c1", OURS._replace(pw_gecos=""), 1001, HomeStat(0o40755, 1001, 1001), "not created by the platform"),
])
def test_a_user_the_platform_did_not_create_for_this_reseller_is_refused(name, account, gid, home, reason):
    verdict, why = web.account_verdict(name, "demo", account, gid, home, 33)
    assert verdict is None and reason in why


def test_the_gecos_mark_names_the_reseller():
    assert web.gecos("demo") == "fracto client demo"


# -- root never follows a client's links when it makes or fixes a home ----------------------------------------------
class Failed(Exception):
    pass


class FakeModule:
    def fail_json(self, msg, **_kw):
        raise Failed(msg)


def _web_sites_module():
    from ansible_collections.fracto.hosting.plugins.modules import web_sites
    return web_sites


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ensure_home_refuses_a_symlink_in_place_of_the_home_and_leaves_its_target_alone(tmp_path):
    os.chmod(tmp_path, 0o755)
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    (tmp_path / "c1").symlink_to(victim)
    with pytest.raises(Failed, match="not a directory"):
        _web_sites_module().ensure_home(FakeModule(), str(tmp_path / "c1"), "www-data")
    info = victim.stat()
    assert (info.st_uid, info.st_mode & 0o7777) == (0, 0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ensure_home_refuses_a_parent_others_can_write(tmp_path):
    os.chmod(tmp_path, 0o777)
    with pytest.raises(Failed, match="writable by root only"):
        _web_sites_module().ensure_home(FakeModule(), str(tmp_path / "c1"), "www-data")
    assert not (tmp_path / "c1").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ensure_home_makes_the_home_setgid_www_data(tmp_path):
    os.chmod(tmp_path, 0o755)
    _web_sites_module().ensure_home(FakeModule(), str(tmp_path / "c1"), "www-data")
    info = (tmp_path / "c1").stat()
    assert info.st_mode & 0o7777 == 0o2750 and info.st_gid == 33


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_client_logs_are_made_by_root_in_roots_directory_readable_by_the_client_alone(tmp_path):
    """nginx's master makes a missing log 0644: the module makes each client's logs first, 0640, group the client's,
    in a directory only root writes in, and a second run changes nothing."""
    import pwd
    import stat

    from ansible_collections.fracto.hosting.plugins.modules.web_sites import ensure_logs

    nobody = pwd.getpwnam("nobody")
    users = [{"name": "nobody", "client": "nobody"}]
    root = tmp_path / ".logs"
    planned = ensure_logs(users, True, str(root), www_uid=33)
    assert [c["id"] for c in planned] == [str(root), str(root / "nobody")] and not root.exists()  # check mode
    ensure_logs(users, False, str(root), www_uid=33)
    assert stat.S_IMODE(root.stat().st_mode) == 0o711 and root.stat().st_uid == 0
    info = (root / "nobody").stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o751, 0, nobody.pw_gid)
    owners = {"access.log": 33, "error.log": 33, "php-error.log": nobody.pw_uid, "php-slow.log": 0}
    for name, uid in owners.items():
        info = (root / "nobody" / name).stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o640, uid, nobody.pw_gid), name
    assert ensure_logs(users, False, str(root), www_uid=33) == []
    os.chmod(root / "nobody" / "access.log", 0o644)  # as nginx would make it
    (root / "nobody" / "access.log").write_text("visitor 1\n")
    assert ensure_logs(users, False, str(root), www_uid=33)[0]["detail"] == ["access.log: mode 0640, owner 33:%d" % nobody.pw_gid]
    assert stat.S_IMODE((root / "nobody" / "access.log").stat().st_mode) == 0o640
    assert (root / "nobody" / "access.log").read_text() == "visitor 1\n"  # never truncated


def test_a_clients_logs_go_to_its_directory_truncated_when_the_package_says_so_and_rotate_as_it_keeps():
    plain = web.render_site(SITE, CERT, "demo", templates=WEB_T)
    assert "    access_log /srv/www/.logs/c1/access.log;\n    error_log /srv/www/.logs/c1/error.log;\n" in plain
    truncated = web.render_site(dict(SITE, log_truncate_ip=True), CERT, "demo", templates=WEB_T)
    assert "    access_log /srv/www/.logs/c1/access.log fracto_truncated;\n" in truncated
    pool = web.render_pool(POOL, "/srv/www/c1", "demo", templates=WEB_T)
    assert "slowlog = /srv/www/.logs/c1/php-slow.log\n" in pool and "php_admin_value[error_log] = /srv/www/.logs/c1/php-error.log\n" in pool
    files = web.wanted_files([SITE], [POOL], [dict(USERS[0], log_retention_days=30)], lambda *a: None, "/var/lib/fracto/acme",
                             "demo", templates=WEB_T)
    rotate = files["/etc/logrotate.d/fracto-client-c1"]
    assert rotate.startswith("# managed by fracto.hosting web_sites: reseller=demo client=c1 logs\n")
    stanzas = rotate.split("\n}\n")
    assert stanzas[0].split("\n")[1] == "/srv/www/.logs/c1/access.log /srv/www/.logs/c1/error.log /srv/www/.logs/c1/php-slow.log {"
    assert "    rotate 30\n    maxage 30\n" in stanzas[0] and stanzas[0].endswith("    copytruncate")
    # The file the client owns is renamed only: root never reads (copies, compresses) what the client can make huge.
    assert stanzas[1].split("\n")[0] == "/srv/www/.logs/c1/php-error.log {"
    assert "copytruncate" not in stanzas[1] and "    nocompress\n" in stanzas[1] and stanzas[1].endswith("    create 0640 c1 c1")
    assert web.describe("/etc/logrotate.d/fracto-client-c1", None, rotate)["kind"] == "logrotate"
    assert "include /etc/nginx/fracto/log-formats.conf;" in files["/etc/nginx/conf.d/fracto.conf"]


@pytest.mark.parametrize("field, value, rule", [
    ("log_retention_days", "14\n/etc/shadow {", "log_retention_days"),
    ("log_retention_days", 0, "log_retention_days"),
    ("log_retention_days", 366, "log_retention_days"),
])
def test_the_module_refuses_a_retention_outside_its_rule(field, value, rule):
    with pytest.raises(web.g.Refused) as exc:
        web.check_args([], [], [dict(USERS[0], **{field: value})], ["c1"], "demo")
    assert exc.value.option == "users[0].%s" % rule


def test_the_module_refuses_a_truncation_flag_that_is_not_a_bool():
    with pytest.raises(web.g.Refused) as exc:
        web.check_args([dict(SITE, log_truncate_ip="yes")], [], USERS, ["c1"], "demo")
    assert exc.value.option == "sites[0].log_truncate_ip"


def test_a_packages_log_settings_are_checked_whole():
    from ansible_collections.fracto.hosting.plugins.module_utils import tunables

    errors = []
    good = tunables.web_settings({"log_retention_days": 30, "log_truncate_ip": False}, lambda p, r: errors.append((p, r)), "web")
    assert good == {"log_retention_days": "30", "log_truncate_ip": False} and not errors
    tunables.web_settings({"log_retention_days": "7 days", "log_truncate_ip": "yes"}, lambda p, r: errors.append((str(p), r)),
                          _Path("web"))
    assert sorted(errors) == [("web.log_retention_days", tunables.LOG_DAYS_RULE), ("web.log_truncate_ip", tunables.LOG_TRUNCATE_RULE)]


class _Path(str):
    def __truediv__(self, key):
        return _Path("%s.%s" % (self, key))
