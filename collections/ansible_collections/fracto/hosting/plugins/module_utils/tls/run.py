# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One converge of every certificate of a host (the module fracto.hosting.tls_certificates is a thin wrapper).

Custom bundles are checked (tls/bundle.py) and installed; ACME certificates are ordered when needed
(tls/decisions.py), for the names that pass the precheck (tls/precheck.py), in parallel (tls/acme_client.py);
certificates no longer wanted are archived. Everything goes through the store (tls/store.py, read with
tls/installed.py). Nothing here puts key material into a message, a diff or a result.
"""

from __future__ import annotations

import datetime
import hashlib
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.fracto.hosting.plugins.module_utils.ledger import RESELLER
from ansible_collections.fracto.hosting.plugins.module_utils.lock import run_locked
from ansible_collections.fracto.hosting.plugins.module_utils.tls.acme_client import AcmeOrders, OrderError, RateLimited, check_issued
from ansible_collections.fracto.hosting.plugins.module_utils.tls.bundle import check_bundle
from ansible_collections.fracto.hosting.plugins.module_utils.tls.crypto import BundleError, fingerprint, key_pem, load_certs, make_key, validity
from ansible_collections.fracto.hosting.plugins.module_utils.tls.decisions import needs_order, plan_order, retry_wait
from ansible_collections.fracto.hosting.plugins.module_utils.tls.deps import missing
from ansible_collections.fracto.hosting.plugins.module_utils.tls.installed import read_installed, short_fingerprint
from ansible_collections.fracto.hosting.plugins.module_utils.tls.metrics import write_certificate_metrics
from ansible_collections.fracto.hosting.plugins.module_utils.tls.params import DEFAULTS, ParameterError, checked_entries
from ansible_collections.fracto.hosting.plugins.module_utils.tls.precheck import DnsPrecheck, HttpPrecheck, pool_size, webroot_warning
from ansible_collections.fracto.hosting.plugins.module_utils.tls.store import CertificateStore, make_meta
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import iso, now_utc, span


def _change(action, cert_id, client, detail):
    return {"action": action, "kind": "certificate", "id": cert_id, "client": client, "detail": list(detail)}


def diff_text(views):
    """{id: {source, names, not_after, fingerprint} or None} -> readable text, no key material."""
    lines = []
    for cert_id in sorted(views):
        view = views[cert_id]
        if view is None:
            continue
        lines.append("certificate %s" % cert_id)
        lines.append("  source: %s" % view["source"])
        lines.append("  names: %s" % ", ".join(view["names"]))
        lines.append("  not_after: %s" % view["not_after"])
        lines.append("  fingerprint: %s" % view.get("fingerprint", "none"))
    return "\n".join(lines) + ("\n" if lines else "")


class CertificateRun:
    """One converge of every certificate of a host.

    precheck: callable(names) -> {name: reason} of the failing names (HttpPrecheck; DnsPrecheck in
    check mode). acme: an object with order(names, key) -> full chain text (AcmeOrders, after connect()).
    Both are built from the parameters when not given (the unit tests give fakes).
    """

    def __init__(self, params, check_mode=False, now=None, store=None, precheck=None, acme=None):
        self.p = dict(DEFAULTS, **params)
        self.check_mode = check_mode
        # The time of the decisions; what is present at the end is judged at the end (orders take time).
        self.clock = now if callable(now) else ((lambda: now) if now is not None else now_utc)
        self.now = self.clock()
        self.store = store or CertificateStore(self.p["store"])
        self._precheck = precheck
        self._acme = acme
        self.warnings = []
        self.changes = {}
        self.before_views, self.after_views = {}, {}
        self.wanted, self.expiry = {}, {}  # for the metrics: the wanted entries, {id: (names, not_after)} at the end
        self.r = {"issued": [], "renewed": [], "installed": [], "removed": [], "skipped_names": {}, "coverage_reduced": {},
                  "rate_limited": {}, "refused": {}, "failed_orders": {}}

    def run(self):
        entries = checked_entries(self.p, self.store)
        reseller = self.p.get("reseller")
        wanted = self.wanted = {e["id"]: e for e in entries}
        ids = sorted(set(wanted) | set(self.store.ids()))
        found = {cert_id: read_installed(self.store, cert_id, self.now) for cert_id in ids}
        self.found = found
        customs = [e for e in entries if e["source"] == "custom"]
        acmes = [e for e in entries if e["source"] == "acme"]
        installs = [self._plan_custom(e, found[e["id"]]) for e in customs]
        installs = [i for i in installs if i]
        orders = self._plan_acme(acmes, customs, found)
        metas = self._plan_meta(entries, found, reseller, {i["id"] for i in installs} | {o["id"] for o in orders})
        removals = self._plan_removals(wanted, found, reseller)
        if not self.check_mode:
            self._apply(installs, orders, metas, removals, reseller)
        else:
            for item in installs + orders + metas + removals:
                self._record(item)
        return self._result(wanted, found, removals, installs, orders)

    # custom bundles
    def _plan_custom(self, entry, installed):
        cert_id, client = entry["id"], entry["client"]
        try:
            facts = check_bundle(entry.get("cert"), entry.get("chain"), entry.get("key"), entry["names"], self.now,
                                 self.p["validity_warning_days"])
        except BundleError as exc:
            self.r["refused"][cert_id] = str(exc)
            if installed.valid:
                self.changes[cert_id] = _change("keep", cert_id, client, ["refused: %s; the installed certificate stays" % exc])
            return None
        meta = make_meta(entry, self.p.get("reseller"), facts["not_before"], facts["not_after"], facts["fingerprint"],
                         facts["issuer"], facts["names"])
        same_files = (installed.fullchain == facts["fullchain"]
                      and installed.privkey_digest == hashlib.sha256(facts["privkey"]).hexdigest())
        if same_files and installed.valid:
            return None  # a meta-only difference is handled by _plan_meta
        if installed.exists:
            detail = ["fingerprint: %s -> %s" % (short_fingerprint(installed.fingerprint), short_fingerprint(facts["fingerprint"]))]
            if installed.fingerprint == facts["fingerprint"]:
                detail = ["key or chain replaced" if installed.valid else "reinstalled: %s" % installed.problem]
        else:
            detail = ["install: %s (expires %s)" % (", ".join(entry["names"]), iso(facts["not_after"]))]
        return {"op": "install", "id": cert_id, "client": client, "action": "change" if installed.exists else "create",
                "detail": detail, "fullchain": facts["fullchain"], "privkey": facts["privkey"], "meta": meta,
                "names": facts["names"], "not_after": facts["not_after"],
                "view": {"source": "custom", "names": facts["names"], "not_after": iso(facts["not_after"]),
                         "fingerprint": short_fingerprint(facts["fingerprint"])}}

    # ACME
    def _plan_acme(self, acmes, customs, found):
        custom_names = {}
        for entry in customs:
            for name in entry["names"]:
                custom_names.setdefault(name, entry["id"])
        candidates = [c for c in (self._acme_candidate(entry, custom_names, found) for entry in acmes) if c is not None]
        failing = self._run_precheck(sorted({n for _e, names, _i, _w in candidates for n in names}))
        orders = [self._order_after_precheck(entry, names, installed, why, failing) for entry, names, installed, why in candidates]
        return [order for order in orders if order is not None]

    def _acme_candidate(self, entry, custom_names, found):
        """(entry, names, installed, why) of an ACME certificate that needs an order now, for its names no custom
        certificate covers (custom_names: {name: custom id}); None when none is needed or the CA's rate limit holds it."""
        cert_id = entry["id"]
        names = []
        for name in entry["names"]:
            if name in custom_names:
                self.r["skipped_names"][name] = "covered by the custom certificate %s" % custom_names[name]
            else:
                names.append(name)
        if not names:
            return None
        installed = found[cert_id]
        why = needs_order(names, installed, self.now, self.p["renew_fraction"])
        if why is None:
            return None
        wait = retry_wait(installed.meta, self.now, self.p.get("acme_directory"))
        if wait:
            self.r["rate_limited"][cert_id] = "retry after %d s" % wait
            if installed.valid:
                what = {"renew": "renewal", "names": "order for the new names"}.get(why[0], "order")
                self.changes[cert_id] = _change("keep", cert_id, entry["client"],
                                                ["%s postponed: rate limited by the CA, retry after %d s" % (what, wait)])
            return None
        return entry, names, installed, why

    def _order_after_precheck(self, entry, names, installed, why, failing):
        """The order of one candidate once the precheck ran (failing: {name: reason}); None when nothing is ordered."""
        cert_id = entry["id"]
        reason, detail = why
        bad = {n: failing[n] for n in names if n in failing}
        self.r["skipped_names"].update(bad)
        ordered, lost, waiting = plan_order(names, bad, installed, reason)
        if lost:
            self.r["coverage_reduced"][cert_id] = lost
        for name in waiting:
            self.r["skipped_names"][name] = ("not ordered: the new certificate would drop %s from %s, which is still valid"
                                             % (", ".join(lost), cert_id))
        if ordered is None:
            if lost:
                self.changes[cert_id] = _change("keep", cert_id, entry["client"], [
                    "coverage reduced: %s failed the precheck; the installed certificate still covers them until %s"
                    % (", ".join(lost), iso(installed.not_after))])
            return None
        if installed.valid:
            # What the new certificate changes, after the precheck (not what the state asked for).
            moved = (["+ %s" % n for n in ordered if n not in installed.names]
                     + ["- %s" % n for n in installed.names if n not in ordered])
            if lost:
                moved.append("coverage reduced: %s failed the precheck" % ", ".join(lost))
            detail = (detail[:1] + moved) if reason == "renew" else (moved or detail)
        elif not installed.exists:
            detail = ["order: %s" % ", ".join(ordered)]
        return {"op": "order", "id": cert_id, "client": entry["client"], "entry": entry, "names": ordered,
                "reason": "renew" if reason == "renew" else "issue",
                "action": "change" if installed.exists else "create", "detail": detail,
                "view": {"source": "acme", "names": ordered, "not_after": "(set when issued)",
                         "fingerprint": "(new key)"}}

    def _run_precheck(self, names):
        if not names or not self.p["precheck"]:
            return {}
        precheck = self._precheck
        if precheck is None:
            workers = 4 * self.p["concurrency"]
            precheck = DnsPrecheck(workers) if self.check_mode else HttpPrecheck(self.p["webroot"], self.p["precheck_timeout"], workers)
        try:
            return precheck(names)
        except OSError as exc:
            reason = "precheck: cannot write the token into %s: %s" % (self.p["webroot"], exc.strerror or exc)
            return dict.fromkeys(names, reason)

    # meta records that lag behind (client moved, meta lost)
    def _plan_meta(self, entries, found, reseller, planned):
        metas = []
        for entry in entries:
            installed = found[entry["id"]]
            if entry["id"] in planned or entry["id"] in self.changes or not installed.valid:
                continue
            meta = make_meta(entry, reseller, installed.not_before, installed.not_after, installed.fingerprint,
                             installed.issuer, installed.names)
            current = {k: v for k, v in installed.meta.items() if not k.startswith("retry_")}
            if current != meta:
                detail = ["%s: %s -> %s" % (k, _show(installed.meta.get(k)), _show(meta[k]))
                          for k in ("client", "reseller", "source") if installed.meta.get(k) != meta[k]] or ["record updated"]
                metas.append({"op": "meta", "id": entry["id"], "client": entry["client"], "action": "change",
                              "detail": detail, "meta": meta, "view": None})
        return metas

    def _plan_removals(self, wanted, found, reseller):
        present = set(self.p["clients"] or []) | {RESELLER}
        removals = []
        for cert_id, installed in sorted(found.items()):
            if cert_id in wanted or not installed.meta:
                continue   # wanted, or not written by this module: never touched
            if installed.meta.get("reseller") != reseller:
                continue   # another reseller's certificate on a shared host
            client = installed.client
            if client in present or self.p["prune"]:
                removals.append({"op": "remove", "id": cert_id, "client": client, "action": "remove",
                                 "detail": ["archived under %s/.archive/" % self.store.root], "view": None})
            else:
                self.changes[cert_id] = _change("keep", cert_id, client, [
                    "client %s is gone from the state; kept until a run with prune" % client])
        return removals

    # doing it
    def _apply(self, installs, orders, metas, removals, reseller):
        for item in installs:
            self.store.install(item["id"], item["fullchain"], item["privkey"], item["meta"])
            self._record(item)
        for item in metas:
            meta = dict(item["meta"])
            retry = {k: v for k, v in self.found[item["id"]].meta.items() if k.startswith("retry_")}
            self.store.write_meta(item["id"], dict(meta, **retry))
            self._record(item)
        for item in removals:
            self.store.archive(item["id"], self.now)
            self._record(item)
        if orders:
            self._apply_orders(orders, reseller)

    def _apply_orders(self, orders, reseller):
        acme = self._acme
        try:
            if acme is None:
                acme = AcmeOrders(self.p["acme_directory"], self.p["account_dir"], reseller, self.p.get("contact_email"),
                                  self.p["webroot"], self.p["order_timeout"])
                acme.connect()
        except RateLimited as exc:
            for item in orders:
                self._rate_limited(item, exc, reseller)
            return
        except OrderError as exc:
            for item in orders:
                self._failed(item, str(exc))
            return

        def one(item):
            try:
                key = make_key()
                fullchain = check_issued(acme.order(item["names"], key), key, item["names"])
                leaf = load_certs(fullchain)[0]
                not_before, not_after = validity(leaf)
                meta = make_meta(item["entry"], reseller, not_before, not_after, fingerprint(leaf),
                                 leaf.issuer.rfc4514_string(), item["names"])
                self.store.install(item["id"], fullchain, key_pem(key), meta)
                return item, None, {"source": "acme", "names": item["names"], "not_after": iso(not_after),
                                    "fingerprint": short_fingerprint(meta["fingerprint"])}
            except (RateLimited, OrderError, BundleError, OSError) as exc:
                return item, exc, None
            except Exception as exc:  # one order never stops the others
                return item, OrderError("%s: %s" % (exc.__class__.__name__, exc)), None

        with ThreadPoolExecutor(max_workers=pool_size(min(self.p["concurrency"], len(orders)))) as pool:
            outcomes = list(pool.map(one, orders))
        for item, exc, view in outcomes:
            if exc is None:
                item["view"] = view
                self._record(item)
            elif isinstance(exc, RateLimited):
                self._rate_limited(item, exc, reseller)
            else:
                self._failed(item, str(exc))

    def _rate_limited(self, item, exc, reseller):
        cert_id = item["id"]
        self.r["rate_limited"][cert_id] = "retry after %d s" % exc.seconds
        installed = self.found[cert_id]
        meta = dict(installed.meta) if installed.meta else {"source": "acme", "names": item["names"], "client": item["client"],
                                                            "reseller": reseller}
        meta["retry_after"] = iso(self.clock() + datetime.timedelta(seconds=exc.seconds))
        meta["retry_reason"] = exc.detail
        meta["retry_directory"] = self.p.get("acme_directory")
        try:
            self.store.write_meta(cert_id, meta)
        except OSError as err:
            self.warnings.append("certificate %s: cannot record the Retry-After of the CA: %s" % (cert_id, err))
        if installed.valid:
            self.changes[cert_id] = _change("keep", cert_id, item["client"], ["rate limited by the CA, retry after %d s" % exc.seconds])

    def _failed(self, item, reason):
        cert_id = item["id"]
        self.r["failed_orders"][cert_id] = reason
        if self.found[cert_id].valid:
            self.changes[cert_id] = _change("keep", cert_id, item["client"], ["order failed: %s; the installed certificate stays" % reason])

    def _record(self, item):
        cert_id = item["id"]
        self.changes[cert_id] = _change(item["action"], cert_id, item["client"], item["detail"])
        if item["op"] == "install":
            self.r["installed"].append(cert_id)
        elif item["op"] == "order":
            self.r["renewed" if item["reason"] == "renew" else "issued"].append(cert_id)
        elif item["op"] == "remove":
            self.r["removed"].append(cert_id)
        if item["op"] != "meta":
            self.before_views[cert_id] = self.found[cert_id].view()
            self.after_views[cert_id] = item["view"]

    # the result
    def _result(self, wanted, found, removals, installs, orders):
        removed = {i["id"] for i in removals}
        kept = [cid for cid, ch in self.changes.items() if ch["action"] == "keep" and cid not in wanted]
        planned = {i["id"]: i for i in installs}
        planned.update((o["id"], o) for o in orders if o["id"] in self.r["issued"] + self.r["renewed"])
        present, covered = [], {}
        end = self.clock()
        for cert_id in sorted(set(wanted) | set(kept)):
            if cert_id in removed:
                continue
            if self.check_mode and cert_id in planned:
                # What the run would install; a new ACME certificate has no expiry date yet.
                names, not_after = planned[cert_id]["names"], planned[cert_id].get("not_after")
            else:
                installed = read_installed(self.store, cert_id, end) if cert_id in self.changes and not self.check_mode else found[cert_id]
                if not installed.valid:
                    continue
                names, not_after = installed.names, installed.not_after
            present.append(cert_id)
            covered[cert_id] = list(names)
            self.expiry[cert_id] = (list(names), not_after)
            if not_after is not None and not_after - end < datetime.timedelta(days=self.p["validity_warning_days"]):
                self.warnings.append("certificate %s expires in %s (%s)" % (cert_id, span(not_after - end), iso(not_after)))
        for key in ("issued", "renewed", "installed", "removed"):
            self.r[key] = sorted(self.r[key])
        changes = [self.changes[cid] for cid in sorted(self.changes)]
        changed = any(c["action"] != "keep" for c in changes)
        return dict(self.r, changed=changed, changes=changes, present=present, covered=covered,
                    diff={"before": diff_text(self.before_views), "after": diff_text(self.after_views)},
                    warnings=list(self.warnings))

    def failure_message(self, result):
        parts = ["%s: refused: %s" % (cid, why) for cid, why in sorted(result["refused"].items())]
        parts += ["%s: order failed: %s" % (cid, why) for cid, why in sorted(result["failed_orders"].items())]
        return ("%d certificate(s) failed: " % len(parts)) + "; ".join(parts) if parts else None


def _show(value):
    return "none" if value is None else str(value)


def run_module(module):
    """The module tls_certificates once its arguments are checked: the libraries, the run (under the host-wide lock
    unless in check mode: it writes the store, the accounts and the challenge root), the result; exits the module."""
    params = module.params
    with_acme = any(c["source"] == "acme" for c in params["certificates"])
    lacking = missing(acme=with_acme and not module.check_mode)
    if lacking:
        module.fail_json(msg=missing_required_lib(lacking[0]), exception=lacking[1])
    blocked = webroot_warning(params["webroot"]) if with_acme else None
    if blocked:
        module.warn(blocked)
    run = CertificateRun(params, check_mode=module.check_mode)
    try:
        if module.check_mode:
            result = run.run()
        else:
            result = run_locked(module, "fracto.hosting.tls_certificates", run.run, params["reseller"])
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="certificate store: %s" % exc, **run.r)
    if not module.check_mode:
        try:
            result["metrics_written"] = write_certificate_metrics(run, result, params["reseller"], params["metrics_dir"])
        except OSError as exc:  # the certificates are in place: a metrics file that cannot be written is a warning
            module.warn("metrics file in %s: %s" % (params["metrics_dir"], exc))
    diff = result.pop("diff")
    for warning in result.pop("warnings"):
        module.warn(warning)
    if module._diff:
        result["diff"] = dict(before=diff["before"], after=diff["after"], before_header=params["store"], after_header=params["store"])
    failure = run.failure_message(result)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)
