# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the reseller state (docs/state.md) into a normalised model.

validate_state() takes the raw variables and the inventory, checks every key
and every rule, reports all problems at once and returns the normalised model
that resolve.py turns into per-host desired state. No value of a secret field
(passwords, keys) ever reaches a message.

StateValidator is made of one part per section of the state, each in its module:

    values.py            every string; names, addresses, inventory hosts, pool addresses
    platform.py          fracto_platform, fracto_ip_pool, fracto_reseller, fracto_packages
    clients.py           each client (package, features, hosts) and the GDPR rules
    domains.py           domains, aliases, subdomains, PHP, dedicated IPs
    own_certificates.py  the certificates a client brings
    mail.py              mailboxes, aliases, mail and webmail names
    backups.py           backup targets
    databases.py         databases and their users
    migration.py         the migration from the old platform

The names and defaults they share are in schema.py; the names a validated client is served at in served_names.py.
"""

from __future__ import annotations

from ansible_collections.fracto.hosting.plugins.module_utils.state.backups import BackupChecks, repository_host
from ansible_collections.fracto.hosting.plugins.module_utils.state.clients import ClientChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.databases import DatabaseChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.domains import DomainChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.issues import Problems
from ansible_collections.fracto.hosting.plugins.module_utils.state.mail import MailChecks, parse_quota
from ansible_collections.fracto.hosting.plugins.module_utils.state.migration import MigrationChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.own_certificates import OwnCertificateChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.platform import PlatformChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.schema import merge_client_sources
from ansible_collections.fracto.hosting.plugins.module_utils.state.served_names import client_names, client_vhosts, mail_host_fqdn
from ansible_collections.fracto.hosting.plugins.module_utils.state.sftp import SftpChecks
from ansible_collections.fracto.hosting.plugins.module_utils.state.values import ValueChecks

# The names importers use (resolve.py, client_state, the tests), whichever part of the state they live in.
__all__ = ["StateValidator", "client_names", "client_vhosts", "mail_host_fqdn", "merge_client_sources", "parse_quota",
           "repository_host", "validate_state"]


class StateValidator(ValueChecks, PlatformChecks, ClientChecks, DomainChecks, OwnCertificateChecks, MailChecks, BackupChecks,
                     DatabaseChecks, MigrationChecks, SftpChecks):
    """Checks the raw variables and builds the normalised model.

    Every part reads and writes the attributes set here: the raw variables and inventory, the problems found,
    the model built so far and the registers of what is claimed across the reseller.
    """

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

    def run(self):
        self.controls()
        self.platform()
        self.ip_pool()
        self.reseller()
        self.packages()
        self.clients()
        return self.model


def validate_state(variables, inventory):
    """Validate everything; return (model, problems). The model is only usable without errors."""
    validator = StateValidator(variables, inventory)
    model = validator.run()
    return model, validator.problems
