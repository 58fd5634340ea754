# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DKIM keys of a mail host: one key per mail domain and algorithm, made on the host, never leaving it (docs/mail.md).

rspamd signs (its dkim_signing module, a Postfix milter); this module decides which keys exist and which one signs:

- the index (INDEX, public data only) lists per domain its keys: selector, algorithm, the day it was made, its state
  and its public key. States: ``active`` (signs, published), ``next`` (published, not signing yet: step 1 of a
  rotation), ``retired`` (published, no longer signing: mail signed with it may still be verified), ``removed``
  (neither; kept in the index so that its selector is never given to another key);
- a key's private half is the file ``<KEY_DIR>/<domain>.<selector>.key`` (mode 0640 root:_rspamd), written once and
  never made again: a domain that has an active key of an algorithm keeps it on every run;
- a selector says when its key was made: ``fr<year><letter>`` for RSA, with ``-ed25519`` for Ed25519
  (fr2026a, fr2026a-ed25519; a second key of the same year fr2026b);
- rotation (playbooks/dkim_rotate.yml): ``publish`` makes a ``next`` key per active one, ``switch`` (once the next
  key is old enough to be in the DNS) makes it ``active`` and the former one ``retired``, ``retire`` makes the
  retired keys ``removed`` (their TXT records are no longer listed; the private key files stay, docs/mail.md).

Pure functions on plain data, except generate() (random keys, python3-cryptography on the host).
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import string

from ansible_collections.fracto.hosting.plugins.module_utils.mail import safe

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # the role installs python3-cryptography; the module says so
    HAS_CRYPTOGRAPHY = False

DKIM_DIR = "/etc/fracto/dkim"
KEY_DIR = DKIM_DIR + "/keys"
INDEX = DKIM_DIR + "/index.json"
RSPAMD_DKIM_CONF = "/etc/rspamd/local.d/dkim_signing.conf"
ALGORITHMS = ("rsa", "ed25519")
RSA_BITS = 2048
# The package feature mail_dkim_keys, whole values only (state/schema.py): which algorithms sign a client's mail.
KEY_SETS = {"rsa": ("rsa",), "rsa+ed25519": ("rsa", "ed25519")}
DEFAULT_KEY_SET = "rsa"
STATES = ("active", "next", "retired", "removed")
ROTATE_STEPS = ("none", "publish", "switch", "retire")
SELECTOR = re.compile(r"fr[0-9]{4}[a-z]{1,2}(?:-ed25519)?")
# A public key as the index holds it: base64 (an RSA 2048 SubjectPublicKeyInfo is 392 characters, Ed25519 44).
PUBLIC = re.compile(r"[A-Za-z0-9+/]{40,1400}={0,2}")


class DkimError(ValueError):
    """An index entry or key that cannot be used; str() names the domain and the rule."""


def selector_for(algorithm, day, taken):
    """The first free selector of day's year: fr2026a (RSA) or fr2026a-ed25519, fr2026b if that one is taken...

    taken: every selector the domain ever had (removed keys stay in the index: a selector never names two keys)."""
    suffix = "" if algorithm == "rsa" else "-" + algorithm
    letters = list(string.ascii_lowercase) + [a + b for a in string.ascii_lowercase for b in string.ascii_lowercase]
    for letter in letters:
        selector = "fr%04d%s%s" % (day.year, letter, suffix)
        if selector not in taken:
            return selector
    raise DkimError("no free selector left in %d" % day.year)


def txt_value(algorithm, public):
    """The TXT value published at <selector>._domainkey.<domain> (RFC 6376 3.6.1, RFC 8463 for ed25519)."""
    return "v=DKIM1; k=%s; p=%s" % (algorithm, public)


def key_path(domain, selector):
    """The private key's file, joined from checked values only."""
    safe.domain(domain, "dkim domain")
    safe.check(SELECTOR, selector, "dkim selector of %s" % domain, "must be a selector fr<year><letter>[-ed25519]")
    return "%s/%s.%s.key" % (KEY_DIR, domain, selector)


# --------------------------------------------------------------------------- keys

def generate(algorithm):
    """(private key file content, public key as base64): RSA 2048 as PKCS#8 PEM; Ed25519 as rspamd reads it, the
    base64 of the 32-byte seed followed by the 32-byte public key (libsodium's secret key)."""
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return private, base64.b64encode(public).decode("ascii")
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        raw = serialization.Encoding.Raw
        seed = key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        public = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        return base64.b64encode(seed + public) + b"\n", base64.b64encode(public).decode("ascii")
    raise DkimError("unknown DKIM algorithm %r" % algorithm)


def make_keys(index, make):
    """{path: private key} of the keys to make (plan()'s make); their public halves go into index (in place)."""
    keys = {}
    for domain, key in make:
        private, public = generate(key["algorithm"])
        keys[key_path(domain, key["selector"])] = private
        next(k for k in index[domain] if k["selector"] == key["selector"])["public"] = public
    return keys


def public_of(algorithm, private):
    """The public key (base64) of a private key file's content, as generate() wrote it."""
    if algorithm == "rsa":
        key = serialization.load_pem_private_key(private, password=None)
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode("ascii")
    return base64.b64encode(base64.b64decode(private.strip())[32:]).decode("ascii")


# --------------------------------------------------------------------------- the index

def parse_index(content):
    """{domain: [key]} of the index file ('' or None: no key yet); raises DkimError on an entry out of its rules."""
    data = json.loads(content) if content else {}
    if not isinstance(data, dict):
        raise DkimError("the DKIM index is not a mapping")
    for domain, keys in data.items():
        safe.domain(domain, "dkim index")
        for key in keys:
            key_path(domain, key.get("selector"))
            if key.get("algorithm") not in ALGORITHMS or key.get("state") not in STATES:
                raise DkimError("dkim index of %s: unknown algorithm or state in %r" % (domain, key.get("selector")))
            if key.get("public") is not None:
                safe.check(PUBLIC, key["public"], "dkim index of %s" % domain, "a public key must be base64", maxlen=1402)
    return data


def render_index(index):
    return json.dumps(index, indent=1, sort_keys=True) + "\n"


def _new_key(domain, algorithm, day, keys, state):
    selector = selector_for(algorithm, day, [k["selector"] for k in keys])
    return {"selector": selector, "algorithm": algorithm, "created": day.isoformat(), "state": state, "public": None}


def _change(action, domain, client, key, detail):
    return {"action": action, "kind": "dkim_key", "id": "%s._domainkey.%s" % (key["selector"], domain), "client": client,
            "detail": detail}


def plan(index, wanted, day, rotate="none", switch_after=7):
    """(new index, keys to make [(domain, key)], changes) for the domains of wanted {domain: (client, [algorithms])}.

    Domains not in wanted (another reseller's, or gone from the state) are left as they are. A new key has
    public None until the module made it (check mode never does). switch_after: days a next key must have been
    published before switch makes it active."""
    index = {d: [dict(k) for k in keys] for d, keys in index.items()}
    make, changes = [], []
    for domain in sorted(wanted):
        client, algorithms = wanted[domain]
        keys = index.setdefault(domain, [])
        for algorithm in algorithms:
            if not any(k["algorithm"] == algorithm and k["state"] in ("active", "next") for k in keys):
                key = _new_key(domain, algorithm, day, keys, "active")
                keys.append(key)
                make.append((domain, key))
                changes.append(_change("create", domain, client, key, ["%s key made on the mail host; publish its TXT record"
                                                                       % algorithm]))
        for key in keys:
            if key["state"] == "active" and key["algorithm"] not in algorithms:
                key["state"] = "retired"
                changes.append(_change("change", domain, client, key, ["no longer signs (the package dropped %s); "
                                                                       "still published" % key["algorithm"]]))
        changes += _rotate(domain, client, keys, make, day, rotate, switch_after)
    return index, make, changes


def _rotate(domain, client, keys, make, day, rotate, switch_after):
    """One step of a rotation for one domain's keys (changed in place); returns the change lines."""
    changes = []
    if rotate == "publish":
        # Not for a key made by this same run (a new domain): it is published for the first time anyway.
        for key in [k for k in keys if k["state"] == "active" and all(k is not new for _d, new in make)]:
            if not any(k["state"] == "next" and k["algorithm"] == key["algorithm"] for k in keys):
                new = _new_key(domain, key["algorithm"], day, keys, "next")
                keys.append(new)
                make.append((domain, new))
                changes.append(_change("create", domain, client, new, ["next %s key: publish its TXT record, then switch"
                                                                       % new["algorithm"]]))
    elif rotate == "switch":
        for new in [k for k in keys if k["state"] == "next"]:
            age = (day - datetime.date.fromisoformat(new["created"])).days
            if age < switch_after:
                changes.append(_change("keep", domain, client, new, ["published %d day(s) ago, switch after %d"
                                                                     % (age, switch_after)]))
                continue
            for old in keys:
                if old["state"] == "active" and old["algorithm"] == new["algorithm"]:
                    old["state"] = "retired"
                    changes.append(_change("change", domain, client, old, ["retired: no longer signs, still published"]))
            new["state"] = "active"
            changes.append(_change("change", domain, client, new, ["now signs"]))
    elif rotate == "retire":
        for old in [k for k in keys if k["state"] == "retired"]:
            old["state"] = "removed"
            changes.append(_change("remove", domain, client, old, ["TXT record no longer listed: remove it from the DNS"]))
    return changes


def signing(index, domains):
    """The rspamd dkim_signing context: [{domain, selectors: [{selector, path}]}] of the active keys of domains."""
    out = []
    for domain in sorted(domains):
        active = [k for k in index.get(domain, []) if k["state"] == "active"]
        if active:
            out.append({"domain": safe.domain(domain, "dkim domain"),
                        "selectors": [{"selector": k["selector"], "path": key_path(domain, k["selector"])}
                                      for k in sorted(active, key=lambda k: ALGORITHMS.index(k["algorithm"]))]})
    return out


def render_conf(index, domains, *, templates):
    """local.d/dkim_signing.conf from the rspamd_dkim template; domains: every mail domain of the host."""
    return templates.render("rspamd_dkim", {"mark": "managed by fracto.hosting mail_server", "domains": signing(index, domains)})


def published(index, domains_of):
    """The keys to publish, for the controller: [{domain, client, selector, algorithm, state, value}] of domains_of
    {domain: client} (a key not made yet, in check mode, has value None). Whitelisted values only (index entries as
    parse_index checks them, checked domains and client ids): none holds a '$', so none can hold a password hash."""
    out = []
    for domain in sorted(domains_of):
        for key in [k for k in index.get(domain, []) if k["state"] != "removed"]:
            out.append({"domain": domain, "client": domains_of[domain], "selector": key["selector"],
                        "algorithm": key["algorithm"], "state": key["state"],
                        "value": txt_value(key["algorithm"], key["public"]) if key.get("public") else None})
    return out


def wanted(domains):
    """{domain: (client, algorithms)} of mail_server's domains (each with its optional ``dkim``, the algorithms its
    package signs with: RSA alone by default); raises safe.UnsafeValue on an algorithm out of the list."""
    out = {}
    for entry in domains:
        algorithms = entry.get("dkim")
        algorithms = list(KEY_SETS[DEFAULT_KEY_SET]) if algorithms is None else algorithms
        field = "domains[%s].dkim" % entry["domain"]
        if not isinstance(algorithms, list) or any(a not in ALGORITHMS for a in algorithms):
            raise safe.UnsafeValue(field, "%s is refused: must be a list of %s" % (safe._shown(algorithms), ", ".join(ALGORITHMS)))
        out[entry["domain"]] = (entry["client"], [a for a in ALGORITHMS if a in algorithms])
    return out
