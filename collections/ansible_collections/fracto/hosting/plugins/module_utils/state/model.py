# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the reseller state (docs/state.md) into a normalised model.

validate_state() takes the raw variables and the inventory, checks every key
and every rule, reports all problems at once and returns the normalised model
that resolve.py turns into per-host desired state. No value of a secret field
(passwords, keys) ever reaches a message.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.fracto.hosting.plugins.module_utils.secrets import redact_url
from ansible_collections.fracto.hosting.plugins.module_utils.state import certs, rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import (
    Problems,
    StatePath,
    check_mapping,
    type_name,
    want_bool,
    want_choice,
    want_list,
    want_str,
)
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import (
    SLUG,
    InvalidName,
    covered_by,
    is_under,
    normalize_address,
    normalize_name,
    normalize_relative,
)

WEB_GROUP = "fracto_web"
MAIL_GROUP = "fracto_mail"
LEGACY_GROUP = "fracto_legacy"     # the old platform: the only hosts a migration may read from
CLIENT_SOURCES = re.compile(r"fracto_clients(__[A-Za-z0-9_]+)?")
STATE_VARIABLES = ("fracto_platform", "fracto_ip_pool", "fracto_reseller", "fracto_packages")

FEATURES = {
    # key: (default, allowed values or bool)
    "gdpr": (False, bool),
    "autossl": (False, bool),
    "https_redirect": (False, bool),
    "hsts": (False, bool),
    "mail": (False, bool),
    "mail_branding": ("generic", ("generic", "reseller", "client")),
    "webmail": (False, bool),
    "backup": ("none", ("none", "reseller", "client")),
    "dedicated_ip": (False, bool),
}
PLATFORM_DEFAULTS = {"domain": None, "php_versions": ["8.2"], "acme_directory": "https://acme-v02.api.letsencrypt.org/directory"}
QUOTA = re.compile(r"([1-9][0-9]{0,14})([KMGT]?)")
QUOTA_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
MIN_PASSWORD = 10
MAX_KEEP = 100000


def merge_client_sources(variables, problems):
    """Merge fracto_clients and every fracto_clients__<part> variable; one id twice is an error."""
    merged, origin = {}, {}
    for var in sorted(v for v in variables if CLIENT_SOURCES.fullmatch(v)):
        value = variables[var]
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.error(StatePath(var), "must be a mapping of client id to client, got %s" % type_name(value))
            continue
        for cid, client in value.items():
            if cid in merged:
                problems.error(StatePath(var) / cid, "duplicate client id: also defined in %s" % origin[cid])
                continue
            merged[cid], origin[cid] = client, var
    return merged, origin


def parse_quota(text):
    match = QUOTA.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    return int(match.group(1)) * QUOTA_UNITS[match.group(2)]


def repository_host(repository):
    """The host of a valid restic repository string (lowercase), None for a backend without one or an invalid one."""
    parts, _rule = rules.parse_repository(repository, placeholder=True)
    return parts["host"].lower() if parts and "host" in parts else None


def state_variables(variables):
    """The names of the state variables present, in the order they are checked."""
    names = [v for v in STATE_VARIABLES if v in variables]
    return names + sorted(v for v in variables if CLIENT_SOURCES.fullmatch(v))


def pem_field(keys):
    """True for fracto_clients*.<id>.certificates[<i>].cert/chain/key: PEM text, where newlines belong."""
    return (len(keys) == 5 and CLIENT_SOURCES.fullmatch(str(keys[0])) is not None and keys[2] == "certificates"
            and isinstance(keys[3], int) and keys[4] in rules.PEM_FIELDS)


class StateValidator:
    """Checks the raw variables and builds the normalised model."""

    def __init__(self, variables, inventory):
        self.vars = variables
        self.hosts = set(inventory.get("hosts", ()))
        self.groups = {k: set(v) for k, v in inventory.get("groups", {}).items()}
        self.problems = Problems()
        self.model = {"platform": {}, "pool": {}, "reseller": {}, "packages": {}, "clients": {}}
        self.name_owner = {}      # name -> (client id, path)
        self.domain_owner = {}    # registrable client domain -> client id
        self.db_owner = {}        # ("name" | "user", value) -> (client id, path): unique across the reseller
        self.db_prefixes = {}     # client id -> its database prefix
        self.cert_ids = {}        # "<client>-<certificate name>" (its files on the web host) -> path

    # -- every string ---------------------------------------------------------------------------
    def controls(self):
        """No control character in any key or string of the state (PEM fields may hold newlines)."""
        for var in state_variables(self.vars):
            self.walk(StatePath(var), (var,), self.vars[var])

    def walk(self, path, keys, value):
        if isinstance(value, dict):
            for key, item in value.items():
                if rules.control_char(key):
                    self.problems.error(path / key, "the key " + rules.CONTROL_RULE)
                self.walk(path / key, keys + (key,), item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self.walk(path / i, keys + (i,), item)
        elif isinstance(value, str) and rules.control_char(value.replace("\n", "") if pem_field(keys) else value):
            self.problems.error(path, rules.CONTROL_RULE)

    # -- platform, pool, reseller, packages -------------------------------------------
    def platform(self):
        raw = self.vars.get("fracto_platform")
        path = StatePath("fracto_platform")
        platform = dict(PLATFORM_DEFAULTS)
        if not check_mapping(self.problems, path, raw, PLATFORM_DEFAULTS, required=("domain",)):
            self.model["platform"] = platform
            return
        if "domain" in raw:
            platform["domain"] = self.name(path / "domain", raw["domain"])
        versions = raw.get("php_versions", platform["php_versions"])
        if want_list(self.problems, path / "php_versions", versions):
            for i, version in enumerate(versions):
                want_str(self.problems, path / "php_versions" / i, version, rules.PHP_VERSION,
                         'must be a quoted version such as "8.2"')
            platform["php_versions"] = [str(v) for v in versions]
        directory = raw.get("acme_directory", platform["acme_directory"])
        if want_str(self.problems, path / "acme_directory", directory, rules.ACME_URL,
                    "must be the https:// URL of an ACME directory (https://host[:port]/path)"):
            platform["acme_directory"] = directory
        self.model["platform"] = platform

    def ip_pool(self):
        raw = self.vars.get("fracto_ip_pool", {})
        path = StatePath("fracto_ip_pool")
        if not isinstance(raw, dict):
            self.problems.error(path, "must be a mapping of IPv4 address to {reseller, host}, got %s" % type_name(raw))
            return
        for key, entry in raw.items():
            ip = self.ipv4(path / key, key)
            entry = {} if entry is None else entry
            if ip is None or not check_mapping(self.problems, path / key, entry, ("reseller", "host", "helo")):
                continue
            reseller, host = entry.get("reseller"), entry.get("host")
            if reseller is not None:
                want_str(self.problems, path / key / "reseller", reseller, SLUG, "must be a reseller slug [a-z0-9][a-z0-9-]*")
                if host is None:
                    self.problems.error(path / key / "host", "an address allocated to a reseller needs the host that carries it")
            if host is not None:
                want_str(self.problems, path / key / "host", host)
            helo = None
            if entry.get("helo") is not None:  # the name the address's PTR record already gives, where it is not ours
                helo = self.name(path / key / "helo", entry["helo"])
            if ip in self.model["pool"]:
                self.problems.error(path / key, "address listed twice (%s)" % ip)
            self.model["pool"][ip] = {"reseller": reseller, "host": host, "helo": helo}

    def reseller(self):
        raw = self.vars.get("fracto_reseller")
        path = StatePath("fracto_reseller")
        allowed = ("name", "brand_domain", "contact_email", "dedicated_ips", "backup")
        if not check_mapping(self.problems, path, raw, allowed, required=("name", "brand_domain", "contact_email")):
            return
        model = self.model["reseller"]
        if "name" in raw:
            rule = rules.reseller_name_problem(raw["name"])
            if rule:
                self.problems.error(path / "name", rule)
            else:
                model["name"] = raw["name"]
        if "brand_domain" in raw:
            model["brand_domain"] = self.tenant_name(path / "brand_domain", raw["brand_domain"])
        if "contact_email" in raw:
            model["contact_email"] = self.address(path / "contact_email", raw["contact_email"])
        model["dedicated_ips"] = []
        ips = raw.get("dedicated_ips", [])
        if want_list(self.problems, path / "dedicated_ips", ips):
            for i, item in enumerate(ips):
                ip = self.ipv4(path / "dedicated_ips" / i, item)
                if ip is None:
                    continue
                self.pool_allocated(path / "dedicated_ips" / i, ip)
                model["dedicated_ips"].append(ip)
        if "backup" in raw:
            model["backup"] = self.backup_target(path / "backup", raw["backup"], per_client=True)

    def packages(self):
        raw = self.vars.get("fracto_packages")
        path = StatePath("fracto_packages")
        if not isinstance(raw, dict) or not raw:
            self.problems.error(path, "must be a non-empty mapping of package name to features, got %s" % type_name(raw))
            return
        for name, spec in raw.items():
            if not isinstance(name, str) or not SLUG.fullmatch(name) or len(name) > 64:
                self.problems.error(path / name, "package names are slugs of at most 64: [a-z0-9][a-z0-9-]*")
            features = self.features(path / name, spec if spec is not None else {})
            if features is not None:
                self.model["packages"][name] = features

    def features(self, path, spec):
        if not check_mapping(self.problems, path, spec, FEATURES):
            return None
        features = {}
        for key, (default, kind) in FEATURES.items():
            value = spec.get(key, default)
            if kind is bool:
                want_bool(self.problems, path / key, value)
            else:
                want_choice(self.problems, path / key, value, kind)
            features[key] = value
        return features

    # -- clients ------------------------------------------------------------------------
    def clients(self):
        merged, origin = merge_client_sources(self.vars, self.problems)
        if not merged:
            self.problems.warn(StatePath("fracto_clients"), "no client defined")
        # First pass: claim every domain, so that a name under another client's domain is caught
        # whatever the order of the clients.
        for cid in sorted(merged, key=str):
            client = merged[cid]
            if isinstance(client, dict) and isinstance(client.get("domains"), dict):
                for key in client["domains"]:
                    try:
                        domain = normalize_name(key)
                    except InvalidName:
                        continue
                    self.domain_owner.setdefault(domain, cid)
        self.db_prefixes = {cid: rules.database_prefix(cid) for cid in merged if isinstance(cid, str)}
        for cid in sorted(merged, key=str):
            self.client(StatePath(origin[cid]) / cid, cid, merged[cid])
        self.mail_name_conflicts()

    def client(self, path, cid, raw):
        allowed = ("package", "overrides", "web_host", "mail_host", "domains", "dedicated_ip", "certificates",
                   "mailboxes", "mail_aliases", "backup", "migration", "databases")
        rule = rules.client_id_problem(cid)
        if rule:
            self.problems.error(path, rule)
            return
        if not check_mapping(self.problems, path, raw, allowed, required=("package", "web_host", "domains")):
            return
        client = {"id": cid, "path": str(path)}
        package = raw.get("package")
        if not isinstance(package, str) or package not in self.model["packages"]:
            if "package" in raw:  # a missing key is reported as required; package: null is not silently skipped
                self.problems.error(path / "package", "unknown package %r (defined: %s)"
                                    % (package, ", ".join(sorted(self.model["packages"])) or "none"))
            return
        client["package"] = package
        overrides = raw.get("overrides", {}) or {}
        effective = dict(self.model["packages"][package])
        # features() refuses a non-mapping and unknown keys (once); only known keys override.
        over = self.features(path / "overrides", overrides)
        if over is not None:
            effective.update({k: over[k] for k in overrides if k in FEATURES})
        client["features"] = effective
        client["overrides"] = sorted(overrides) if isinstance(overrides, dict) else []
        # A missing web_host or mail_host is reported once, as required.
        client["web_host"] = self.inventory_host(path / "web_host", raw["web_host"], WEB_GROUP) if "web_host" in raw else None
        if effective["mail"] or "mail_host" in raw:
            if "mail_host" not in raw:
                self.problems.error(path / "mail_host", "is required: package %r includes mail" % package)
            mail_host = self.inventory_host(path / "mail_host", raw["mail_host"], MAIL_GROUP) if "mail_host" in raw else None
            # Without mail in the package the host is checked but serves nothing of this client.
            client["mail_host"] = mail_host if effective["mail"] else None
        else:
            client["mail_host"] = None
        self.domains(path / "domains", client, raw.get("domains"))
        self.dedicated_ip(path / "dedicated_ip", client, raw.get("dedicated_ip"))
        self.certificates(path / "certificates", client, raw.get("certificates", []))
        self.mailboxes(path, client, raw)
        self.client_backup(path, client, raw.get("backup"))
        self.databases(path / "databases", client, raw.get("databases", {}))
        self.migration(path / "migration", client, raw.get("migration"))
        self.mail_names(path, client)
        self.gdpr(path, client)
        self.model["clients"][cid] = client

    def claim(self, path, cid, name):
        owner = self.name_owner.get(name)
        if owner is not None:
            other, other_path = owner
            who = "this client" if other == cid else "client %s" % other
            self.problems.error(path, "name %s is already claimed by %s (%s)" % (name, who, other_path))
            return False
        # The top-most enclosing domain decides: a client that claims a domain under another
        # client's domain gains no hold over the names of that other client.
        enclosing = [domain for domain in self.domain_owner if is_under(name, domain)]
        if enclosing:
            domain = min(enclosing, key=len)
            domain_cid = self.domain_owner[domain]
            if domain_cid != cid:
                self.problems.error(path, "name %s is under %s, a domain of client %s" % (name, domain, domain_cid))
                return False
        self.name_owner[name] = (cid, str(path))
        return True

    def domains(self, path, client, raw):
        client["domains"] = []
        if not isinstance(raw, dict) or not raw:
            self.problems.error(path, "must be a non-empty mapping of domain name to its settings, got %s" % type_name(raw))
            return
        for key, spec in raw.items():
            dpath = path / key
            domain = self.tenant_name(dpath, key)
            spec = {} if spec is None else spec
            if domain is None or not check_mapping(self.problems, dpath, spec, ("aliases", "subdomains", "php")):
                continue
            self.claim(dpath, client["id"], domain)
            entry = {"name": domain, "aliases": [], "subdomains": [], "php": self.php(dpath / "php", spec.get("php", False))}
            for kind in ("aliases", "subdomains"):
                items = spec.get(kind, [])
                if not want_list(self.problems, dpath / kind, items):
                    continue
                for i, rel in enumerate(items):
                    try:
                        fqdn = normalize_relative(rel, domain)
                    except InvalidName as exc:
                        self.problems.error(dpath / kind / i, "invalid name %r: %s" % (rel, exc))
                        continue
                    if self.reserved_name(dpath / kind / i, fqdn):
                        continue
                    if self.claim(dpath / kind / i, client["id"], fqdn):
                        entry[kind].append(fqdn)
            client["domains"].append(entry)

    def php(self, path, value):
        if value is False or value is None:
            return None
        if isinstance(value, float):
            self.problems.error(path, 'must be a quoted string such as "8.2" (YAML reads %s as a number)' % value)
            return None
        offered = self.model["platform"].get("php_versions", [])
        if not isinstance(value, str) or value not in offered:
            self.problems.error(path, "PHP %s is not offered by the platform (offered: %s; or false for a static site)"
                                % (value, ", ".join(offered)))
            return None
        return value

    def dedicated_ip(self, path, client, raw):
        client["dedicated_ip"] = {"web": None, "mail": None}
        if raw is None:
            return
        if not client["features"]["dedicated_ip"]:
            self.problems.error(path, "package %r does not allow a dedicated IP (dedicated_ip: false)" % client["package"])
            return
        if isinstance(raw, str):
            sides = {"web": raw}
            if client["mail_host"] and client["mail_host"] == client["web_host"]:
                sides["mail"] = raw
        elif isinstance(raw, dict):
            if not check_mapping(self.problems, path, raw, ("web", "mail")):
                return
            sides = dict(raw)
        else:
            self.problems.error(path, "must be an IPv4 address or {web: IP, mail: IP}, got %s" % type_name(raw))
            return
        for side, value in sides.items():
            spath = path / side if isinstance(raw, dict) else path
            ip = self.ipv4(spath, value)
            if ip is None or not self.pool_allocated(spath, ip):
                continue
            listed = self.model["reseller"].get("dedicated_ips")
            if listed and ip not in listed:
                self.problems.error(spath, "%s is not in fracto_reseller.dedicated_ips" % ip)
                continue
            host = client["web_host"] if side == "web" else client["mail_host"]
            if side == "mail" and not client["features"]["mail"]:
                self.problems.error(spath, "the package has no mail, so no mail address can be bound")
                continue
            pool_host = self.model["pool"][ip]["host"]
            if host and pool_host != host:
                self.problems.error(spath, "%s is on host %s, not on %s which serves the %s of this client"
                                    % (ip, pool_host, host, "sites" if side == "web" else "mail"))
                continue
            client["dedicated_ip"][side] = ip

    def certificates(self, path, client, raw):
        client["certificates"] = []
        if not want_list(self.problems, path, raw):
            return
        own_names = set(client_names(client))
        seen = {}
        for i, item in enumerate(raw):
            cpath = path / i
            if not check_mapping(self.problems, cpath, item, ("name", "cert", "chain", "key", "names"),
                                 required=("name", "cert", "key")):
                continue
            if not want_str(self.problems, cpath / "name", item.get("name"), rules.CERT_NAME,
                            "must be a slug of at most 64: [a-z0-9][a-z0-9-]*"):
                continue
            if item["name"] in seen:
                self.problems.error(cpath / "name", "certificate name %s is used twice" % item["name"])
                continue
            seen[item["name"]] = True
            # Client 'a' with 'b-shop' and client 'a-b' with 'shop' would share the files of 'a-b-shop'.
            cert_id = "%s-%s" % (client["id"], item["name"])
            if cert_id in self.cert_ids:
                self.problems.error(cpath / "name", "certificate %s would share its files (%s) with %s"
                                    % (item["name"], cert_id, self.cert_ids[cert_id]))
                continue
            self.cert_ids[cert_id] = str(cpath)
            try:
                facts = certs.inspect_bundle(item.get("cert"), item.get("chain"), item.get("key"))
            except certs.BundleError as exc:
                self.problems.error(cpath, "certificate %s refused: %s" % (item["name"], exc))
                continue
            if facts["days_left"] < certs.WARN_DAYS:
                self.problems.warn(cpath, "certificate %s expires in %d days (%s)" % (item["name"], facts["days_left"], facts["not_after"]))
            if "names" in item:
                names = []
                if want_list(self.problems, cpath / "names", item["names"]):
                    for j, raw_name in enumerate(item["names"]):
                        name = self.name(cpath / "names" / j, raw_name)
                        if name is None:
                            continue
                        if name not in own_names:
                            self.problems.error(cpath / "names" / j, "%s is not a name of this client" % name)
                        elif not covered_by(name, facts["names"]):
                            self.problems.error(cpath / "names" / j, "certificate %s does not cover %s (it covers %s)"
                                                % (item["name"], name, ", ".join(facts["names"])))
                        else:
                            names.append(name)
            else:
                names = sorted(n for n in own_names if covered_by(n, facts["names"]))
                if not names:
                    self.problems.error(cpath, "certificate %s covers none of this client's names (it covers %s)"
                                        % (item["name"], ", ".join(facts["names"])))
            for name in names:
                for other in client["certificates"]:
                    if name in other["names"]:
                        self.problems.error(cpath, "%s is covered by both %s and %s: say which one serves it with names:"
                                            % (name, other["name"], item["name"]))
            for vhost in client_vhosts(client):
                inside = [n for n in vhost if n in names]
                if inside and len(inside) != len(vhost):
                    self.problems.error(cpath, "certificate %s covers %s but not %s, served by the same vhost (one certificate per vhost)"
                                        % (item["name"], ", ".join(inside), ", ".join(n for n in vhost if n not in names)))
            client["certificates"].append({
                "name": item["name"], "names": names, "cert": item["cert"], "chain": item.get("chain") or "",
                "key": item["key"], "fingerprint": facts["fingerprint"], "not_after": facts["not_after"],
            })

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
                bpath = path / "mailboxes" / key
                address = self.mail_address(bpath, key, mail_domains)
                spec = {} if spec is None else spec
                if address is None or not check_mapping(self.problems, bpath, spec, ("password", "password_hash", "quota")):
                    continue
                if address in addresses:
                    self.problems.error(bpath, "mailbox %s is listed twice" % address)
                    continue
                box = {"address": address, "domain": address.split("@")[1], "quota": None,
                       "password": None, "password_hash": None}
                # A broken password or quota is reported, but the mailbox still exists (aliases and
                # migration may name it); the model is not used while there are errors.
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
                if "quota" in spec:
                    quota = parse_quota(spec["quota"])
                    if quota is None:
                        self.problems.error(bpath / "quota", "must be a size such as 500M, 2G or 1T (a positive integer, then K, M, G or T)")
                    box["quota"] = quota
                addresses.add(address)
                client["mailboxes"].append(box)
        if aliases is None or check_mapping(self.problems, path / "mail_aliases", aliases, aliases if isinstance(aliases, dict) else ()):
            for key, targets in (aliases or {}).items():
                apath = path / "mail_aliases" / key
                address = self.mail_address(apath, key, mail_domains)
                if address is None:
                    continue
                if address in addresses:
                    self.problems.error(apath, "%s is already a mailbox or an alias" % address)
                    continue
                if not isinstance(targets, list) or not targets:
                    self.problems.error(apath, "must be a non-empty list of destination addresses")
                    continue
                resolved = [self.address(apath / i, t) for i, t in enumerate(targets)]
                if None in resolved:
                    continue
                addresses.add(address)
                client["mail_aliases"].append({"address": address, "targets": resolved})

    def backup_target(self, path, raw, per_client):
        if not check_mapping(self.problems, path, raw, ("repository", "password", "keep"), required=("repository", "password")):
            return None
        repository, password = raw.get("repository"), raw.get("password")
        if not want_str(self.problems, path / "repository", repository):
            return None
        if not self.repository(path / "repository", repository, per_client):
            return None
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            self.problems.error(path / "password", "must be a string of at least %d characters (restic encrypts with it)" % MIN_PASSWORD)
            return None
        keep = raw.get("keep", {"daily": 7, "weekly": 4, "monthly": 6})
        if check_mapping(self.problems, path / "keep", keep, ("last", "hourly", "daily", "weekly", "monthly", "yearly")):
            for key, value in keep.items():
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_KEEP:
                    self.problems.error(path / "keep" / key, "must be an integer from 0 to %d" % MAX_KEEP)
        return {"repository": repository, "password": password, "keep": keep}

    def repository(self, path, repository, per_client):
        """The whole repository by its backend's grammar, not on a host that runs jobs; errors never show it."""
        parts, rule = rules.parse_repository(repository, placeholder=per_client)
        if rule is None and per_client and rules.PLACEHOLDER not in repository:
            rule = "a reseller target must contain {client}: one repository per client"
        if rule is None and parts.get("host", "").lower() in self.platform_host_names(WEB_GROUP, MAIL_GROUP):
            rule = "%s is a host of the platform that runs backups: a repository must be outside it" % parts["host"].lower()
        if rule:
            # A rest URL carries a password: the rule names parts, never the value; redact_url is a second guard.
            self.problems.error(path, redact_url(rule))
            return False
        return True

    def client_backup(self, path, client, raw):
        mode = client["features"]["backup"]
        client["backup"] = None
        if raw is not None and mode != "client":
            self.problems.error(path / "backup", "a client-managed target is only used when the package says backup: client (it says %s)" % mode)
            return
        if mode == "client":
            if raw is None:
                self.problems.error(path / "backup", "is required: the package says backup: client")
                return
            target = self.backup_target(path / "backup", raw, per_client=False)
            if target:
                client["backup"] = dict(target, managed_by="client", source=str(path / "backup"))
        elif mode == "reseller":
            target = self.model["reseller"].get("backup")
            if not target:
                if "backup" not in self.model["reseller"]:  # an invalid one is reported at fracto_reseller.backup
                    self.problems.error(path / "package", "package %r says backup: reseller but fracto_reseller.backup is not set"
                                        % client["package"])
                return
            client["backup"] = dict(target, repository=target["repository"].replace("{client}", client["id"]),
                                    managed_by="reseller", source="fracto_reseller.backup")

    def databases(self, path, client, raw):
        client["databases"] = []
        if raw is None or not check_mapping(self.problems, path, raw, raw if isinstance(raw, dict) else ()):
            return
        prefix = self.db_prefixes[client["id"]]
        for name, spec in raw.items():
            dpath = path / name
            if not self.db_identifier(dpath, client["id"], "name", name, rules.database_name_problem(name, prefix)):
                continue
            spec = {} if spec is None else spec
            if not check_mapping(self.problems, dpath, spec, ("user", "password"), required=("password",)):
                continue
            user = spec.get("user", name)
            if not self.db_identifier(dpath / "user", client["id"], "user", user, rules.database_user_problem(user, prefix)):
                continue
            if not isinstance(spec.get("password"), str) or len(spec["password"]) < MIN_PASSWORD:
                self.problems.error(dpath / "password", "must be a string of at least %d characters" % MIN_PASSWORD)
                continue
            # One account has one password: the second ALTER USER would lock the first database's site out.
            if any(d["user"] == user and d["password"] != spec["password"] for d in client["databases"]):
                self.problems.error(dpath / "password", "user %s serves several databases: give it the same password" % user)
                continue
            client["databases"].append({"name": name, "user": user, "password": spec["password"]})

    def db_identifier(self, path, cid, kind, value, rule):
        """A database name or user: its grammar, the client's prefix alone, and one owner across the reseller."""
        if rule is None:
            # Another client's longer prefix ('a-b' -> 'a_b_') inside this one's ('a' -> 'a_'): its names, not ours.
            longer = [c for c, p in self.db_prefixes.items() if c != cid and len(p) > len(self.db_prefixes[cid])
                      and value.startswith(p)]
            if longer:
                rule = "database %ss starting with %s belong to client %s" % (kind, self.db_prefixes[longer[0]], longer[0])
        if rule is None and (kind, value) in self.db_owner:
            other, other_path = self.db_owner[(kind, value)]
            if other != cid or kind == "name":
                owner = "this client" if other == cid else "client %s" % other
                rule = "database %s %s is already used by %s (%s)" % (kind, value, owner, other_path)
        if rule:
            self.problems.error(path, rule)
            return False
        self.db_owner.setdefault((kind, value), (cid, str(path)))
        return True

    def migration(self, path, client, raw):
        client["migration"] = {}
        if raw is None or not check_mapping(self.problems, path, raw, ("site", "mail")):
            return
        site = raw.get("site")
        if site is not None and check_mapping(self.problems, path / "site", site, ("from", "path", "database", "domain", "target_database"),
                                              required=("from", "path")):
            self.migration_site(path / "site", client, site)
        mail = raw.get("mail")
        if mail is not None and check_mapping(self.problems, path / "mail", mail,
                                              ("from", "mailboxes", "master_user", "master_password", "folder_map", "delete_extra"),
                                              required=("from",)):
            self.migration_mail(path / "mail", client, mail)

    def migration_mail(self, path, client, mail):
        """migration.mail: the old IMAP server, the mailboxes that move and how the migrator logs in there."""
        source = mail.get("from")
        port = 993
        if want_str(self.problems, path / "from", source):
            source, _sep, port_text = source.partition(":")
            if port_text and not (re.fullmatch(r"[0-9]{1,5}", port_text) and 0 < int(port_text) < 65536):
                self.problems.error(path / "from", "port must be a number from 1 to 65535")
            elif port_text:
                port = int(port_text)
            source = self.imap_source(path / "from", source)
        master_user, master_password = mail.get("master_user"), mail.get("master_password")
        if "master_user" in mail or "master_password" in mail:
            if not ("master_user" in mail and "master_password" in mail):
                self.problems.error(path / ("master_password" if "master_user" in mail else "master_user"),
                                    "is required with %s" % ("master_user" if "master_user" in mail else "master_password"))
            if "master_user" in mail:
                want_str(self.problems, path / "master_user", master_user, rules.MASTER_USER,
                         "must be a user name: 1-64 of A-Z, a-z, 0-9, '.', '_', '@', '+' and '-'")
            if "master_password" in mail:
                want_str(self.problems, path / "master_password", master_password)
        folder_map = mail.get("folder_map", {})
        if check_mapping(self.problems, path / "folder_map", folder_map, folder_map if isinstance(folder_map, dict) else ()):
            for key, value in folder_map.items():
                if not isinstance(value, str) or not value or not isinstance(key, str) or not key:
                    self.problems.error(path / "folder_map" / str(key), "must map an old folder name to a new folder name (strings)")
                    continue
                for what, folder in (("old", key), ("new", value)):
                    rule = rules.folder_name_problem(folder)
                    if rule:
                        self.problems.error(path / "folder_map" / key, "the %s folder name: %s" % (what, rule))
        delete_extra = mail.get("delete_extra", False)
        if not isinstance(delete_extra, bool):
            self.problems.error(path / "delete_extra", "must be true or false, got %s" % type_name(delete_extra))
        own = {b["address"] for b in client["mailboxes"]}
        boxes = mail.get("mailboxes", {})
        moved = []
        if check_mapping(self.problems, path / "mailboxes", boxes, boxes if isinstance(boxes, dict) else ()):
            for key, spec in boxes.items():
                mpath = path / "mailboxes" / key
                address = self.address(mpath, key)
                if address and address not in own:
                    self.problems.error(mpath, "%s is not a mailbox of this client (mailboxes:)" % address)
                spec = {} if spec is None else spec
                if not check_mapping(self.problems, mpath, spec, ("user", "password")):
                    continue
                if "user" in spec:
                    want_str(self.problems, mpath / "user", spec["user"], rules.IMAP_LOGIN,
                             "must be the login on the old server: 1-255 of A-Z, a-z, 0-9, '.', '_', '@', '+', '=' and '-'")
                if "password" in spec:
                    want_str(self.problems, mpath / "password", spec["password"])
                elif master_user is None:
                    self.problems.error(mpath / "password", "is required without master_user/master_password "
                                                            "(the migrator logs in to the old server as this user)")
                if address:
                    moved.append({"address": address, "user": spec.get("user", address), "password": spec.get("password")})
                    self.own_old_login(mpath, client, source, spec.get("user", address), master_user is not None)
        client["migration"]["mail"] = {
            "from": source, "port": port, "mailboxes": moved, "master_user": master_user,
            "master_password": master_password, "folder_map": folder_map if isinstance(folder_map, dict) else {},
            "delete_extra": delete_extra is True,
        }

    def migration_site(self, path, client, site):
        """migration.site: the old site, the client's vhost that receives it, the database it moves into."""
        ok = True
        host = self.legacy_host(path / "from", site.get("from"))
        src = site.get("path")
        if not want_str(self.problems, path / "path", src):
            ok = False
        elif rules.old_site_path_problem(src):
            self.problems.error(path / "path", rules.old_site_path_problem(src))
            ok = False
        vhosts = [d["name"] for d in client["domains"]] + [s for d in client["domains"] for s in d["subdomains"]]
        if "domain" in site:
            domain = self.name(path / "domain", site["domain"])
            if domain and domain not in vhosts:
                self.problems.error(path / "domain", "%s is not a domain or subdomain of this client (domains:)" % domain)
                domain = None
            ok = ok and domain is not None
        else:
            domain = vhosts[0] if vhosts else None
        database = site.get("database")
        target = None
        if database is not None:
            if not want_str(self.problems, path / "database", database, rules.OLD_DB_NAME,
                            "must be the name of the old database: 1-64 of A-Z, a-z, 0-9, _, $ and -, not starting with -"):
                ok = False
            target = site.get("target_database", database)
            where = path / ("target_database" if "target_database" in site else "database")
            own = [d["name"] for d in client["databases"]]
            if target not in own:
                self.problems.error(where, "the site's database moves into %r, which must be one of the client's databases "
                                           "(databases: %s)" % (target, ", ".join(own) or "none"))
                ok = False
        elif "target_database" in site:
            self.problems.error(path / "target_database", "needs database (the old database to migrate)")
            ok = False
        if host and ok and not self.legacy_account_of(path, client["id"], host, src, database):
            ok = False
        if host and ok and domain:
            client["migration"]["site"] = {"from": host, "path": src.rstrip("/"), "database": database,
                                           "domain": domain, "target_database": target}

    def own_old_login(self, path, client, source, user, master):
        """On the shared old platform, or through an old server's master user (any name or address may reach a shared
        server), a login opens one tenant's mailbox: it must be an address of this client's domains."""
        legacy = self.groups.get("fracto_legacy", set())
        domain = self.model["platform"].get("domain")
        if not master and source not in legacy and not any(source == "%s.%s" % (h, domain) for h in legacy):
            return
        own = set(client_names(client, aliases=False))
        if not isinstance(user, str) or user.count("@") != 1 or user.split("@")[1].lower() not in own:
            self.problems.error(path / "user", "on the old platform or through its master user (%s) the old login must be an "
                                               "address of this client's domains" % source)

    def legacy_account_of(self, path, cid, host, src, database):
        """The old site's account must be this client's in the platform's map of the old platform (a reseller
        cannot name another tenant's old home or database); True when it is."""
        accounts = self.vars.get("fracto_legacy_accounts") or {}
        account = src.strip("/").split("/")[1] if src.startswith("/home/") else src.strip("/").split("/")[2]
        entry = accounts.get(host, {}).get(account) if isinstance(accounts.get(host), dict) else None
        me = self.model["reseller"].get("name")
        if not isinstance(entry, dict) or entry.get("reseller") != me or entry.get("client") != cid:
            self.problems.error(path / "path", "%s on %s is not an account of client %s of the old platform: the platform "
                                               "inventory's fracto_legacy_accounts maps each old account to its reseller "
                                               "and client" % (account, host, cid))
            return False
        if database is not None and (database.lower() in rules.SYSTEM_SCHEMAS or database not in (entry.get("databases") or [])):
            self.problems.error(path / "database", "%s is not a database of the old account %s (fracto_legacy_accounts: %s)"
                                % (database, account, ", ".join(entry.get("databases") or []) or "none"))
            return False
        return True

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

    def gdpr(self, path, client):
        """gdpr: true is a policy; each broken rule is named, at the place that breaks it."""
        feats = client["features"]
        if not feats["gdpr"]:
            return

        def where(key):
            if key in client["overrides"]:
                return path / "overrides" / key
            return StatePath("fracto_packages") / client["package"] / key

        if not feats["autossl"]:
            uncovered = [n for n in client_names(client) if not any(n in c["names"] for c in client["certificates"])]
            if uncovered:
                self.problems.error(where("autossl"), "gdpr rule https-everywhere: autossl is off and no certificate covers %s"
                                    % ", ".join(uncovered))
        if not feats["https_redirect"]:
            self.problems.error(where("https_redirect"), "gdpr rule http-redirects-to-https: https_redirect must be true")
        if not feats["hsts"]:
            self.problems.error(where("hsts"), "gdpr rule hsts: hsts must be true")
        if feats["backup"] == "none":
            self.problems.error(where("backup"), "gdpr rule encrypted-offsite-backup: backup must be reseller or client, not none")
        elif client["backup"]:
            host = repository_host(client["backup"]["repository"])
            own = {client["web_host"], client["mail_host"]} - {None}
            domain = self.model["platform"].get("domain")
            own |= {"%s.%s" % (h, domain) for h in own if domain}
            if host == "":
                self.problems.error(StatePath(client["backup"]["source"]) / "repository",
                                    "gdpr rule encrypted-offsite-backup: a local repository is not outside the host")
            elif host in own:
                self.problems.error(StatePath(client["backup"]["source"]) / "repository",
                                    "gdpr rule encrypted-offsite-backup: %s is a host that serves this client" % host)

    # -- small typed helpers ---------------------------------------------------------------
    def name(self, path, raw):
        try:
            return normalize_name(raw)
        except InvalidName as exc:
            self.problems.error(path, "invalid name %r: %s" % (raw if isinstance(raw, str) else type_name(raw), exc))
            return None

    def tenant_name(self, path, raw):
        """A name a reseller or client claims: valid, and none of the platform's own names."""
        name = self.name(path, raw)
        if name is not None and self.reserved_name(path, name):
            return None
        return name

    def reserved_name(self, path, name):
        """True (and reported) for the platform's domain, a name under it or above it, a host's name, a special name."""
        domain = self.model["platform"].get("domain")
        rule = None
        if rules.special_name(name):
            rule = "%s is a special-use name (localhost, .local, .arpa, .invalid, .alt): never a site" % name
        elif domain and (is_under(name, domain) or is_under(domain, name)):
            rule = "%s is reserved: the platform's domain %s, a name under it or a domain above it" % (name, domain)
        elif name in self.platform_host_names():
            rule = "%s is reserved: the name of a host of the platform" % name
        if rule:
            self.problems.error(path, rule)
        return rule is not None

    def platform_host_names(self, *groups):
        """The lowercase names of the inventory's hosts (of groups, when given), short and as <host>.<platform domain>."""
        hosts = set().union(*(self.groups.get(g, ()) for g in groups)) if groups else self.hosts
        domain = self.model["platform"].get("domain")
        names = {h.lower() for h in hosts if isinstance(h, str)}
        return names | {"%s.%s" % (h, domain) for h in names if domain}

    def legacy_host(self, path, host):
        """migration.site.from: a host of the old platform (group fracto_legacy), never one of the new."""
        host = self.inventory_host(path, host, LEGACY_GROUP)
        if host and host in self.groups.get(WEB_GROUP, ()) | self.groups.get(MAIL_GROUP, ()):
            self.problems.error(path, "host %s is a host of the platform (%s/%s), not of the old one" % (host, WEB_GROUP, MAIL_GROUP))
            return None
        return host

    def imap_source(self, path, host):
        """migration.mail.from: a host of the old platform, or an outside DNS name or public address (normalised)."""
        if host in self.hosts:
            return self.legacy_host(path, host)
        rule = rules.host_problem(host)
        name = host
        domain = self.model["platform"].get("domain")
        if rule is None:
            try:
                name = normalize_name(host)
            except InvalidName:  # a public IPv4 address (host_problem allowed nothing else)
                name = host
            if name in self.platform_host_names():
                rule = "%s is a host of the platform" % name
            elif domain and is_under(name, domain):
                rule = "%s is under the platform's domain %s: the old server must be outside the platform" % (name, domain)
        if rule:
            self.problems.error(path, "must be a host of the group %s or an outside IMAP server: %s" % (LEGACY_GROUP, rule))
            return None
        return name

    def address(self, path, raw):
        try:
            return normalize_address(raw)[0]
        except InvalidName as exc:
            self.problems.error(path, "invalid address: %s" % exc)
            return None

    def mail_address(self, path, raw, mail_domains):
        address = self.address(path, raw)
        if address and address.split("@")[1] not in mail_domains:
            self.problems.error(path, "the domain of %s is not a domain or subdomain of this client" % address)
            return None
        return address

    def ipv4(self, path, raw):
        try:
            return str(ipaddress.IPv4Address(str(raw) if not isinstance(raw, (bool, int)) else "x"))
        except ValueError:
            self.problems.error(path, "%r is not an IPv4 address" % (raw,))
            return None

    def pool_allocated(self, path, ip):
        entry = self.model["pool"].get(ip)
        raw = self.vars.get("fracto_reseller")
        me = self.model["reseller"].get("name") or (raw.get("name") if isinstance(raw, dict) else None)
        if entry is None:
            self.problems.error(path, "%s is not in fracto_ip_pool" % ip)
        elif entry["reseller"] is None:
            self.problems.error(path, "%s is not allocated to any reseller in fracto_ip_pool" % ip)
        elif entry["reseller"] != me:
            self.problems.error(path, "%s is allocated to reseller %s, not to %s" % (ip, entry["reseller"], me))
        else:
            return True
        return False

    def inventory_host(self, path, host, group):
        if not isinstance(host, str) or not host:
            self.problems.error(path, "must be an inventory host name, got %s" % type_name(host))
            return None
        if host not in self.hosts:
            self.problems.error(path, "host %s is not in the inventory" % host)
            return None
        if group and host not in self.groups.get(group, ()):
            self.problems.error(path, "host %s is not in the inventory group %s" % (host, group))
            return None
        return host

    def run(self):
        self.controls()
        self.platform()
        self.ip_pool()
        self.reseller()
        self.packages()
        self.clients()
        return self.model


def client_names(client, aliases=True):
    """Every web name of a client: domains, aliases (optional) and subdomains."""
    names = []
    for domain in client.get("domains", []):
        names.append(domain["name"])
        if aliases:
            names.extend(domain["aliases"])
        names.extend(domain["subdomains"])
    return names


def client_vhosts(client):
    """The names of each vhost: a domain with its aliases, then each subdomain alone."""
    vhosts = []
    for domain in client.get("domains", []):
        vhosts.append([domain["name"]] + domain["aliases"])
        vhosts.extend([sub] for sub in domain["subdomains"])
    return vhosts


def mail_host_fqdn(host, platform_domain):
    return "%s.%s" % (host, platform_domain) if platform_domain else host


def validate_state(variables, inventory):
    """Validate everything; return (model, problems). The model is only usable without errors."""
    validator = StateValidator(variables, inventory)
    model = validator.run()
    return model, validator.problems
