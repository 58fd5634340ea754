# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMAP side of the mail migration: one mailbox from a source server into a destination server.

Per folder: one FETCH of the signature headers, sizes and flags on each side (one round trip each, whatever the
number of messages), the plan (plan.py), then the copy in batches: one UID FETCH of the batch's bodies and one
APPEND of the whole batch (MULTIAPPEND when the destination advertises it; with LITERAL+ the literals are sent
without waiting for the server), a bounded number of bytes per batch (a message bigger than the bound goes alone, so
memory stays at one batch or one message). Flags are brought up to date with one STORE per distinct set of flags. The two servers work at once: both
inventories are read in parallel, and the next batch is fetched from the source while the current one is appended.
Several mailboxes run at once (a bounded pool of processes); one that fails is reported and the others go on.

With a state directory and CONDSTORE on both servers, each folder verified complete is recorded (plan.py, "the record
of verified folders"): a rerun asks both servers for every recorded folder's STATUS (pipelined) and skips the folders
whose four values are those recorded on both sides (unchanged since the last verified run); the others get the full
comparison. Check mode always compares in full and writes no record.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor

from ansible_collections.fracto.hosting.plugins.module_utils import files
from ansible_collections.fracto.hosting.plugins.module_utils.imap import plan as mp
from ansible_collections.fracto.hosting.plugins.module_utils.imap.client import IMAP, IMAPError, tls_context

LIST_ITEMS = "(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)])"
BODY_ITEMS = "(UID FLAGS INTERNALDATE BODY.PEEK[])"


class Progress:
    """Progress lines, one per step of each mailbox, appended to a file on the host (tail -f it on long runs)."""

    def __init__(self, path=None):
        self.path, self.lock, self.lines = path, threading.Lock(), []

    def __call__(self, address, text):
        line = "%s %s %s" % (time.strftime("%Y-%m-%dT%H:%M:%S"), address, text)
        with self.lock:
            self.lines.append(line)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")


def connect(server, user, password, master_user=None, timeout=120):
    """A logged-in connection. server: {host, port, verify, ca_file}. A master user logs in with SASL PLAIN and the
    mailbox as authorization identity (Dovecot's master users, and any server that implements RFC 4616 authzid)."""
    conn = IMAP(server["host"], server.get("port") or 993, server.get("verify", True), server.get("ca_file"), timeout,
                server.get("tls", True))
    try:
        conn.login(user, password, master_user)
    except IMAPError:
        conn.logout()
        raise
    return conn


def folders_of(conn):
    """{"separator", "prefix", "folders": [(name, flags)], "subscribed": set}."""
    listing = conn.folders()
    separator = next((sep for _flags, sep, _name in listing if sep), "/")
    prefix = ""
    personal = conn.namespace()
    if personal:
        prefix, separator = personal[0] or "", personal[1] or separator
    return {"separator": separator, "prefix": prefix, "folders": [(name, flags) for flags, _sep, name in listing],
            "subscribed": conn.subscribed()}


def inventory(conn, count):
    """[{"uid", "sig", "size", "flags"}] of the selected folder (one UID FETCH 1:*)."""
    if not count:
        return []
    out = []
    for uid, item in conn.fetch("1:*", LIST_ITEMS).items():
        out.append({"uid": uid, "sig": mp.signature(item["literal"] or b"", item["size"]), "size": item["size"],
                    "flags": mp.normal_flags(item["flags"])})
    return out


def in_parallel(first, second):
    """(first(), second()), second run in a thread meanwhile (each side of the migration has its own connection)."""
    box = {}

    def run():
        try:
            box["value"] = second()
        except BaseException as exc:  # pylint: disable=broad-except  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        value = first()
    finally:
        thread.join()
    if "error" in box:
        raise box["error"]
    return value, box["value"]


class MailboxMigration:
    """One mailbox: open both sides, walk the folders, copy what is missing, sync flags, verify."""

    def __init__(self, job, check_mode=False, progress=None, batch_messages=200, batch_bytes=16 << 20, state_dir=None):
        self.job, self.check, self.state_dir = job, check_mode, state_dir
        self.recording, self.verified_folders = False, {}
        self.progress = progress or (lambda address, text: None)
        self.batch_messages, self.batch_bytes = batch_messages, batch_bytes
        self.report = {"address": job["address"], "client": job.get("client"), "status": "ok", "error": None,
                       "folders": [], "messages": 0, "copied": 0, "already": 0, "failed": 0, "bytes": 0,
                       "flags_updated": 0, "deleted": 0, "extra": 0, "created_folders": [], "subscribed": [],
                       "refused_keywords": [], "missing": [], "seconds": 0.0, "verified": False, "verification": "",
                       "unchanged_folders": 0}

    def say(self, text):
        self.progress(self.job["address"], text)

    def run(self):
        started = time.monotonic()
        src = dst = None
        try:
            src, dst = in_parallel(
                lambda: connect(self.job["source"], self.job["source"]["user"], self.job["source"]["password"],
                                self.job["source"].get("master_user")),
                lambda: connect(self.job["destination"], self.job["address"], self.job["destination"]["password"],
                                self.job["destination"].get("master_user")))
            self.migrate(src, dst)
        except (IMAPError, OSError, ValueError) as exc:
            self.fail(exc)
        except Exception as exc:  # pylint: disable=broad-except  # one mailbox never stops the others
            self.fail(exc, detail=traceback.format_exc(limit=3))
        finally:
            for client in (src, dst):
                if client is not None:
                    try:
                        client.logout()
                    except Exception:  # pylint: disable=broad-except  # noqa: BLE001  closing only
                        pass
        self.report["seconds"] = round(time.monotonic() - started, 2)
        self.say("%s: %d copied, %d already there, %d failed, %s in %.1f s" % (
            self.report["status"], self.report["copied"], self.report["already"], self.report["failed"],
            human_bytes(self.report["bytes"]), self.report["seconds"]))
        return self.report

    def fail(self, exc, detail=None):
        self.report["status"] = "failed"
        text = str(exc.args[0]) if getattr(exc, "args", None) else exc.__class__.__name__
        self.report["error"] = "%s: %s" % (exc.__class__.__name__, text)
        if detail:
            self.report["error_detail"] = detail
        self.report["verification"] = "not verified: %s" % self.report["error"]

    def record_path(self):
        return os.path.join(self.state_dir, mp.record_file_name(self.job["address"]))

    def load_record(self):
        """The verified folders of the last runs ({} without a usable record)."""
        try:
            text = files.read_text(self.record_path())
            return mp.usable_record(json.loads(text), self.job) if text else {}
        except (OSError, ValueError):
            return {}

    def save_record(self, before):
        """Write the record (atomically, 0600, no secret in it) when it changed."""
        if self.verified_folders == before and os.path.exists(self.record_path()):
            return
        record = mp.updated_record(self.job, self.verified_folders)
        files.write_atomic(self.record_path(), json.dumps(record, indent=1, sort_keys=True) + "\n", mode=0o600,
                           makedirs=True, dir_mode=0o700)

    def unchanged_folders(self, src, dst, mapping, dest_names, recorded):
        """{source name: record entry} of the folders unchanged on both sides since their last verification (one
        pipelined STATUS per folder on each side, both sides at once)."""
        names = [s for s in mapping if s in recorded and mapping[s] in dest_names]
        if not names:
            return {}
        source_status, dest_status = in_parallel(lambda: src.statuses(names),
                                                 lambda: dst.statuses([mapping[s] for s in names]))
        return {s: recorded[s] for s in names
                if mp.unchanged_since_verified(recorded[s], mapping[s], source_status.get(s),
                                               dest_status.get(mapping[s]), self.job.get("delete_extra", False))}

    def skip_folder(self, sname, dname, entry):
        """A folder unchanged since it was verified: reported with its recorded counts, nothing read or written."""
        self.report["folders"].append({"source": sname, "destination": dname, "messages": entry["messages"],
                                       "copied": 0, "already": entry["already"], "failed": 0, "bytes": 0,
                                       "flags_updated": 0, "extra": entry["extra"], "deleted": 0, "unchanged": True})
        self.report["messages"] += entry["messages"]
        self.report["already"] += entry["already"]
        self.report["extra"] += entry["extra"]
        self.report["unchanged_folders"] += 1
        self.verified_folders[sname] = entry

    def migrate(self, src, dst):
        source, dest = in_parallel(lambda: folders_of(src), lambda: folders_of(dst))
        mapping = mp.map_folders(source, dest, self.job.get("folder_map"))
        dest_names = {name for name, _flags in dest["folders"]}
        dest_subscribed = dest["subscribed"]
        recorded, unchanged = {}, {}
        if self.state_dir and not self.check and src.has("CONDSTORE") and dst.has("CONDSTORE"):
            self.recording = all(in_parallel(src.enable_condstore, dst.enable_condstore))
        if self.recording:
            recorded = self.load_record()
            unchanged = self.unchanged_folders(src, dst, mapping, dest_names, recorded)
        total_missing = 0
        for sname in sorted(mapping, key=lambda n: (n.upper() != "INBOX", n)):
            dname = mapping[sname]
            if dname not in dest_names:
                self.report["created_folders"].append(dname)
                if not self.check:
                    dst.create(dname)
                dest_names.add(dname)
            if sname in source["subscribed"] and dname not in dest_subscribed:
                self.report["subscribed"].append(dname)
                if not self.check:
                    dst.subscribe(dname)
                dest_subscribed.add(dname)
            if sname in unchanged:
                self.skip_folder(sname, dname, unchanged[sname])
                continue
            total_missing += self.folder(src, dst, sname, dname)
        if self.recording:
            self.save_record(recorded)
        count = self.report["messages"]
        if self.report["failed"] or total_missing:
            self.report["status"] = "failed" if not self.check else self.report["status"]
        if self.check:
            self.report["verification"] = "check mode: %d of %d messages of the source would be copied" % (
                self.report["copied"], count)
        elif total_missing:
            self.report["verified"] = False
            self.report["verification"] = "%d of the %d messages of the source are NOT on the destination" % (total_missing, count)
        else:
            self.report["verified"] = True
            self.report["verification"] = "all %d messages of the source are on the destination" % count

    def folder(self, src, dst, sname, dname):
        """Sync one folder; returns the number of source messages still missing on the destination."""
        started = time.monotonic()
        (source, source_status), (destination, permanent, dest_status) = self.read_folder(src, dst, sname, dname)
        entry = {"source": sname, "destination": dname, "messages": len(source), "copied": 0, "already": 0,
                 "failed": 0, "bytes": 0, "flags_updated": 0, "extra": 0, "deleted": 0}
        self.report["folders"].append(entry)
        self.report["messages"] += len(source)
        plan = mp.plan_folder(source, destination, self.job.get("delete_extra", False))
        entry["already"], entry["extra"] = plan["matched"], len(plan["extra"])
        self.report["already"] += plan["matched"]
        self.report["extra"] += len(plan["extra"])
        sizes = {m["uid"]: m["size"] for m in source}
        if self.check:
            self.count_planned(entry, plan)
            return 0
        refused = set()
        self.copy(src, dst, sname, dname, [(uid, sizes[uid]) for uid in plan["copy"]], permanent, refused, entry)
        self.update_destination(dst, dname, plan, permanent, refused, entry)
        if refused:
            self.report["refused_keywords"] = sorted(set(self.report["refused_keywords"]) | refused)
        missing = self.verify_folder(dst, sname, dname, (source, source_status), (destination, dest_status), entry)
        for key in ("copied", "failed", "bytes", "flags_updated", "deleted"):
            self.report[key] += entry[key]
        self.report["missing"] += [{"folder": sname, "uid": m["uid"], "size": m["size"]} for m in missing[:20]]
        entry["seconds"] = round(time.monotonic() - started, 2)
        return len(missing)

    def read_folder(self, src, dst, sname, dname):
        """((source inventory, its status), (destination inventory, its permanent flags, its status)) of one folder,
        both sides at once (the two servers answer in parallel); in check mode, a folder still to be created reads empty."""

        def read_source():
            return inventory(src, src.select(sname, readonly=True)[0]), src.selected_status

        def read_destination():
            if self.check and dname in self.report["created_folders"]:
                return [], (), None
            dcount, permanent = dst.select(dname, readonly=True)  # EXAMINE: reading writes nothing (no \Recent)
            status = dst.selected_status  # taken before the FETCH: a later change moves it
            return inventory(dst, dcount), permanent, status

        return in_parallel(read_source, read_destination)

    def count_planned(self, entry, plan):
        """Check mode: what the folder's plan would copy, flag and delete, counted in its entry and the report."""
        entry["copied"], entry["bytes"] = len(plan["copy"]), plan["copy_bytes"]
        entry["flags_updated"], entry["deleted"] = len(plan["flags"]), len(plan["delete"])
        self.report["copied"] += entry["copied"]
        self.report["bytes"] += entry["bytes"]
        self.report["flags_updated"] += entry["flags_updated"]
        self.report["deleted"] += entry["deleted"]

    def update_destination(self, dst, dname, plan, permanent, refused, entry):
        """Store the planned flags on the destination's messages and expunge its extra ones (with UIDPLUS only)."""
        if plan["flags"] or plan["delete"]:
            dst.select(dname)  # read-write for STORE and EXPUNGE
        for flags, uids in mp.group_flags(plan["flags"]).items():
            kept = [f for f in flags if f not in refused and f not in mp.keywords_refused(flags, permanent)]
            dst.store_flags(uids, kept)
            entry["flags_updated"] += len(uids)
        if plan["delete"]:
            if dst.has("UIDPLUS"):
                dst.add_flags(plan["delete"], ["\\Deleted"])
                dst.uid_expunge(plan["delete"])
                entry["deleted"] = len(plan["delete"])
            else:
                self.report.setdefault("notes", []).append("%s: extra messages kept (no UIDPLUS on the destination)" % dname)

    def verify_folder(self, dst, sname, dname, source_side, dest_side, entry):
        """The source messages missing on the destination after the sync (read again only when it changed), and the
        folder's record entry when recording. source_side is (inventory, status), dest_side the same before the sync."""
        (source, source_status), (after, dest_status) = source_side, dest_side
        missing = []
        if entry["copied"] or entry["failed"] or entry["deleted"] or (self.recording and entry["flags_updated"]):
            after = inventory(dst, dst.select(dname, readonly=True)[0])
            dest_status = dst.selected_status
            missing = mp.missing_after(source, after)
        if self.recording:
            verified = mp.verified_entry(dname, source_status, dest_status, source, after, self.job.get("delete_extra", False))
            if verified is not None:
                self.verified_folders[sname] = verified
        return missing

    def copy(self, src, dst, sname, dname, items, permanent, refused, entry):
        """Copy [(uid, size)]: a thread fetches the next batch from the source while this one appends the current
        batch to the destination (at most two batches in memory)."""
        if not items:
            return
        work, stop = queue.Queue(maxsize=1), threading.Event()

        def fetcher():
            try:
                for batch in mp.batches(items, self.batch_messages, self.batch_bytes):
                    if stop.is_set():
                        return
                    work.put((batch, self.fetch_batch(src, batch, permanent, refused)))
            except BaseException as exc:  # pylint: disable=broad-except  # re-raised by the appender
                work.put(exc)
                return
            work.put(None)

        thread = threading.Thread(target=fetcher, daemon=True)
        thread.start()
        try:
            while True:
                item = work.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                batch, msgs = item
                copied, nbytes = self.append_batch(dst, dname, msgs)
                entry["copied"] += copied
                entry["failed"] += len(batch) - copied
                entry["bytes"] += nbytes
                self.say("%s: %d/%d copied (%s)" % (sname, entry["copied"], len(items), human_bytes(entry["bytes"])))
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    work.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()

    @staticmethod
    def fetch_batch(src, uids, permanent, refused):
        """The bodies, flags and INTERNALDATEs of a batch, in one UID FETCH."""
        fetched = src.fetch(uids, BODY_ITEMS)
        msgs = []
        for uid in uids:
            item = fetched.get(uid)
            if item is None or item["literal"] is None:  # expunged on the source meanwhile
                continue
            flags = mp.normal_flags(item["flags"])
            bad = set(mp.keywords_refused(flags, permanent))
            refused.update(bad)
            msgs.append((item["literal"], [f for f in flags if f not in bad], item["internaldate"]))
        return msgs

    def append_batch(self, dst, dname, msgs):
        """Append a batch in one MULTIAPPEND (or one APPEND each); (messages copied, bytes)."""
        try:
            dst.append(dname, msgs)
        except IMAPError as exc:
            self.report.setdefault("notes", []).append("%s: a batch of %d failed: %s" % (dname, len(msgs), exc))
            return 0, 0
        return len(msgs), sum(len(m[0]) for m in msgs)


def human_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%d B" % n


def _one_mailbox(job, check_mode, progress_file, batch_messages, batch_bytes, state_dir=None):
    """One mailbox in a worker process; its report carries its progress lines."""
    progress = Progress(progress_file)
    progress(job["address"], "started")
    report = MailboxMigration(job, check_mode, progress, batch_messages, batch_bytes, state_dir).run()
    report["progress"] = progress.lines
    return report


def migrate_all(jobs, parallel=4, check_mode=False, progress_file=None, batch_messages=200, batch_bytes=16 << 20,
                state_dir=None):
    """Run every mailbox, at most `parallel` at once, each in a process of its own (parsing thousands of responses
    is CPU work: threads would share one core); returns (reports in job order, progress lines). state_dir: where the
    records of verified folders are kept (None: no record, every folder compared in full)."""
    if progress_file:
        os.makedirs(os.path.dirname(progress_file), mode=0o750, exist_ok=True)
    progress = Progress(progress_file)
    for job in jobs:
        progress(job["address"], "queued (from %s)" % job["source"]["host"])
    for job in jobs:  # the trust stores, loaded once here rather than once per mailbox in the workers
        for side in (job["source"], job["destination"]):
            if side.get("tls", True):
                tls_context(side.get("verify", True), side.get("ca_file"))
    args = [(job, check_mode, progress_file, batch_messages, batch_bytes, state_dir) for job in jobs]
    if len(jobs) <= 1 or parallel <= 1:
        reports = [_one_mailbox(*a) for a in args]
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(parallel, len(jobs)), mp_context=context) as pool:
            reports = list(pool.map(_one_mailbox, *zip(*args)))
    lines = progress.lines + [line for rep in reports for line in rep.pop("progress", [])]
    return reports, lines


def report_lines(reports):
    """The human report: one block per mailbox."""
    lines = []
    for rep in reports:
        lines.append("%s %s (%s): %d folders, %d copied, %d already there, %d failed, %s, %.1f s" % (
            "FAILED" if rep["status"] == "failed" else "ok", rep["address"], rep.get("client") or "-",
            len(rep["folders"]), rep["copied"], rep["already"], rep["failed"], human_bytes(rep["bytes"]), rep["seconds"]))
        if rep.get("error"):
            lines.append("  error: %s" % rep["error"])
        lines.append("  %s" % rep["verification"])
        if rep.get("unchanged_folders"):
            lines.append("  %d of the %d folders unchanged on both servers since the last verified run (their counts"
                         " are that run's)" % (rep["unchanged_folders"], len(rep["folders"])))
        for folder in rep["folders"]:
            if folder.get("unchanged"):
                lines.append("  %s -> %s: %d messages, %d already there, unchanged on both servers since the last"
                             " verified run" % (folder["source"], folder["destination"], folder["messages"],
                                                folder["already"]))
                continue
            lines.append("  %s -> %s: %d messages, %d copied, %d already there, %d failed, %s%s" % (
                folder["source"], folder["destination"], folder["messages"], folder["copied"], folder["already"],
                folder["failed"], human_bytes(folder["bytes"]),
                (", %d flags updated" % folder["flags_updated"]) if folder["flags_updated"] else ""))
        if rep["refused_keywords"]:
            lines.append("  keywords the destination refused: %s" % ", ".join(rep["refused_keywords"]))
        for miss in rep["missing"]:
            lines.append("  missing: %s uid %s (%s)" % (miss["folder"], miss["uid"], human_bytes(miss["size"])))
    return lines


def report_changes(reports):
    """One change (kind mailbox_content) per mailbox where something was, or would be, copied, flagged, created or
    deleted, for the plan and the report."""
    changes = []
    for rep in reports:
        detail = []
        if rep["created_folders"]:
            detail.append("+ folders %s" % ", ".join(rep["created_folders"]))
        if rep["copied"]:
            detail.append("%d messages copied (%s)" % (rep["copied"], human_bytes(rep["bytes"])))
        if rep["flags_updated"]:
            detail.append("flags of %d messages updated" % rep["flags_updated"])
        if rep["deleted"]:
            detail.append("- %d messages not on the source" % rep["deleted"])
        if rep["subscribed"]:
            detail.append("subscribed %s" % ", ".join(rep["subscribed"]))
        if detail:
            changes.append({"action": "migrate", "kind": "mailbox_content", "id": rep["address"],
                            "client": rep.get("client") or "", "detail": detail})
    return changes
