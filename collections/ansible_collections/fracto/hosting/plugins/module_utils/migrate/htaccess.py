# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The old site's Apache .htaccess files, read against what the new vhost does: nginx reads no .htaccess, so every
rule is either one the vhost already serves (a CMS front controller: try_files ... /index.php; dotfiles denied; no
directory listing) or a finding naming its file and line, so that no rule is dropped silently.

A rule that protected something on the old host (deny, password) is an "exposed" finding: the new host serves what
it protected until the operator acts. Nothing here writes: the findings go into the migration report.
"""

from __future__ import annotations

import re

NAME = ".htaccess"
MAX_FILES = 200  # .htaccess files read per site; more are reported as not read
MAX_FINDINGS = 100  # findings listed per site; more are counted

# Always served by the vhost whatever their arguments (nginx: try_files, fastcgi's HTTP_AUTHORIZATION, no listing)
_SERVED = {"rewriteengine", "rewritebase", "directoryindex"}
_PROTECTING = {"deny", "require", "authtype", "authuserfile", "authname", "authgroupfile", "satisfy", "order", "allow"}
_FRONT_TARGET = re.compile(r"^/?index\.php$")
# What a front controller's RewriteCond may test: not a file, directory or link; not index.php or favicon.ico itself
_FRONT_CONDITION = re.compile(r"^%\{REQUEST_(FILENAME|URI)\}\s+(!-[fdl]|!\^?/index\\\.php\$?|!=/favicon\.ico)$", re.I)
_SERVED_OPTIONS = {"-indexes", "+followsymlinks", "followsymlinks", "+symlinksifownermatch", "symlinksifownermatch",
                   "-multiviews", "-execcgi"}
# Flags a front controller's RewriteRule may carry (anything else - R=, F, G, E=... - is a rule of its own)
_FRONT_FLAGS = {"l", "qsa", "nc", "end", "pt"}
_CATCH_ALL = {".", ".*", "^", "^(.*)$", "(.*)", "^.*$", "^(.*)"}
# Directives whose arguments may hold a secret (SetEnv DB_PASSWORD ..., php_value ...): only the name is shown
_SECRET_ARGS = {"setenv", "setenvif", "setenvifnocase", "passenv", "php_value", "php_admin_value", "php_flag",
                "php_admin_flag"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _dotfiles_only(block):
    """Whether a <Files>/<FilesMatch> section matches only names starting with '.' (nginx denies those already)."""
    kind, pattern = (block.split(None, 1) + [""])[:2]
    pattern = pattern.strip()
    regex = kind.lower() == "filesmatch" or pattern.startswith("~")
    pattern = pattern.lstrip("~").strip().strip('"').strip("'")
    return pattern.startswith("^\\.") if regex else pattern.startswith(".")


def _shown(line):
    """The directive as the report shows it: no control character; for one that may carry a secret, the directive
    and its first word (the variable or setting name), and a rewrite's flags without their E= values."""
    words = _CONTROL.sub("?", line).split()
    if words[0].lower() == "rewriterule":
        return re.sub(r"E=[^,\]]*", "E=...", " ".join(words))[:160]
    if words[0].lower() in _SECRET_ARGS:
        return " ".join(words[:2] + (["..."] if len(words) > 2 else []))
    return " ".join(words)[:160]


def logical_lines(text):
    """(line number, directive line) of the file: comments and blank lines left out, continuations joined."""
    lines, held, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not held:
            start = number
        if line.endswith("\\"):
            held += line[:-1].rstrip() + " "
            continue
        line, held = (held + line).strip(), ""
        if line and not line.startswith("#"):
            lines.append((start, line))
    return lines


def _words(line):
    return line.split()


def _front_controller(rule, conditions):
    """A RewriteRule sending what is not a file or directory to index.php: the vhost's try_files does the same."""
    words = _words(rule)
    if len(words) < 3:
        return False
    pattern, target = words[1], words[2]
    flags = {f.strip().lower() for f in (words[3] if len(words) > 3 else "").strip("[]").split(",") if f.strip()}
    if target == "-" and flags <= {"l", "nc"}:
        return pattern in (r"^index\.php$", r"^index\.php")  # WordPress: index.php itself stops rewriting
    if target == "-" and len(flags) == 1 and next(iter(flags)).startswith("e=http_authorization:"):
        return True  # php-fpm gets the Authorization header from nginx already
    return bool(pattern in _CATCH_ALL and _FRONT_TARGET.match(target) and flags <= _FRONT_FLAGS
                and all(_FRONT_CONDITION.match(c) for c in conditions))


def review(relative_path, text, denied=()):
    """Findings [{"level", "text"}] of one .htaccess (relative_path from the site's top directory); denied: the URL
    paths the new vhost denies (the domain's deny list), which serve a deny of their directory."""
    where = "/" + relative_path.rsplit(NAME, 1)[0]
    served_deny = any(path.endswith("/") and where.startswith(path) for path in denied)
    findings, conditions, blocks = [], [], []

    def finding(number, line, why, level="htaccess"):
        findings.append({"level": level, "text": "%s:%d: %s: %s" % (_CONTROL.sub("?", relative_path), number, _shown(line), why)})

    for number, line in logical_lines(text):
        word = _words(line)[0].lower()
        if line.startswith("</"):
            blocks = blocks[:-1]
            continue
        if line.startswith("<"):
            tag = line[1:].rstrip(">").strip()
            blocks.append(tag)
            if not tag.lower().startswith(("ifmodule", "files", "filesmatch", "limit", "limitexcept", "ifversion")):
                finding(number, line, "section not translated")
            continue
        # <IfModule>/<IfVersion> narrow nothing; <Files*>/<Limit*> narrow a rule to some files or methods
        narrowing = [b for b in blocks if b.lower().startswith(("files", "limit"))]
        if word == "rewritecond":
            conditions.append(line.split(None, 1)[1] if " " in line else "")
            continue
        if word == "rewriterule":
            if not _front_controller(line, conditions):
                forbids = bool(re.search(r"\[[^\]]*\b[FG]\b", line, re.I))  # [F]/[G]: the old host answered 403/410
                finding(number, line, ("access rule not translated: the new host serves what it refused" if forbids
                                       else "rewrite not translated (nginx serves files, else index.php)")
                        + (" [with %d RewriteCond]" % len(conditions) if conditions else ""),
                        level="exposed" if forbids else "htaccess")
            conditions = []
            continue
        if word in _SERVED and (word != "directoryindex" or set(_words(line)[1:]) <= {"index.php", "index.html", "index.htm"}):
            continue
        if word == "options" and {o.lower() for o in _words(line)[1:]} <= _SERVED_OPTIONS:
            continue
        if word in _PROTECTING:
            if _allows(line) or (narrowing and all(_dotfiles_only(b) for b in narrowing)) or (served_deny and not narrowing):
                continue
            finding(number, line, "access rule not translated: the new host serves %s without it%s%s" % (
                where, " (" + narrowing[-1] + ")" if narrowing else "",
                "; deny: [%s] on the domain denies it" % where if _denies_all(line) and not narrowing else ""),
                level="exposed")
            continue
        if word in ("php_flag", "php_admin_flag") and [w.lower() for w in _words(line)[1:3]] == ["engine", "off"]:
            finding(number, line, "not translated: PHP runs in %s on the new host (uploads there run as code)" % where,
                    level="exposed")
            continue
        finding(number, line, "not translated (nginx and PHP-FPM read no .htaccess)")
    return findings


def _denies_all(line):
    return [w.lower() for w in _words(line)[:3]] in (["deny", "from", "all"], ["require", "all", "denied"])


def _allows(line):
    """Rules that protect nothing (Order, Allow from all, Require all granted)."""
    words = [w.lower() for w in _words(line)]
    return words[0] == "order" or words[:3] == ["allow", "from", "all"] or words[:3] == ["require", "all", "granted"] or \
        words[0] == "satisfy"


def review_all(texts, skipped=0, denied=()):
    """Findings of every .htaccess ({relative path: text or None}): every exposed one, and the others up to a cap."""
    findings = []
    for path in sorted(texts):
        if texts[path] is None:
            findings.append({"level": "exposed", "text": "%s: not read (a symlink or unreadable): its rules are not applied"
                                                         % _CONTROL.sub("?", path)})
        else:
            findings.extend(review(path, texts[path], denied))
    if skipped:
        findings.append({"level": "exposed", "text": "%d more .htaccess files were not read (over %d): their rules are not"
                                                     " applied" % (skipped, MAX_FILES)})
    exposed = [f for f in findings if f["level"] == "exposed"]
    others = [f for f in findings if f["level"] != "exposed"]
    if len(others) > MAX_FINDINGS:
        more = len(others) - MAX_FINDINGS
        others = others[:MAX_FINDINGS] + [{"level": "htaccess", "text": "and %d more .htaccess findings" % more}]
    return exposed + others
