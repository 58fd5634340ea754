# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client's databases: names and users under the client's prefix, each owned once across the reseller, one
password per user.

DatabaseChecks is one of the parts StateValidator (model.py) is made of.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state import rules
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import check_mapping
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import MIN_PASSWORD


class DatabaseChecks:
    """databases: of a client."""

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
