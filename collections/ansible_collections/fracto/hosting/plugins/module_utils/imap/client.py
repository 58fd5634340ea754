# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small IMAP client on Python's imaplib (the mail host has no third-party IMAP library: Debian 12 does not package
imapclient), with what the migration needs and imaplib lacks: modified UTF-7 folder names, SASL PLAIN with an
authorization identity (master users), parsed LIST/LSUB/NAMESPACE/FETCH responses, and MULTIAPPEND (RFC 3502) sent
with non-synchronizing literals when the server advertises LITERAL+ (RFC 7888), else with synchronizing ones.

The parsers are pure functions (unit-tested without a server); IMAP is the thin wrapper around imaplib.IMAP4_SSL.
"""

from __future__ import annotations

import base64
import imaplib
import re
import socket
import ssl

# --------------------------------------------------------------------------- modified UTF-7 (RFC 3501, 5.1.3)


def utf7_encode(name):
    """A Unicode folder name in IMAP's modified UTF-7."""
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            del pending[:]

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def utf7_decode(name):
    """A modified UTF-7 folder name as Unicode."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")

    def one(match):
        text = match.group(1)
        if not text:
            return "&"
        text = text.replace(",", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4)).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", one, name)


def quote(text):
    """An IMAP quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_arg(name):
    return quote(utf7_encode(name))


def uid_set(uids):
    """'1:5,8,10:12' from [1, 2, 3, 4, 5, 8, 10, 11, 12]."""
    runs = []
    for uid in sorted(set(int(u) for u in uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else "%s:%s" % (a, b) for a, b in runs)


# --------------------------------------------------------------------------- response parsers

_STRING = r'"(?:\\.|[^"\\])*"'
LIST_RE = re.compile(r'^\((?P<flags>[^)]*)\) (?P<sep>NIL|' + _STRING + r') (?P<name>.*)$', re.S)


def _unquote(text):
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_list(data):
    """[(flags tuple, separator or None, Unicode name)] from imaplib's LIST/LSUB data (names may come as literals)."""
    out = []
    for item in data or ():
        if item is None:
            continue
        if isinstance(item, tuple):
            head, name = item[0].decode("utf-8", "replace"), item[1].decode("utf-8", "replace")
            match = LIST_RE.match(head.rsplit(" {", 1)[0] + ' ""')
            if not match:
                continue
        else:
            match = LIST_RE.match(item.decode("utf-8", "replace"))
            if not match:
                continue
            name = _unquote(match.group("name"))
        sep = None if match.group("sep") == "NIL" else _unquote(match.group("sep"))
        flags = tuple(match.group("flags").split())
        out.append((flags, sep, utf7_decode(name)))
    return out


def parse_namespace(data):
    """(prefix, separator) of the first personal namespace, or None."""
    text = b" ".join(d for d in data or () if isinstance(d, bytes)).decode("utf-8", "replace")
    match = re.match(r'^\(\((' + _STRING + r') (NIL|' + _STRING + r')\)', text)
    if not match:
        return None
    return utf7_decode(_unquote(match.group(1))), (None if match.group(2) == "NIL" else _unquote(match.group(2)))


_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_UID_RE = re.compile(rb"UID (\d+)")
_SIZE_RE = re.compile(rb"RFC822\.SIZE (\d+)")
_DATE_RE = re.compile(rb'INTERNALDATE ("[^"]*")')


def parse_fetch(data):
    """{uid: {"flags": tuple of str, "size": int, "internaldate": '"dd-Mon-yyyy hh:mm:ss +zzzz"', "literal": bytes}}
    from imaplib's FETCH data (one literal per message at most: the header fields or the body)."""
    out, current = {}, None
    for item in data or ():
        if isinstance(item, tuple):
            meta, literal = item[0], item[1]
            current = {"meta": meta, "literal": literal}
            _store(out, current)
        elif isinstance(item, bytes):
            if current is not None and not re.match(rb"^\d+ \(", item):
                current["meta"] += b" " + item  # what came after the literal: ")" or " FLAGS (...))"
                _store(out, current)
                current = None
            else:
                current = None
                _store(out, {"meta": item, "literal": None})
    return {uid: {k: v for k, v in msg.items() if k != "meta"} for uid, msg in out.items()}


def _store(out, entry):
    meta = entry["meta"]
    uid = _UID_RE.search(meta)
    if not uid:
        return
    msg = out.setdefault(int(uid.group(1)), {"flags": (), "size": 0, "internaldate": None, "literal": None, "meta": b""})
    flags = _FLAGS_RE.search(meta)
    if flags:
        msg["flags"] = tuple(f.decode("utf-8", "replace") for f in flags.group(1).split())
    size = _SIZE_RE.search(meta)
    if size:
        msg["size"] = int(size.group(1))
    date = _DATE_RE.search(meta)
    if date:
        msg["internaldate"] = date.group(1).decode("ascii")
    if entry.get("literal") is not None:
        msg["literal"] = entry["literal"]


_STATUS_RE = re.compile(r'^(?P<name>' + _STRING + r'|\S+)? ?\((?P<items>[^)]*)\)\s*$', re.S)


def parse_status(data):
    """{ITEM: int} from imaplib's STATUS data (the mailbox name first, quoted, an atom or a literal)."""
    text = ""
    for item in data or ():
        if isinstance(item, tuple):
            text = ""  # the name came as a literal: the items follow
        elif isinstance(item, bytes):
            text += item.decode("utf-8", "replace")
    match = _STATUS_RE.match(text.strip()) or re.search(r"\((?P<items>[^()]*)\)\s*$", text)
    if not match:
        return {}
    words = match.group("items").split()
    out = {}
    for key, value in zip(words[0::2], words[1::2]):
        if value.isdigit():
            out[key.upper()] = int(value)
    return out


def flag_list(flags):
    return "(" + " ".join(flags) + ")"


# --------------------------------------------------------------------------- the client


class IMAPError(Exception):
    """A command the server refused, or a connection that broke."""


_TLS_CONTEXTS = {}


def tls_context(verify=True, ca_file=None):
    """One client context per trust setting and process (loading the system's trust store costs about 20 ms);
    built before the workers fork, it is theirs too."""
    key = (bool(verify), ca_file or None)
    if key not in _TLS_CONTEXTS:
        if verify:
            context = ssl.create_default_context(cafile=ca_file or None)
        else:  # the loopback only (the module enforces it): no trust store to load
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        _TLS_CONTEXTS[key] = context
    return _TLS_CONTEXTS[key]


def _no_delay(imap):
    """imaplib sends a literal and the CRLF after it in two writes: with Nagle's algorithm the second waits for the
    server's delayed ACK (40 ms) on every AUTHENTICATE and APPEND."""
    try:
        imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket


# The largest literal (a message, a header block) read from a server: an old server is content only, and imaplib would
# otherwise allocate whatever size it announces (a hostile one could exhaust a shared mail host's memory).
MAX_LITERAL = 256 * 1024 * 1024


class _Bounded:
    """imaplib reads a literal with read(size), size as the server announced it: refuse sizes past MAX_LITERAL."""

    def read(self, size):
        if size > MAX_LITERAL:
            raise imaplib.IMAP4.abort("the server announced a literal of %d bytes (the limit is %d)" % (size, MAX_LITERAL))
        return super().read(size)


class _BoundedIMAP4(_Bounded, imaplib.IMAP4):
    pass


class _BoundedIMAP4SSL(_Bounded, imaplib.IMAP4_SSL):
    pass


class IMAP:
    """imaplib.IMAP4_SSL with the commands of the migration; every failure is an IMAPError."""

    def __init__(self, host, port=993, verify=True, ca_file=None, timeout=120, tls=True):
        if not tls:  # the loopback only (the module enforces it): Dovecot counts it as secured
            try:
                self.imap = _BoundedIMAP4(host, port, timeout=timeout)
            except (OSError, imaplib.IMAP4.error) as exc:
                raise IMAPError("cannot connect to %s:%s: %s" % (host, port, exc)) from exc
            _no_delay(self.imap)
            self.caps = set()
            self.selected_status = None
            return
        try:
            self.imap = _BoundedIMAP4SSL(host, port, ssl_context=tls_context(verify, ca_file), timeout=timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise IMAPError("cannot connect to %s:%s: %s" % (host, port, exc)) from exc
        _no_delay(self.imap)
        self.caps = set()
        self.selected_status = None

    def _check(self, what, result):
        typ, data = result
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace") if data else ""
            raise IMAPError("%s: %s %s" % (what, typ, text))
        return data

    def _call(self, what, func, *args):
        try:
            return self._check(what, func(*args))
        except (imaplib.IMAP4.error, OSError) as exc:
            raise IMAPError("%s: %s" % (what, exc)) from exc

    def login(self, user, password, master_user=None):
        if master_user:
            # SASL PLAIN with an authorization identity (RFC 4616): Dovecot's master users, and other servers' admins.
            token = ("%s\0%s\0%s" % (user, master_user, password)).encode("utf-8")
            self._call("login", self.imap.authenticate, "PLAIN", lambda _challenge: token)
        else:
            self._call("login", self.imap.login, user, password)
        data = self._call("capability", self.imap.capability)
        self.caps = set(data[0].decode("ascii", "replace").upper().split()) if data and data[0] else set()

    def has(self, capability):
        return capability.upper() in self.caps

    def folders(self):
        return parse_list(self._call("list", self.imap.list, '""', '"*"'))

    def subscribed(self):
        return {name for _flags, _sep, name in parse_list(self._call("lsub", self.imap.lsub, '""', '"*"'))}

    def namespace(self):
        if not self.has("NAMESPACE"):
            return None
        return parse_namespace(self._call("namespace", self.imap.namespace))

    def select(self, name, readonly=False):
        """(number of messages, permanent flags); the selected mailbox's UIDVALIDITY, UIDNEXT, MESSAGES and (once
        CONDSTORE is enabled) HIGHESTMODSEQ from the same response are kept in self.selected_status."""
        self.selected_status = None
        data = self._call("select %s" % name, self.imap.select, mailbox_arg(name), readonly)
        permanent = ()
        typ, perm = self.imap.response("PERMANENTFLAGS")
        if perm and perm[0]:
            permanent = tuple(perm[0].decode("utf-8", "replace").strip("()").split())
        status = {"MESSAGES": int(data[0] or 0)}
        for code in ("UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"):
            _typ, values = self.imap.response(code)
            if values and values[-1]:
                try:
                    status[code] = int(values[-1].split()[0])
                except (ValueError, IndexError):
                    pass
        self.selected_status = status
        return int(data[0] or 0), permanent

    def enable_condstore(self):
        """ENABLE CONDSTORE (RFC 5161, RFC 7162): SELECT/EXAMINE then report HIGHESTMODSEQ. True when enabled."""
        if not (self.has("CONDSTORE") and self.has("ENABLE")):
            return False
        try:
            self._call("enable", self.imap.xatom, "ENABLE", "CONDSTORE")
        except IMAPError:
            return False
        return True

    def statuses(self, names, items=("UIDVALIDITY", "UIDNEXT", "MESSAGES", "HIGHESTMODSEQ")):
        """{name: {ITEM: int}} by STATUS, the commands pipelined (all sent, then the answers read in order); a
        mailbox the server refuses gets {}."""
        imap, out, tags = self.imap, {}, []
        what = "(" + " ".join(items) + ")"
        try:
            for name in names:
                tags.append((name, imap._command("STATUS", mailbox_arg(name), what)))  # pylint: disable=protected-access
            for name, tag in tags:
                try:
                    typ, data = imap._command_complete("STATUS", tag)  # pylint: disable=protected-access
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:  # BAD: this mailbox only, the next answers are still read
                    imap.untagged_responses.pop("STATUS", None)
                    out[name] = {}
                    continue
                # The server answers in order: the untagged STATUS read so far are this command's.
                _typ, found = imap._untagged_response(typ, data, "STATUS")  # pylint: disable=protected-access
                out[name] = parse_status(found) if typ == "OK" else {}
        except (imaplib.IMAP4.error, OSError) as exc:
            raise IMAPError("status: %s" % exc) from exc
        return out

    def fetch(self, uids, items):
        return parse_fetch(self._call("fetch", self.imap.uid, "FETCH", uids if isinstance(uids, str) else uid_set(uids), items))

    def create(self, name):
        self._call("create %s" % name, self.imap.create, mailbox_arg(name))

    def subscribe(self, name):
        self._call("subscribe %s" % name, self.imap.subscribe, mailbox_arg(name))

    def store_flags(self, uids, flags):
        self._call("store", self.imap.uid, "STORE", uid_set(uids), "FLAGS.SILENT", flag_list(flags))

    def add_flags(self, uids, flags):
        self._call("store", self.imap.uid, "STORE", uid_set(uids), "+FLAGS.SILENT", flag_list(flags))

    def uid_expunge(self, uids):
        self._call("expunge", self.imap.uid, "EXPUNGE", uid_set(uids))

    def append(self, name, msgs):
        """Append [(body bytes, flags, internaldate string)] in one command (MULTIAPPEND) or one each."""
        if len(msgs) > 1 and self.has("MULTIAPPEND"):
            return self._multiappend(name, msgs)
        for body, flags, date in msgs:
            self._call("append %s" % name, self.imap.append, mailbox_arg(name), flag_list(flags), date, body)
        return None

    def _multiappend(self, name, msgs):
        imap, plus = self.imap, self.has("LITERAL+")
        try:
            tag = imap._new_tag()  # pylint: disable=protected-access  # imaplib has no MULTIAPPEND
            head = tag + b" APPEND " + mailbox_arg(name).encode("ascii")
            for body, flags, date in msgs:
                head += b" " + flag_list(flags).encode("utf-8") + b" " + date.encode("ascii")
                head += b" {%d%s}\r\n" % (len(body), b"+" if plus else b"")
                imap.send(head)
                if not plus:
                    while imap._get_response():  # pylint: disable=protected-access  # until the continuation
                        if imap.tagged_commands[tag]:
                            break
                    if imap.tagged_commands[tag]:
                        break
                imap.send(body)
                head = b""
            else:
                imap.send(b"\r\n")
            typ, data = imap._command_complete("APPEND", tag)  # pylint: disable=protected-access
        except (imaplib.IMAP4.error, OSError) as exc:
            raise IMAPError("append %s: %s" % (name, exc)) from exc
        return self._check("append %s" % name, (typ, data))

    def logout(self):
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
