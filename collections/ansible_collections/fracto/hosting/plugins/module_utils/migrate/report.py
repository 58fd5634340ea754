# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of a site migration: one text block and one JSON document per site, no secret in either."""

from __future__ import annotations

LIST_LIMIT = 20


def human(size):
    size = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (size, unit)
        size /= 1024
    return "%d B" % size  # pragma: no cover


def _names(items):
    shown = ", ".join(items[:LIST_LIMIT])
    return shown + (" and %d more" % (len(items) - LIST_LIMIT) if len(items) > LIST_LIMIT else "")


def outdated(site):
    return [f["text"] for f in (site.get("preflight") or {}).get("findings", []) if f.get("level") == "outdated"]


def step(site):
    """Where the site is: failed (at a named step), migrated (copied, smoke-tested: DNS may move), or cut over (live)."""
    return {"failed": "failed", "cut_over": "cut over"}.get(site.get("status"), "migrated")


def _cut_over(site, check):
    if site.get("cut_over_now"):
        return ("would be marked as cut over (check mode: nothing was changed)" if check
                else "marked as cut over: later runs leave the live site as it is")
    return ("cut over on %s: left as it is, nothing copied (the live site is never overwritten; -e force=true copies it"
            " again from the old host)" % site.get("cut_over_at"))


def format_site(site):
    """The text block of one site."""
    check = site.get("check_mode")
    where = "%s:%s -> %s:%s" % (site.get("from"), site.get("path"), site.get("host"), site.get("docroot"))
    if site.get("status") == "failed":
        head = "FAILED at step %r: %s (the source was not changed)" % (site.get("failed_step"), site.get("error"))
    elif site.get("status") == "cut_over":
        head = _cut_over(site, check)
    else:
        head = "would migrate (check mode: nothing was changed)" if check else "migrated"
        if site.get("forced_over_cut_over"):
            head += " (forced over the live site, cut over on %s)" % site["forced_over_cut_over"]
    lines = ["site of client %s (%s) [%s]: %s" % (site.get("client"), site.get("domain"), where, head)]
    pre = site.get("preflight") or {}
    if pre:
        cms = pre.get("cms")
        lines.append("  preflight: %s in %d files; free on the target: %s; CMS: %s; PHP needed: %s; PHP of the vhost: %s"
                     % (human(pre.get("size_bytes")), pre.get("files", 0), human(pre.get("free_bytes")) if pre.get("free_bytes") is not None else "?",
                        "%s %s" % (cms["name"], cms["version"]) if cms else ("none (custom PHP)" if pre.get("uses_php") else "none (static)"),
                        pre.get("php_range") or "(any)", site.get("php") or "none (static)"))
        for finding in pre.get("findings", []):
            level = finding["level"].upper() if finding["level"] in ("outdated", "exposed") else finding["level"]
            lines.append("  ! %s: %s" % (level, finding["text"]))
    files = site.get("files")
    if files:
        verb = "would copy" if check else "copied"
        listed = ": " + _names(files["copied"]) if files.get("copied") else ""
        lines.append("  files: %s %d, created %d, deleted %d%s" % (verb, len(files.get("copied", [])), len(files.get("created", [])),
                                                                   len(files.get("deleted", [])), listed))
        if files.get("deleted"):
            lines.append("    deleted: %s" % _names(files["deleted"]))
    database = site.get("database")
    if database:
        lines.append("  database: %s:%s -> %s: %s" % (site.get("from"), database.get("source"), database.get("target"), database.get("reason")))
        for text in database.get("findings") or []:
            lines.append("  ! database: the dump reaches beyond the client's database (refused by the import as its user): %s" % text)
    for config in site.get("config") or []:
        state = ("would be rewritten" if check else "rewritten") if config.get("changed") else "already rewritten"
        notes = "; " + "; ".join(config["notes"]) if config.get("notes") else ""
        lines.append("  config: %s %s for the new database%s" % (config.get("file"), state, notes))
    for result in site.get("smoke") or []:
        verdict = "same" if result["match"] else "DIFFERENT (%s)" % "; ".join(result["differences"])
        lines.append("  smoke: %s old %s %r, new %s %r: %s" % (
            result["name"], result["old"]["status"], result["old"]["title"], result["new"]["status"], result["new"]["title"], verdict))
    return lines


def document(site):
    """The JSON document of one site."""
    return dict(site, step=step(site), outdated=outdated(site), text=format_site(site))
