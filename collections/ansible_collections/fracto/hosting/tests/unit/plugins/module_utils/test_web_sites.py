"""Rendering and planning of nginx vhosts and PHP-FPM pools (module_utils/web/sites.py), without a host."""

from ansible_collections.fracto.hosting.plugins.module_utils.web import sites as web

SITE = {"client": "c1", "name": "c1.test", "aliases": ["www.c1.test"], "user": "c1", "docroot": "/srv/www/c1/c1.test/public",
        "php": "8.2", "https_redirect": True, "hsts": True, "tls": "acme", "certificate": "c1.test", "ipv4": None}
STATIC = dict(SITE, name="static.c1.test", aliases=[], php=None, https_redirect=False, hsts=False, tls="none", certificate=None,
              docroot="/srv/www/c1/static.c1.test/public")
POOL = {"client": "c1", "user": "c1", "version": "8.2", "name": "c1-8.2"}
USERS = [{"name": "c1", "client": "c1", "home": "/srv/www/c1"}]
CERT = ("/etc/fracto/tls/c1.test/fullchain.pem", "/etc/fracto/tls/c1.test/privkey.pem", {"c1.test", "www.c1.test"})


def test_site_without_installed_certificate_is_http_only_and_answers_challenges():
    text = web.render_site(SITE, None)
    assert "listen 443" not in text and "return 301" not in text
    assert "include %s;" % web.CHALLENGE in text
    assert "server_name c1.test www.c1.test;" in text


def test_site_with_certificate_redirects_and_sends_hsts():
    text = web.render_site(SITE, CERT)
    port80 = text.split("listen 443", 1)[0]
    assert "return 301 https://$host$request_uri;" in port80 and "include %s;" % web.CHALLENGE in port80
    assert "ssl_certificate %s;" % CERT[0] in text and "Strict-Transport-Security" in text
    assert "fastcgi_pass unix:/run/php/fracto-c1-8.2.sock;" in text


def test_static_site_has_no_php_and_no_redirect():
    text = web.render_site(STATIC, None)
    assert "fastcgi_pass" not in text and "try_files $uri $uri/ =404;" in text


def test_tls_parameters_follow_mozilla_intermediate_without_debian_duplicates():
    tls = web.shared_files("/var/lib/fracto/acme")[web.TLS_PARAMS]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls and "ECDHE-ECDSA-AES128-GCM-SHA256" in tls
    assert "ssl_prefer_server_ciphers" not in tls  # Debian's nginx.conf sets it already: a repeat breaks nginx


def test_vhost_uses_its_certificate_only_when_it_covers_every_name():
    asked = []

    def lookup(cert_id, names):
        asked.append((cert_id, tuple(names)))
        return CERT if "www.c1.test" in names else None

    files = web.wanted_files([SITE, STATIC], [POOL], USERS, lookup, "/var/lib/fracto/acme")
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
    before = web.render_site(SITE, None)
    after = web.render_site(SITE, CERT)
    change = web.describe(web.site_path("c1.test"), before, after)
    assert change == {"action": "change", "kind": "vhost", "id": "c1.test", "client": "c1", "detail": ["tls: none -> acme"]}
    assert web.describe(web.site_path("c1.test"), None, after)["action"] == "create"
    assert web.describe(web.pool_path(POOL), web.render_pool(POOL, "/srv/www/c1"), None)["id"] == "c1 (php 8.2)"


def test_an_uncovered_alias_stays_on_http_while_the_domain_keeps_https():
    text = web.render_site(SITE, (CERT[0], CERT[1], {"c1.test"}))
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
    assert "disable_symlinks if_not_owner;" in web.render_site(STATIC, None)


def test_site_of_a_client_with_a_dedicated_address_also_listens_on_it():
    site = dict(SITE, ipv4="198.51.100.100")
    text = web.render_site(site, CERT)
    assert text.count("    listen 80;\n") == 1 and "    listen 198.51.100.100:80;\n" in text
    assert "    listen 443 ssl http2;\n    listen 198.51.100.100:443 ssl http2;\n" in text
    assert "default_server" not in text  # only the address's default site is its default server
    assert "listen 198.51.100.100" not in web.render_site(SITE, CERT)


def test_the_main_site_of_the_address_is_its_default_server_on_80_and_443():
    site = dict(SITE, ipv4="198.51.100.100")
    text = web.render_site(site, CERT, ip_default=True)
    assert text.count("listen 198.51.100.100:80 default_server;") == 1
    assert "listen 198.51.100.100:443 ssl http2 default_server;\n    server_name c1.test www.c1.test;\n" in text
    assert "ssl_certificate %s;" % CERT[0] in text.split("listen 198.51.100.100:443", 1)[1]


def test_first_site_of_each_address_is_its_default():
    sites = [dict(SITE, ipv4="198.51.100.100"), dict(STATIC, ipv4="198.51.100.100"),
             dict(SITE, name="other.test", client="c2", ipv4="198.51.100.101"), dict(SITE, name="plain.test", client="c3")]
    assert web.ip_default_sites(sites) == {"c1.test", "other.test"}
    files = web.wanted_files(sites, [], USERS, lambda cert, names: None, "/var/lib/fracto/acme")
    assert "198.51.100.100:80 default_server" in files[web.site_path("c1.test")]
    assert "default_server" not in files[web.site_path("static.c1.test")]
    assert "198.51.100" not in files[web.site_path("plain.test")]
