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
_DOTFILES = re.compile(r'^(~\s*)?"?\^?\\?\.(ht[a-z]*|\*|\(|\[)', re.I)  # <Files .htaccess>, <FilesMatch "^\.">: nginx denies dotfiles


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
    target, flags = words[2], (words[3] if len(words) > 3 else "")
    if target == "-" and flags.lower() in ("", "[l]", "[l,nc]", "[nc,l]"):
        return words[1] in (r"^index\.php$", r"^index\.php")  # WordPress: index.php itself stops rewriting
    if target.startswith("-") and "E=HTTP_AUTHORIZATION" in flags:
        return True  # php-fpm gets the Authorization header from nginx already
    return bool(_FRONT_TARGET.match(target.split("?")[0]) and "?" not in target
                and all(_FRONT_CONDITION.match(c) for c in conditions))


def review(relative_path, text, denied=()):
    """Findings [{"level", "text"}] of one .htaccess (relative_path from the site's top directory); denied: the URL
    paths the new vhost denies (the domain's deny list), which serve a deny of their directory."""
    where = "/" + relative_path.rsplit(NAME, 1)[0]
    served_deny = any(path.endswith("/") and where.startswith(path) for path in denied)
    findings, conditions, blocks = [], [], []

    def finding(number, line, why, level="htaccess"):
        findings.append({"level": level, "text": "%s:%d: %s: %s" % (relative_path, number, line[:160], why)})

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
        in_dotfiles = any(b.lower().startswith("files") and _DOTFILES.match(b.split(None, 1)[1] if " " in b else "")
                          for b in blocks)
        if word == "rewritecond":
            conditions.append(line.split(None, 1)[1] if " " in line else "")
            continue
        if word == "rewriterule":
            served = _front_controller(line, conditions)
            if not served:
                finding(number, line, "rewrite not translated (nginx serves files, else index.php)" + (
                    " [with %d RewriteCond]" % len(conditions) if conditions else ""))
            conditions = []
            continue
        if word in _SERVED and (word != "directoryindex" or set(_words(line)[1:]) <= {"index.php", "index.html", "index.htm"}):
            continue
        if word == "options" and {o.lower() for o in _words(line)[1:]} <= _SERVED_OPTIONS:
            continue
        if word in _PROTECTING:
            if in_dotfiles or _allows(line) or (served_deny and not blocks):
                continue
            finding(number, line, "access rule not translated: the new host serves %s without it%s%s" % (
                where, " (" + blocks[-1] + ")" if blocks else "",
                "; deny: [%s] on the domain denies it" % where if _denies_all(line) and not blocks else ""),
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
    """Findings of every .htaccess ({relative path: text or None}), capped; unread ones named."""
    findings = []
    for path in sorted(texts):
        if texts[path] is None:
            findings.append({"level": "exposed", "text": "%s: not read (a symlink or unreadable): its rules are not applied" % path})
        else:
            findings.extend(review(path, texts[path], denied))
    if skipped:
        findings.append({"level": "htaccess", "text": "%d more .htaccess files were not read (over %d)" % (skipped, MAX_FILES)})
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        findings = findings[:MAX_FINDINGS] + [{"level": "htaccess", "text": "and %d more .htaccess findings" % more}]
    return findings
