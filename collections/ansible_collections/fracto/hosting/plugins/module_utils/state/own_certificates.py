# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificates a client brings (certificates:): each bundle checked (certs.py), the client's names it serves,
one certificate per name and per vhost, and files that no other client's certificate shares.

OwnCertificateChecks is one of the parts StateValidator (model.py) is made of.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state import certs, rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping, want_list, want_str
from ansible_collections.fracto.hosting.plugins.module_utils.state.names import covered_by
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import client_names, client_vhosts


class OwnCertificateChecks:
    """certificates: of a client."""

    def certificates(self, path, client, raw):
        client["certificates"] = []
        if not want_list(self.problems, path, raw):
            return
        own_names = set(client_names(client))
        seen = {}
        for i, item in enumerate(raw):
            cpath = path / i
            facts = self.certificate_bundle(cpath, client, item, seen)
            if facts is None:
                continue
            names = self.certificate_names(cpath, item, facts, own_names)
            self.certificate_overlaps(cpath, client, item["name"], names)
            client["certificates"].append({
                "name": item["name"], "names": names, "cert": item["cert"], "chain": item.get("chain") or "",
                "key": item["key"], "fingerprint": facts["fingerprint"], "not_after": facts["not_after"],
            })

    def certificate_bundle(self, cpath, client, item, seen):
        """The facts of one certificate's bundle (certs.inspect_bundle), None when it is refused; seen: its names so far."""
        if not check_mapping(self.problems, cpath, item, ("name", "cert", "chain", "key", "names"),
                             required=("name", "cert", "key")):
            return None
        if not want_str(self.problems, cpath / "name", item.get("name"), rules.CERT_NAME,
                        "must be a slug of at most 64: [a-z0-9][a-z0-9-]*"):
            return None
        if item["name"] in seen:
            self.problems.error(cpath / "name", "certificate name %s is used twice" % item["name"])
            return None
        seen[item["name"]] = True
        # Client 'a' with 'b-shop' and client 'a-b' with 'shop' would share the files of 'a-b-shop'.
        cert_id = "%s-%s" % (client["id"], item["name"])
        if cert_id in self.cert_ids:
            self.problems.error(cpath / "name", "certificate %s would share its files (%s) with %s"
                                % (item["name"], cert_id, self.cert_ids[cert_id]))
            return None
        self.cert_ids[cert_id] = str(cpath)
        try:
            facts = certs.inspect_bundle(item.get("cert"), item.get("chain"), item.get("key"))
        except certs.BundleError as exc:
            self.problems.error(cpath, "certificate %s refused: %s" % (item["name"], exc))
            return None
        if facts["days_left"] < certs.WARN_DAYS:
            self.problems.warn(cpath, "certificate %s expires in %d days (%s)" % (item["name"], facts["days_left"], facts["not_after"]))
        return facts

    def certificate_names(self, cpath, item, facts, own_names):
        """The client's names the certificate serves: those of names: it covers, else every one it covers."""
        if "names" not in item:
            names = sorted(n for n in own_names if covered_by(n, facts["names"]))
            if not names:
                self.problems.error(cpath, "certificate %s covers none of this client's names (it covers %s)"
                                    % (item["name"], ", ".join(facts["names"])))
            return names
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
        return names

    def certificate_overlaps(self, cpath, client, cert_name, names):
        """One certificate per name (among those already checked), and per vhost all of its names or none."""
        for name in names:
            for other in client["certificates"]:
                if name in other["names"]:
                    self.problems.error(cpath, "%s is covered by both %s and %s: say which one serves it with names:"
                                        % (name, other["name"], cert_name))
        for vhost in client_vhosts(client):
            inside = [n for n in vhost if n in names]
            if inside and len(inside) != len(vhost):
                self.problems.error(cpath, "certificate %s covers %s but not %s, served by the same vhost (one certificate per vhost)"
                                    % (cert_name, ", ".join(inside), ", ".join(n for n in vhost if n not in names)))
