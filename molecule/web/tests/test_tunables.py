"""Settings changed through variables only (issue 18): the demo's business package sets client_max_body_size, PHP
upload limits and its clients' PHP process limit (inventories/demo/group_vars/all/packages.yml,
fracto_packages.business.web), and the platform sets a
Postfix parameter for every mail host (inventories/platform/group_vars/all/mail.yml, fracto_mail__postfix_settings).
Both reach the files the roles' templates render and the services' behaviour; the other packages keep the defaults."""

import concurrent.futures
import os
import socket
import ssl
import time

import testinfra
import yaml
from conftest import PROJECT
from conftest import https_get as lab_https_get

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CLOUD01 = testinfra.get_host("ansible://cloud01?ansible_inventory=" + INVENTORY)
MAIL01 = testinfra.get_host("ansible://mail01?ansible_inventory=" + INVENTORY)
SITES = "/etc/nginx/fracto/sites"
MIB = 1024 * 1024


def business_web():
    packages = yaml.safe_load((PROJECT / "inventories" / "demo" / "group_vars" / "all" / "packages.yml").read_text())
    return packages["fracto_packages"]["business"]["web"]


def platform_postfix():
    mail = yaml.safe_load((PROJECT / "inventories" / "platform" / "group_vars" / "all" / "mail.yml").read_text())
    return mail["fracto_mail__postfix_settings"]


def post_status(address, name, size, cadata=None, body=True):
    """The status nginx answers a POST announcing size bytes for name, over HTTPS verified against cadata, else over
    HTTP. nginx compares Content-Length with client_max_body_size as soon as it has the headers: body=False sends
    only them, so that a refusal (413) comes at once, with nothing left unsent; an accepted request needs its body."""
    raw = socket.create_connection((address, 443 if cadata else 80), timeout=30)
    sock = ssl.create_default_context(cadata=cadata).wrap_socket(raw, server_hostname=name) if cadata else raw
    with sock:
        head = ("POST /fracto-upload-probe HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (name, size))
        sock.sendall(head.encode() + (b"x" * size if body else b""))
        status_line = sock.makefile("rb").readline().decode()
    assert status_line.startswith("HTTP/1.1 "), status_line
    return int(status_line.split()[1])


def https_get(address, name, cadata, path):
    """GET https://name/path from address (SNI name, verified against cadata): (status, body)."""
    status, _headers, body, _cert = lab_https_get(address, name, cadata, path)
    return status, body


def test_the_packages_body_size_is_in_its_clients_vhosts_only():
    assert business_web()["client_max_body_size"] == "64m"  # what this test is about: the demo's setting
    vhost = CLOUD01.file("%s/cliente2.test.conf" % SITES).content_string  # business package
    # Every server that serves the site has it (port 80 only redirects the names served over HTTPS).
    serving = [s for s in vhost.split("server {")[1:] if "root /srv/www/cliente2/cliente2.test/public;" in s]
    assert serving and all("\n    client_max_body_size 64m;\n" in s for s in serving)
    assert "client_max_body_size" in CLOUD01.file("%s/xn--caff-8oa.test.conf" % SITES).content_string
    for other in ("cliente1.test", "shop.cliente1.test", "cliente3.test"):  # gdpr and entry packages: nginx's default
        assert "client_max_body_size" not in CLOUD01.file("%s/%s.conf" % (SITES, other)).content_string
    assert CLOUD01.run("nginx -t").rc == 0


def test_nginx_takes_a_bigger_upload_only_for_the_package_that_allows_it(cloud01_address, pebble_root):
    size = 2 * MIB  # over nginx's default of 1m, under the business package's 64m
    assert post_status(cloud01_address, "cliente2.test", size, pebble_root) != 413  # read whole, then 404 (no script)
    assert post_status(cloud01_address, "cliente3.test", size, body=False) == 413  # entry package: nginx's 1m
    assert post_status(cloud01_address, "cliente2.test", 65 * MIB, pebble_root, body=False) == 413  # the package's 64m


def test_the_packages_php_settings_are_in_its_pool_and_php_runs_with_them(cloud01_address, pebble_root):
    pool = CLOUD01.file("/etc/php/8.2/fpm/pool.d/fracto-cliente2.conf").content_string
    for name, value in business_web()["php_ini"].items():
        assert "\nphp_admin_value[%s] = %s\n" % (name, value) in pool
    assert "upload_max_filesize" not in CLOUD01.file("/etc/php/8.2/fpm/pool.d/fracto-cliente1.conf").content_string
    script = "/srv/www/cliente2/cliente2.test/public/fracto-ini-probe.php"
    CLOUD01.run_expect([0], "printf '%%s' '<?php echo ini_get(\"upload_max_filesize\"), \" \", ini_get(\"post_max_size\");' > %s"
                       " && chown cliente2:www-data %s" % (script, script))
    try:
        status, body = https_get(cloud01_address, "cliente2.test", pebble_root, "/fracto-ini-probe.php")
    finally:
        CLOUD01.run("rm -f %s" % script)
    assert status == 200 and body == "64M 64M"  # PHP's own defaults: 2M 8M


def php_probe(client, site, name, code):
    """Writes a PHP script into the client's site as the client (removed by the caller); its path on the site."""
    path = "/srv/www/%s/%s/public/%s" % (client, site, name)
    CLOUD01.run_expect([0], "printf '%%s' '%s' | runuser -u %s -- tee %s >/dev/null" % (code, client, path))
    return path


def test_a_busy_client_gets_at_most_its_packages_php_processes_and_the_others_still_answer(cloud01_address, pebble_root):
    """cliente2's package allows 4 PHP processes at once (web.php_max_children): 8 slow requests at once run 4 by 4,
    all answered (none lost), while cliente1's PHP answers at once from its own pool."""
    limit = business_web()["php_max_children"]
    assert limit == 4  # what this test is about: the demo's setting
    assert "\npm.max_children = 4\n" in CLOUD01.file("/etc/php/8.2/fpm/pool.d/fracto-cliente2.conf").content_string
    assert "\npm.max_children = 5\n" in CLOUD01.file("/etc/php/8.2/fpm/pool.d/fracto-cliente1.conf").content_string
    slow = php_probe("cliente2", "cliente2.test", "fracto-slow-probe.php", "<?php sleep(3); echo getmypid();")
    quick = php_probe("cliente1", "cliente1.test", "fracto-quick-probe.php", "<?php echo \"quick\";")
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2 * limit) as pool:
            started = time.monotonic()
            busy = [pool.submit(https_get, cloud01_address, "cliente2.test", pebble_root, "/fracto-slow-probe.php")
                    for _ in range(2 * limit)]
            time.sleep(1.5)  # the first 4 are sleeping in PHP, the other 4 wait in the pool's queue
            workers = CLOUD01.check_output("pgrep -c -u cliente2 -f 'php-fpm: pool cliente2-8.2' || true")
            before = time.monotonic()
            assert https_get(cloud01_address, "cliente1.test", pebble_root, "/fracto-quick-probe.php") == (200, "quick")
            quick_seconds = time.monotonic() - before
            answers = [f.result(timeout=60) for f in busy]
            elapsed = time.monotonic() - started
    finally:
        CLOUD01.run("rm -f %s %s" % (slow, quick))
    assert workers == str(limit), "cliente2 ran %s PHP processes at once" % workers
    assert quick_seconds < 2, "cliente1 waited %.1f s while cliente2 was busy" % quick_seconds
    assert [status for status, _body in answers] == [200] * (2 * limit)  # every request answered, none lost
    assert len({body for _status, body in answers}) <= limit  # served by at most 4 processes
    assert elapsed >= 6, "8 requests of 3 s on 4 processes take two rounds, not %.1f s" % elapsed


def test_a_script_past_the_packages_memory_limit_fails_alone(cloud01_address, pebble_root):
    """cliente2's package gives PHP 96M per request: a script that needs more stops with PHP's own memory error (500),
    its pool keeps serving, and cliente1 (another package, PHP's default 128M) runs the same script."""
    assert business_web()["php_ini"]["memory_limit"] == "96M"  # what this test is about: the demo's setting
    code = "<?php $a = str_repeat(\"x\", 110 * 1024 * 1024); echo strlen($a);"
    greedy = [php_probe("cliente2", "cliente2.test", "fracto-greedy-probe.php", code),
              php_probe("cliente1", "cliente1.test", "fracto-greedy-probe.php", code)]
    ok = php_probe("cliente2", "cliente2.test", "fracto-ok-probe.php", "<?php echo \"ok\";")
    try:
        status, _body = https_get(cloud01_address, "cliente2.test", pebble_root, "/fracto-greedy-probe.php")
        after = https_get(cloud01_address, "cliente2.test", pebble_root, "/fracto-ok-probe.php")
        other = https_get(cloud01_address, "cliente1.test", pebble_root, "/fracto-greedy-probe.php")
    finally:
        CLOUD01.run("rm -f %s %s" % (" ".join(greedy), ok))
    assert status == 500
    log = CLOUD01.check_output("tail -n 50 /srv/www/.logs/cliente2/php-error.log")  # its PHP error log (docs/state.md#logs)
    assert "Allowed memory size of 100663296 bytes exhausted" in log  # 96M, PHP's own words
    assert after == (200, "ok")
    assert other == (200, str(110 * 1024 * 1024))


def test_the_platforms_postfix_parameter_replaces_the_templates_default():
    assert platform_postfix() == {"message_size_limit": 36700160}  # what this test is about: the platform's setting
    assert MAIL01.check_output("postconf -h message_size_limit") == "36700160"
    main = MAIL01.file("/etc/postfix/main.cf").content_string
    assert main.count("message_size_limit") == 1  # replaced, not repeated after the default
    assert MAIL01.run("postfix check").rc == 0


def test_postfix_announces_the_platforms_size_limit(mail01_address):
    import smtplib

    with smtplib.SMTP(mail01_address, 25, local_hostname="tester.fracto.test", timeout=15) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "36700160"
