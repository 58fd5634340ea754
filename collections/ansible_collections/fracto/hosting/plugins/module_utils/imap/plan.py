# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure part of the IMAP migration: message signatures, folder mapping and the plan of a folder.

No server and no IMAP library here: the engine (sync.py) fetches, this module decides, and the unit tests
exercise every rule on plain data.

- A message is identified across servers by a signature of its headers: its Message-ID when it has one,
  else its Date, From and Subject and its size. Messages with the same signature are matched by count
  (the k-th copy on the source with the k-th on the destination), so duplicates on the source are
  copied as many times as they exist there, and a rerun after an interrupted run copies only the rest.
- Folders keep their hierarchy (the separator is translated); the special-use folders (Sent, Drafts,
  Trash, Junk, Archive) land on the destination's own: an explicit map in the state first, then the
  source's RFC 6154 flag, then a list of common names.
"""

from __future__ import annotations

import hashlib
import re

SPECIAL_USE = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
# Names other servers and clients give to the special-use folders (compared case-insensitively, last level only
# for top-level folders): Outlook, Apple Mail, Thunderbird, Gmail-like, Spanish, Italian, French, German.
COMMON_NAMES = {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "enviados", "elementos enviados", "inviata",
               "posta inviata", "envoyés", "éléments envoyés", "gesendet", "gesendete objekte"),
    "\\Drafts": ("drafts", "draft", "borradores", "bozze", "brouillons", "entwürfe"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "bin", "papelera", "elementos eliminados", "cestino",
                "corbeille", "papierkorb"),
    "\\Junk": ("junk", "spam", "junk e-mail", "junk email", "bulk mail", "correo no deseado", "posta indesiderata",
               "indésirables", "courrier indésirable"),
    "\\Archive": ("archive", "archives", "archivo", "archivio", "archiv"),
}
# The name a special-use folder gets on the destination when the destination has none with that flag.
DEFAULT_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk", "\\Archive": "Archive"}
# \Recent is the server's own; never copied nor compared.
IGNORED_FLAGS = {"\\recent"}
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
SIGNATURE_FIELDS = ("MESSAGE-ID", "DATE", "FROM", "SUBJECT")


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _squash(value):
    """A header value unfolded, with runs of white space made one space."""
    return re.sub(r"\s+", " ", value or "").strip()


def parse_headers(header_bytes):
    """{lowercase name: first value} of a header block, unfolded (fast: no email.parser, the migrator reads thousands)."""
    text = (header_bytes or b"").decode("utf-8", "surrogateescape")
    out = {}
    for line in _FOLD.sub(" ", text).splitlines():
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            out.setdefault(name.strip().lower(), value.strip())
    return out


_FOLD = re.compile(r"\r?\n[ \t]+")


def signature(header_bytes, size):
    """The signature of a message from the bytes of its Message-ID, Date, From and Subject headers and its size.

    With a Message-ID: that id alone (lowercased, without white space), so that a server that rewrites
    other headers still matches. Without: Date, From, Subject (unfolded) and the size.
    """
    headers = parse_headers(header_bytes)
    message_id = re.sub(r"\s+", "", headers.get("message-id", "")).lower()
    if message_id:
        basis = "id:" + message_id
    else:
        basis = "hdr:%s|%s|%s|%d" % tuple([_squash(headers.get(f, "")) for f in ("date", "from", "subject")] + [int(size or 0)])
    return hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def normal_flags(flags):
    """The flags of a message as a sorted tuple of str, without \\Recent; system flags in their canonical case."""
    out = set()
    canonical = {f.lower(): f for f in SYSTEM_FLAGS}
    for flag in flags or ():
        name = _text(flag)
        if name.lower() in IGNORED_FLAGS:
            continue
        out.add(canonical.get(name.lower(), name))
    return tuple(sorted(out))


def keywords_refused(flags, permanent_flags):
    """The keywords of flags the destination does not keep (its PERMANENTFLAGS has neither them nor \\*)."""
    permanent = {_text(f).lower() for f in permanent_flags or ()}
    if not permanent or "\\*" in permanent:
        return []
    return sorted(f for f in flags if not f.startswith("\\") and f.lower() not in permanent)


# --------------------------------------------------------------------------- folders

def split_name(name, separator, prefix=""):
    """The levels of a folder name, without the personal namespace's prefix (INBOX. on Courier-like servers)."""
    if prefix and name.startswith(prefix) and name.upper() != "INBOX":
        name = name[len(prefix):]
    return [part for part in (name.split(separator) if separator else [name]) if part != ""] or [name]


def special_use_of(name, flags, separator, prefix=""):
    """The special-use flag of a source folder: its RFC 6154 flag, else one its (top-level) name is commonly given."""
    for flag in flags or ():
        text = _text(flag)
        if text.capitalize() in SPECIAL_USE or text in SPECIAL_USE:
            return next(s for s in SPECIAL_USE if s.lower() == text.lower())
    levels = split_name(name, separator, prefix)
    if len(levels) == 1:
        for use, names in COMMON_NAMES.items():
            if levels[0].lower() in names:
                return use
    return None


def map_folders(source, destination, folder_map=None):
    """{source name: destination name} for every selectable source folder.

    source: {"separator", "prefix", "folders": [(name, flags)]}; destination: {"separator", "prefix", "folders":
    [(name, flags)]}. Names are Unicode (the IMAP library decodes modified UTF-7 both ways).
    Precedence: the explicit map (full source name -> full destination name), then special use (RFC 6154 flag on
    the source, then common names) onto the destination's folder with that flag (or its default name), then the
    same hierarchy with the destination's separator. INBOX is always INBOX.
    """
    folder_map = folder_map or {}
    dsep, dprefix = destination.get("separator") or "/", destination.get("prefix") or ""
    dest_special = {}
    for name, flags in destination.get("folders", ()):
        for flag in flags or ():
            text = next((s for s in SPECIAL_USE if s.lower() == _text(flag).lower()), None)
            if text:
                dest_special.setdefault(text, name)
    taken_special = set()
    mapping = {}
    ssep, sprefix = source.get("separator") or "/", source.get("prefix") or ""
    folders = [(n, f) for n, f in source.get("folders", ()) if "\\noselect" not in {_text(x).lower() for x in f or ()}]
    # Flags first, so that a real \Sent wins over a folder merely named "Sent".
    ordered = sorted(folders, key=lambda item: (not any(_text(x).lower() in {s.lower() for s in SPECIAL_USE}
                                                        for x in item[1] or ()), item[0]))
    for name, flags in ordered:
        if name in folder_map:
            mapping[name] = folder_map[name]
            continue
        if name.upper() == "INBOX":
            mapping[name] = "INBOX"
            continue
        use = special_use_of(name, flags, ssep, sprefix)
        if use and use not in taken_special:
            taken_special.add(use)
            mapping[name] = dest_special.get(use, dprefix + DEFAULT_NAMES[use])
            continue
        levels = split_name(name, ssep, sprefix)
        if levels[0].upper() == "INBOX" and len(levels) > 1 and not sprefix:
            levels = levels[1:]  # INBOX.Sub on a server whose folders live under INBOX
        mapping[name] = dprefix + dsep.join(levels)
    return mapping


# --------------------------------------------------------------------------- the plan of one folder

def plan_folder(source, destination, delete_extra=False):
    """What to do in one folder.

    source: [{"uid", "sig", "size", "flags"}]; destination: [{"uid", "sig", "flags"}] (flags as normal_flags()).
    Returns {"copy": [source uids], "copy_bytes", "flags": {destination uid: flags}, "extra": [destination uids],
    "matched": n, "delete": [destination uids to delete]}. Matching is per signature and by count, in UID order.
    """
    by_sig = {}
    for msg in sorted(destination, key=lambda m: m["uid"]):
        by_sig.setdefault(msg["sig"], []).append(msg)
    copy, flags, matched, copy_bytes = [], {}, 0, 0
    for msg in sorted(source, key=lambda m: m["uid"]):
        twins = by_sig.get(msg["sig"])
        if twins:
            twin = twins.pop(0)
            matched += 1
            if tuple(twin["flags"]) != tuple(msg["flags"]):
                flags[twin["uid"]] = tuple(msg["flags"])
        else:
            copy.append(msg["uid"])
            copy_bytes += int(msg.get("size") or 0)
    extra = sorted(m["uid"] for rest in by_sig.values() for m in rest)
    return {"copy": copy, "copy_bytes": copy_bytes, "flags": flags, "extra": extra, "matched": matched,
            "delete": extra if delete_extra else []}


def batches(items, max_count, max_bytes):
    """Split [(uid, size)] into batches of at most max_count messages and max_bytes (a bigger message goes alone)."""
    batch, total = [], 0
    for uid, size in items:
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def group_flags(updates):
    """{flags: [uids]} from {uid: flags}: one STORE per distinct set of flags."""
    groups = {}
    for uid, flags in sorted(updates.items()):
        groups.setdefault(tuple(flags), []).append(uid)
    return groups


def missing_after(source, destination):
    """The source messages that have no counterpart on the destination (count-based, per signature)."""
    counts = {}
    for msg in destination:
        counts[msg["sig"]] = counts.get(msg["sig"], 0) + 1
    missing = []
    for msg in sorted(source, key=lambda m: m["uid"]):
        if counts.get(msg["sig"], 0) > 0:
            counts[msg["sig"]] -= 1
        else:
            missing.append(msg)
    return missing


# --------------------------------------------------------------------------- the record of verified folders
#
# With CONDSTORE (RFC 7162) on both servers, a folder's (UIDVALIDITY, UIDNEXT, MESSAGES, HIGHESTMODSEQ) changes
# whenever anything in it changes: a new message moves UIDNEXT, an expunge MESSAGES and the mod-sequence, a flag the
# mod-sequence, a re-created folder UIDVALIDITY. After a folder has been verified complete (every source message
# has its counterpart, flags equal), the engine records both sides' four values, taken on the SELECT/EXAMINE just
# before the FETCH that showed it complete (a change after that point moves them, so the record can only be older
# than what was verified, never newer). A rerun that finds the same four values on both sides has nothing to do
# in that folder. Anything else (no record, another server or folder, a value missing or different, a zero
# HIGHESTMODSEQ: no persistent mod-sequences) means the full comparison.

STATUS_ITEMS = ("UIDVALIDITY", "UIDNEXT", "MESSAGES", "HIGHESTMODSEQ")
RECORD_VERSION = 1


def status_tuple(values):
    """[uidvalidity, uidnext, messages, highestmodseq] as ints from a {item: value} dict, or None when one is missing
    or the mailbox has no persistent mod-sequences (HIGHESTMODSEQ 0 or absent: NOMODSEQ)."""
    if not values:
        return None
    try:
        out = [int(values[item]) for item in STATUS_ITEMS]
    except (KeyError, TypeError, ValueError):
        return None
    if out[0] <= 0 or out[1] <= 0 or out[3] <= 0:
        return None
    return out


def record_identity(job):
    """What a record is valid for: the destination address, the source server and login, the destination server."""
    source, dest = job.get("source") or {}, job.get("destination") or {}
    return {"address": job.get("address"),
            "source": "%s:%s %s" % (source.get("host"), source.get("port"), source.get("user")),
            "destination": "%s:%s" % (dest.get("host"), dest.get("port"))}


def usable_record(record, job):
    """The record's folders when it was written by this engine for the same mailbox, servers and login; else {}."""
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return {}
    if any(record.get(key) != value for key, value in record_identity(job).items()):
        return {}
    folders = record.get("folders")
    return folders if isinstance(folders, dict) else {}


def unchanged_since_verified(entry, dname, source_status, destination_status, delete_extra):
    """True when the folder needs no comparison: a record of a verified folder exists for the same destination folder,
    both sides' four values are known and equal to the recorded ones, and delete_extra has nothing to delete there."""
    if not isinstance(entry, dict) or entry.get("destination") != dname:
        return False
    src, dst = status_tuple(source_status), status_tuple(destination_status)
    if src is None or dst is None:
        return False
    if entry.get("source_status") != src or entry.get("destination_status") != dst:
        return False
    if delete_extra and entry.get("extra", 1) != 0:
        return False  # extras were kept when the folder was verified: delete_extra must look at them
    return isinstance(entry.get("messages"), int) and isinstance(entry.get("already"), int)


def verified_entry(dname, source_status, destination_status, source, destination, delete_extra):
    """The record of a folder, or None when it cannot be recorded: source/destination are the inventories read
    right after those statuses were taken; the folder must be complete (nothing to copy), flags equal, and with
    delete_extra no extra message left."""
    src, dst = status_tuple(source_status), status_tuple(destination_status)
    if src is None or dst is None or src[2] != len(source) or dst[2] != len(destination):
        return None  # the inventories are not those of the recorded statuses (a change in between)
    plan = plan_folder(source, destination, delete_extra)
    if plan["copy"] or plan["flags"] or plan["delete"]:
        return None
    return {"destination": dname, "source_status": src, "destination_status": dst, "messages": len(source),
            "already": plan["matched"], "extra": len(plan["extra"])}


def updated_record(job, folders):
    """The record to write: this mailbox's identity and its verified folders {source name: entry}."""
    return dict(record_identity(job), version=RECORD_VERSION, folders=dict(sorted(folders.items())))


def record_file_name(address):
    """A file name for a mailbox's record (the address, with anything unusual replaced)."""
    name = re.sub(r"[^A-Za-z0-9@._+-]", "_", address or "")
    return (name.lstrip(".") or "_") + ".json"
