# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an old site is: its CMS and version, whether that version is still supported, the PHP it needs.

Everything here reads files through a callable (read(relative_path) -> text or None), so the
detection is tested without a host.
"""

from __future__ import annotations

import re

# Where each CMS records its version, newest layout first: (cms, file, [(field, regex)]).
_PHP_STR = r"""\s*=\s*['"]([^'"]+)['"]"""
SIGNATURES = (
    ("WordPress", "wp-includes/version.php", (("version", r"\$wp_version" + _PHP_STR),
                                              ("php_min", r"\$required_php_version" + _PHP_STR))),
    ("Joomla", "libraries/src/Version.php", (("major", r"const\s+MAJOR_VERSION\s*=\s*(\d+)"),
                                             ("minor", r"const\s+MINOR_VERSION\s*=\s*(\d+)"),
                                             ("patch", r"const\s+PATCH_VERSION\s*=\s*(\d+)"))),
    ("Joomla", "libraries/cms/version/version.php", (("release", r"(?:public|const|var)\s+\$?RELEASE" + _PHP_STR),
                                                     ("dev_level", r"(?:public|const|var)\s+\$?DEV_LEVEL" + _PHP_STR))),
    ("Joomla", "libraries/joomla/version.php", (("release", r"(?:public|const|var)\s+\$?RELEASE" + _PHP_STR),
                                                ("dev_level", r"(?:public|const|var)\s+\$?DEV_LEVEL" + _PHP_STR))),
    ("Drupal", "core/lib/Drupal.php", (("version", r"const\s+VERSION" + _PHP_STR),)),
    ("Drupal", "includes/bootstrap.inc", (("version", r"define\(\s*['\"]VERSION['\"]\s*,\s*['\"]([^'\"]+)['\"]"),)),
    ("Drupal", "modules/system/system.module", (("version", r"define\(\s*['\"]VERSION['\"]\s*,\s*['\"]([^'\"]+)['\"]"),)),
)

# Branches and the day their support ended (None: supported), and the PHP versions they run on.
# (cms, branch prefix) -> (end of life, oldest PHP, newest PHP)
BRANCHES = {
    ("Joomla", "1.5"): ("2012-09-30", "4.3", "5.3"),
    ("Joomla", "2.5"): ("2014-12-31", "5.2.4", "5.6"),
    ("Joomla", "3"): ("2023-08-17", "5.3.10", "8.0"),
    ("Joomla", "4"): ("2025-10-17", "7.2.5", "8.3"),
    ("Joomla", "5"): (None, "8.1", None),
    ("Drupal", "6"): ("2016-02-24", "4.4", "5.3"),
    ("Drupal", "7"): ("2025-01-05", "5.2.5", "8.3"),
    ("Drupal", "8"): ("2021-11-02", "7.0.8", "7.4"),
    ("Drupal", "9"): ("2023-11-01", "7.3", "8.1"),
    ("Drupal", "10"): (None, "8.1", None),
    ("Drupal", "11"): (None, "8.3", None),
}
# WordPress supports only its latest branch; older ones are outdated (security fixes are not promised).
WORDPRESS_SUPPORTED = (6, 5)

CONFIG_FILES = (("wp-config.php", "wordpress"), ("configuration.php", "joomla"))


def version_tuple(text):
    return tuple(int(p) for p in re.findall(r"\d+", str(text))[:3]) or (0,)


def detect_cms(read):
    """{"name", "version", "file"} of the CMS found, or None for a custom (or static) site."""
    for name, path, fields in SIGNATURES:
        text = read(path)
        if text is None:
            continue
        found = {}
        for field, pattern in fields:
            match = re.search(pattern, text)
            if match:
                found[field] = match.group(1)
        if name == "Joomla" and "major" in found:
            version = "%s.%s.%s" % (found["major"], found.get("minor", "0"), found.get("patch", "0"))
        elif name == "Joomla" and "release" in found:
            version = found["release"] + ("." + found["dev_level"] if "dev_level" in found else "")
        else:
            version = found.get("version")
        if version:
            return {"name": name, "version": version, "file": path, "php_min": found.get("php_min")}
    return None


def _branch(cms):
    version = version_tuple(cms["version"])
    for (name, prefix), info in BRANCHES.items():
        if name != cms["name"]:
            continue
        want = version_tuple(prefix)
        if version[:len(want)] == want:
            return prefix, info
    return None, None


def assess(cms, php_offered, php_target):
    """Findings about the CMS and PHP: [{"level": "outdated"|"warning"|"info", "text"}], and the PHP range it needs."""
    findings = []
    need = {"min": None, "max": None}
    if cms is None:
        return findings, need
    label = "%s %s" % (cms["name"], cms["version"])
    if cms["name"] == "WordPress":
        need["min"] = cms.get("php_min")
        if version_tuple(cms["version"])[:2] < WORDPRESS_SUPPORTED:
            text = "%s is outdated: only the latest WordPress branch gets security fixes; update it to %d.%d or later" % (
                (label,) + WORDPRESS_SUPPORTED)
            findings.append({"level": "outdated", "text": text})
    else:
        branch, info = _branch(cms)
        if info is None:
            findings.append({"level": "warning", "text": "%s: unknown branch, support status not known" % label})
        else:
            eol, need["min"], need["max"] = info
            if eol:
                text = "%s is outdated: %s %s is end of life since %s; it gets no security fixes and must be updated" % (
                    label, cms["name"], branch, eol)
                findings.append({"level": "outdated", "text": text})
    findings.extend(php_findings(label, need, php_offered, php_target))
    return findings, need


def php_findings(label, need, php_offered, php_target):
    findings = []
    runs = [v for v in php_offered if php_fits(v, need)]
    if not runs:
        text = "%s needs PHP %s; the platform offers %s: the site must be updated before it runs here" % (
            label, php_range(need), ", ".join(php_offered) or "none")
        findings.append({"level": "warning", "text": text})
    elif php_target and not php_fits(php_target, need):
        text = "%s needs PHP %s but its vhost runs PHP %s (offered: %s)" % (label, php_range(need), php_target, ", ".join(runs))
        findings.append({"level": "warning", "text": text})
    elif not php_target:
        findings.append({"level": "warning", "text": "%s needs PHP but its vhost serves static files (php: false)" % label})
    return findings


def php_fits(version, need):
    have = version_tuple(version)
    if need.get("min") and have < version_tuple(need["min"])[:len(have)]:
        return False
    if need.get("max") and have[:len(version_tuple(need["max"]))] > version_tuple(need["max"]):
        return False
    return True


def php_range(need):
    if need.get("min") and need.get("max"):
        return "%s to %s" % (need["min"], need["max"])
    if need.get("min"):
        return ">= %s" % need["min"]
    if need.get("max"):
        return "<= %s" % need["max"]
    return "(any)"
