"""The generated mail corpus of molecule/migrate_mail (and of bench/mail_migrate), appended over IMAP.

Deterministic (a seed per user): several users; nested folders ("." is the old server's separator), a non-ASCII
folder name, special-use folders under other names; messages from 1 KB to 10 MB; random flags and keywords; some
without Message-ID; duplicates (the same message twice in a folder). Each message is appended with its
INTERNALDATE and flags; subscriptions are set. Seeding a user whose folders already hold the corpus does nothing.

  python corpus.py seed --host 198.51.100.24 --ca lab-ca.pem --master migrator \
      [--large] USER...          (the master password in $CORPUS_MASTER_PASSWORD)
"""

from __future__ import annotations

import argparse
import base64
import datetime
import os
import random
import ssl
import sys
from email.utils import format_datetime

# Folder names on the old server ("." separator); Antiguos goes to Archive through the state's folder_map (cliente1).
FOLDERS = ["Sent Messages", "Drafts", "Deleted Messages", "Spam", "Clientes", "Clientes.2024", "Clientes.2024.Marzo",
           "Facturación", "Antiguos"]
UNSUBSCRIBED = {"Facturación"}
FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft"]
KEYWORDS = ["$Forwarded", "$Label1", "Importante", "$Junk"]


def message(rng, user, index, size, with_id=True):
    """An RFC 5322 message of about size bytes (a base64 attachment makes up the size)."""
    date = datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=rng.choice([-5, 0, 1, 2])))) \
        + datetime.timedelta(seconds=rng.randrange(5 * 365 * 86400))
    subject = rng.choice(["Factura", "Pedido", "Reunión", "Re: presupuesto", "Hola", "Informe"]) + " %d" % index
    headers = ["From: Remitente %d <r%d@example.test>" % (index % 7, index % 7), "To: %s" % user,
               "Subject: %s" % subject.encode("ascii", "xmlcharrefreplace").decode(), "Date: %s" % format_datetime(date),
               "MIME-Version: 1.0"]
    if with_id:
        headers.append("Message-ID: <%s.%d.%d@corpus.test>" % (user.replace("@", "."), index, rng.randrange(10 ** 9)))
    text = "Mensaje %d para %s.\r\n" % (index, user)
    if size < 2048:
        body = headers + ["Content-Type: text/plain; charset=utf-8", "", text + "x" * max(0, size - 400)]
        return ("\r\n".join(body) + "\r\n").encode(), date
    raw = rng.getrandbits(8 * (size * 3 // 4)).to_bytes(size * 3 // 4, "little")
    b64 = base64.encodebytes(raw).decode().replace("\n", "\r\n")
    body = headers + ['Content-Type: multipart/mixed; boundary="b%d"' % index, "", "--b%d" % index,
                      "Content-Type: text/plain; charset=utf-8", "", text, "--b%d" % index,
                      "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64",
                      'Content-Disposition: attachment; filename="adjunto%d.bin"' % index, "", b64, "--b%d--" % index, ""]
    return "\r\n".join(body).encode(), date


def corpus(user, per_folder=6, large=True, seed=None):
    """{folder: [(bytes, flags, date)]} for one user (duplicates included, as separate entries)."""
    rng = random.Random(seed if seed is not None else user)
    out, index = {}, 0
    for folder in ["INBOX"] + FOLDERS:
        msgs = []
        count = per_folder * (3 if folder == "INBOX" else 1)
        for _ in range(count):
            index += 1
            roll = rng.random()
            size = 1024 + rng.randrange(20 * 1024) if roll < 0.85 else 100 * 1024 + rng.randrange(400 * 1024)
            body, date = message(rng, user, index, size, with_id=rng.random() > 0.15)
            flags = [f for f in FLAGS if rng.random() < 0.3] + [k for k in KEYWORDS if rng.random() < 0.15]
            msgs.append((body, flags, date))
            if rng.random() < 0.08:
                msgs.append((body, flags, date))  # a duplicate on the source
        out[folder] = msgs
    if large:
        body, date = message(rng, user, 9001, 10 * 1024 * 1024)
        out["INBOX"].insert(len(out["INBOX"]) // 2, (body, ["\\Seen"], date))
        body, date = message(rng, user, 9002, 3 * 1024 * 1024, with_id=False)
        out["Clientes.2024"].append((body, ["\\Flagged", "Importante"], date))
        body, date = message(rng, user, 9003, 900, with_id=False)
        out["Drafts"] += [(body, ["\\Draft"], date)] * 2  # a duplicate without Message-ID
    return out


def connect(host, ca, user, master, password):
    """Log in as user through the master user (the certificate names the server's address too)."""
    from imapclient import IMAPClient

    context = ssl.create_default_context(cafile=ca)
    client = IMAPClient(host, port=993, ssl=True, ssl_context=context, timeout=120)
    client.plain_login(master, password, authorization_identity=user)
    return client


def seed(client, user, per_folder, large):
    """Append the corpus of user unless its folders already hold it; True when something was appended."""
    data = corpus(user, per_folder, large)
    existing = {name for _flags, _sep, name in client.list_folders()}
    changed = False
    for folder, msgs in data.items():
        if folder not in existing:
            client.create_folder(folder)
        count = client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]
        if count == len(msgs):
            continue
        if count:
            raise SystemExit("%s %s holds %d messages, not the %d of the corpus: empty it first" % (user, folder, count, len(msgs)))
        for body, flags, date in msgs:
            client.append(folder, body, flags=flags, msg_time=date)
        changed = True
    subscribed = {name for _flags, _sep, name in client.list_sub_folders()}
    for folder in data:
        if folder not in UNSUBSCRIBED and folder not in subscribed:
            client.subscribe_folder(folder)
            changed = True
    return changed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["seed"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--master", required=True)
    parser.add_argument("--per-folder", type=int, default=6)
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument("users", nargs="+")
    args = parser.parse_args()
    password = os.environ["CORPUS_MASTER_PASSWORD"]
    changed = False
    for user in args.users:
        client = connect(args.host, args.ca, user, args.master, password)
        try:
            changed |= seed(client, user, args.per_folder, not args.no_large)
        finally:
            client.logout()
    print("seeded" if changed else "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
