# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's mail: its mailboxes and aliases, and the names it reaches mail and webmail at (by branding).

MailChecks is one of the parts StateValidator (model.py) is made of.
"""

from __future__ import annotations

import re

from ansible_collections.fracto.hosting.plugins.module_utils.mail import mta_sts
from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import StatePath, check_mapping
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import MIN_PASSWORD
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import client_names, mail_domains, mail_host_fqdn

QUOTA = re.compile(r"([1-9][0-9]{0,14})([KMGT]?)")
QUOTA_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
MAX_NAME = 253  # a DNS name, dots included


def parse_quota(text):
    match = QUOTA.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    return int(match.group(1)) * QUOTA_UNITS[match.group(2)]


class MailChecks:
    """mailboxes:, mail_aliases: and the client's mail and webmail names."""

    def mailboxes(self, path, client, raw):
        client["mailboxes"], client["mail_aliases"] = [], []
        boxes, aliases = raw.get("mailboxes", {}), raw.get("mail_aliases", {})
        mail_domains = set(client_names(client, aliases=False))
        if (boxes or aliases) and not client["features"]["mail"]:
            self.problems.error(path / ("mailboxes" if boxes else "mail_aliases"),
                                "package %r has no mail (mail: false)" % client["package"])
            return
        addresses = set()
        if boxes is None or check_mapping(self.problems, path / "mailboxes", boxes, boxes if isinstance(boxes, dict) else ()):
            for key, spec in (boxes or {}).items():
                box = self.mailbox(path / "mailboxes" / key, key, spec, mail_domains, addresses)
                if box is not None:
                    addresses.add(box["address"])
                    client["mailboxes"].append(box)
        if aliases is None or check_mapping(self.problems, path / "mail_aliases", aliases, aliases if isinstance(aliases, dict) else ()):
            for key, targets in (aliases or {}).items():
                alias = self.mail_alias(path / "mail_aliases" / key, key, targets, mail_domains, addresses)
                if alias is not None:
                    addresses.add(alias["address"])
                    client["mail_aliases"].append(alias)

    def mailbox(self, bpath, key, spec, mail_domains, addresses):
        """One mailbox of mailboxes: (None when it is not one); addresses: those already taken."""
        address = self.mail_address(bpath, key, mail_domains)
        spec = {} if spec is None else spec
        if address is None or not check_mapping(self.problems, bpath, spec, ("password", "password_hash", "quota")):
            return None
        if address in addresses:
            self.problems.error(bpath, "mailbox %s is listed twice" % address)
            return None
        box = {"address": address, "domain": address.split("@")[1], "quota": None,
               "password": None, "password_hash": None}
        # A broken password or quota is reported, but the mailbox still exists (aliases and
        # migration may name it); the model is not used while there are errors.
        self.mailbox_password(bpath, spec, box)
        if "quota" in spec:
            quota = parse_quota(spec["quota"])
            if quota is None:
                self.problems.error(bpath / "quota", "must be a size such as 500M, 2G or 1T (a positive integer, then K, M, G or T)")
            box["quota"] = quota
        return box

    def mailbox_password(self, bpath, spec, box):
        """Exactly one of password and password_hash, into box when it is valid."""
        if ("password" in spec) == ("password_hash" in spec):
            self.problems.error(bpath, "give exactly one of password (from the vault) or password_hash")
        elif "password" in spec:
            secret = spec["password"]
            if not isinstance(secret, str) or len(secret) < MIN_PASSWORD:
                self.problems.error(bpath / "password", "must be a string of at least %d characters" % MIN_PASSWORD)
            else:
                box["password"] = secret
        else:
            hashed = spec["password_hash"]
            rule = rules.password_hash_problem(hashed)
            if rule:  # written into Dovecot's passwd-file: a ':' or a newline would add fields or logins
                self.problems.error(bpath / "password_hash", rule)
            else:
                box["password_hash"] = hashed

    def mail_alias(self, apath, key, targets, mail_domains, addresses):
        """One alias of mail_aliases: (None when it is not one); addresses: the mailboxes and aliases already taken."""
        address = self.mail_address(apath, key, mail_domains)
        if address is None:
            return None
        if address in addresses:
            self.problems.error(apath, "%s is already a mailbox or an alias" % address)
            return None
        if not isinstance(targets, list) or not targets:
            self.problems.error(apath, "must be a non-empty list of destination addresses")
            return None
        resolved = [self.address(apath / i, t) for i, t in enumerate(targets)]
        if None in resolved:
            return None
        return {"address": address, "targets": resolved}

    def mail_names(self, path, client):
        """Names under which the client reaches mail and webmail, by branding."""
        feats = client["features"]
        client["mail_names"], client["webmail_names"] = [], []
        if not feats["mail"]:
            if feats["webmail"]:
                self.problems.error(path / "package", "webmail needs mail (package %r has mail: false)" % client["package"])
            return
        if not client["mail_host"]:  # already reported at mail_host
            return
        branding = feats["mail_branding"]
        if branding == "generic":
            base = [mail_host_fqdn(client["mail_host"], self.model["platform"].get("domain"))]
        elif branding == "reseller":
            base = [self.model["reseller"].get("brand_domain")]
        else:
            base = [d["name"] for d in client["domains"]]
        base = [b for b in base if b]
        if branding == "generic":
            client["mail_names"] = base
            client["webmail_names"] = ["webmail." + b for b in base] if feats["webmail"] else []
        else:
            client["mail_names"] = ["mail." + b for b in base]
            client["webmail_names"] = ["webmail." + b for b in base] if feats["webmail"] else []

    def mail_name_conflicts(self):
        """A mail or webmail name of any client cannot also be a site name (checked once all are claimed)."""
        reported = set()
        for client in self.model["clients"].values():
            for name in client["mail_names"] + client["webmail_names"]:
                owner = self.name_owner.get(name)
                if owner is not None and name not in reported:
                    reported.add(name)
                    self.problems.error(owner[1], "%s is a mail name of client %s (mail_branding: %s) and cannot also be a site"
                                        % (name, client["id"], client["features"]["mail_branding"]))
            if not client["mail_names"]:
                continue
            for domain in mail_domains(client):  # the MTA-STS and autoconfiguration names point at the mail host
                if any(len(name) > MAX_NAME for name in mta_sts.names_of(domain)):
                    self.problems.error(StatePath(client["path"]) / "domains", "mail domain %s is too long for its mail host's"
                                        " names (autodiscover.<domain> must be a DNS name of at most %d characters)"
                                        % (domain, MAX_NAME))
                for name in mta_sts.names_of(domain):
                    owner = self.name_owner.get(name)
                    if owner is not None and name not in reported:
                        reported.add(name)
                        self.problems.error(owner[1], "%s serves the MTA-STS policy and mail client autoconfiguration of"
                                            " mail domain %s (client %s) from its mail host and cannot also be a site"
                                            % (name, domain, client["id"]))
