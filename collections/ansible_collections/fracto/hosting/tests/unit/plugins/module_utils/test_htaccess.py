"""The old site's .htaccess files against the new vhost: served, or a finding with the file and line (never dropped)."""

from ansible_collections.fracto.hosting.plugins.module_utils.migrate import htaccess

WORDPRESS = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
Options -Indexes
<Files .htaccess>
  Require all denied
</Files>
<FilesMatch "^\\.ht">
  Order allow,deny
  Deny from all
</FilesMatch>
"""

JOOMLA = """Options +FollowSymlinks
RewriteEngine On
RewriteCond %{QUERY_STRING} base64_encode[^(]*\\([^)]*\\) [OR]
RewriteCond %{QUERY_STRING} (<|%3C)([^s]*s)+cript.*(>|%3E) [NC]
RewriteRule .* index.php [F]
RewriteCond %{REQUEST_URI} !^/index\\.php
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule .* index.php [L]
"""


def texts(findings):
    return [f["text"] for f in findings]


def test_a_cms_front_controller_and_dotfile_rules_are_served_by_the_vhost():
    assert htaccess.review(".htaccess", WORDPRESS) == []
    drupal = ("RewriteCond %{REQUEST_FILENAME} !-f\nRewriteCond %{REQUEST_FILENAME} !-d\n"
              "RewriteCond %{REQUEST_URI} !=/favicon.ico\nRewriteRule ^ index.php [L]\nDirectoryIndex index.php index.html\n")
    assert htaccess.review(".htaccess", drupal) == []


def test_every_rule_the_vhost_does_not_serve_is_a_finding_with_its_file_and_line():
    found = htaccess.review(".htaccess", JOOMLA)
    assert found == [{"level": "exposed", "text": ".htaccess:5: RewriteRule .* index.php [F]: access rule not translated: the"
                                                  " new host serves what it refused [with 2 RewriteCond]"}]
    more = htaccess.review("blog/.htaccess", "php_value memory_limit 256M\nRedirect 301 /old https://example.test/new\n"
                                             "ErrorDocument 404 /404.php\n<VirtualHost *>\n</VirtualHost>\n")
    assert texts(more) == [
        "blog/.htaccess:1: php_value memory_limit ...: not translated (nginx and PHP-FPM read no .htaccess)",
        "blog/.htaccess:2: Redirect 301 /old https://example.test/new: not translated (nginx and PHP-FPM read no .htaccess)",
        "blog/.htaccess:3: ErrorDocument 404 /404.php: not translated (nginx and PHP-FPM read no .htaccess)",
        "blog/.htaccess:4: <VirtualHost *>: section not translated"]
    assert {f["level"] for f in more} == {"htaccess"}


def test_a_rule_that_protected_something_is_an_exposed_finding():
    found = htaccess.review("private/.htaccess", "Order deny,allow\nDeny from all\n")
    assert found == [{"level": "exposed", "text": "private/.htaccess:2: Deny from all: access rule not translated: the new host"
                                                  " serves /private/ without it; deny: [/private/] on the domain denies it"}]
    # the domain's deny list serves it (that directory or one above it), not another one
    assert htaccess.review("private/.htaccess", "Order deny,allow\nDeny from all\n", denied=["/private/"]) == []
    assert htaccess.review("a/private/.htaccess", "Require all denied\n", denied=["/a/"]) == []
    assert htaccess.review("private/.htaccess", "Deny from all\n", denied=["/priv/", "/private"])[0]["level"] == "exposed"
    auth = htaccess.review("admin/.htaccess", 'AuthType Basic\nAuthName "Admin"\nAuthUserFile /home/x/.htpasswd\nRequire valid-user\n')
    assert [f["level"] for f in auth] == ["exposed"] * 4 and auth[3]["text"].startswith("admin/.htaccess:4: Require valid-user")
    files = htaccess.review(".htaccess", "<Files config.ini>\nRequire all denied\n</Files>\nRequire all granted\n")
    assert texts(files) == [".htaccess:2: Require all denied: access rule not translated: the new host serves / without it"
                            " (Files config.ini)"]


def test_continuations_comments_and_limits():
    assert texts(htaccess.review(".htaccess", "# a comment\n\nHeader set X-Frame-Options \\\n  SAMEORIGIN\n")) == [
        ".htaccess:3: Header set X-Frame-Options SAMEORIGIN: not translated (nginx and PHP-FPM read no .htaccess)"]
    many = {"d%03d/.htaccess" % i: "Header set X-A 1\n" for i in range(120)}
    found = htaccess.review_all(dict(many, **{"x/.htaccess": None, "y/.htaccess": "Deny from all\n"}), skipped=3)
    # every exposed finding is kept, first; the others are capped
    assert [f["level"] for f in found[:3]] == ["exposed"] * 3 and found[2]["text"].startswith("3 more .htaccess files")
    assert len(found) == 3 + htaccess.MAX_FINDINGS + 1 and found[-1]["text"] == "and 20 more .htaccess findings"
    unread = htaccess.review_all({"x/.htaccess": None})
    assert unread == [{"level": "exposed", "text": "x/.htaccess: not read (a symlink or unreadable): its rules are not applied"}]
    assert htaccess.review_all({}, skipped=2)[0]["text"] == "2 more .htaccess files were not read (over 200): their rules are not applied"


# Drupal core's .htaccess: files by extension and name (dotfiles among them), denied in an <IfModule>
DRUPAL_FILES = (
    '<FilesMatch "\\.(engine|inc|install|make|module|profile|po|sh|.*sql|theme|twig|tpl(\\.php)?|xtmpl|yml)'
    '(~|\\.sw[op]|\\.bak|\\.orig|\\.save)?$|^(\\.(?!well-known).*|Entries.*|Repository|Root|Tag|Template'
    '|composer\\.(json|lock)|web\\.config)$|^#.*#$|\\.php(~|\\.sw[op]|\\.bak|\\.orig|\\.save)$">\n'
    "  <IfModule mod_authz_core.c>\n"
    "    Require all denied\n"
    "  </IfModule>\n"
    "</FilesMatch>\n")


def test_a_deny_of_files_by_extension_is_exposed_a_deny_of_dotfiles_is_served():
    drupal = htaccess.review(".htaccess", DRUPAL_FILES)
    assert [f["level"] for f in drupal] == ["exposed"] and drupal[0]["text"].startswith(".htaccess:3: Require all denied: access rule")
    for block in ('<Files ~ "\\.(ini|log)$">', '<FilesMatch ".(htaccess|ini|log|sh)$">', "<Files config.ini>"):
        assert htaccess.review(".htaccess", block + "\nRequire all denied\n</Files>\n")[0]["level"] == "exposed", block
    for block in ('<FilesMatch "^\\.">', '<Files ".ht*">', "<Files .htaccess>", '<Files ~ "^\\.(htaccess|htpasswd)$">'):
        assert htaccess.review(".htaccess", block + "\nDeny from all\n</Files>\n") == [], block


def test_only_a_catch_all_front_controller_is_served_and_protective_rules_are_exposed():
    conditions = "RewriteCond %{REQUEST_FILENAME} !-f\nRewriteCond %{REQUEST_FILENAME} !-d\n"
    assert htaccess.review(".htaccess", conditions + "RewriteRule ^(.*)$ index.php [QSA,L]\n") == []
    redirect = htaccess.review(".htaccess", "RewriteRule ^old$ /index.php [R=301,L]\n")
    assert [f["level"] for f in redirect] == ["htaccess"]
    for rule in ("RewriteRule ^uploads/.*\\.php$ index.php [F]", "RewriteRule .* - [F,E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]"):
        assert [f["level"] for f in htaccess.review(".htaccess", rule + "\n")] == ["exposed"], rule
    engine = htaccess.review("wp-content/uploads/.htaccess", "php_flag engine off\n")
    assert engine[0]["level"] == "exposed" and "PHP runs in /wp-content/uploads/ on the new host" in engine[0]["text"]


def test_a_deny_inside_ifmodule_is_served_by_the_deny_list_and_secrets_stay_out_of_the_report():
    wrapped = "<IfModule mod_authz_core.c>\n  Require all denied\n</IfModule>\n<IfModule !mod_authz_core.c>\n  Deny from all\n</IfModule>\n"
    assert htaccess.review("data/.htaccess", wrapped, denied=["/data/"]) == []
    assert len(htaccess.review("data/.htaccess", wrapped)) == 2
    found = htaccess.review(".htaccess", "SetEnv DB_PASSWORD hunter2-secret\nphp_value session.save_path \"tcp://r:6379?auth=s3cr3t\"\n"
                                         "RewriteRule ^api - [E=API_KEY:k3y-secret,L]\nHeader set X-\x1b[31mRed 1\n")
    shown = " ".join(texts(found))
    assert "hunter2" not in shown and "s3cr3t" not in shown and "k3y" not in shown and "\x1b" not in shown
    assert "SetEnv DB_PASSWORD ...:" in shown and "php_value session.save_path ...:" in shown and "[E=...,L]" in shown
