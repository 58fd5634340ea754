# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the GDPR report judges, gathered on the controller (the action fracto.hosting.gdpr_report): the probes of
every name a client is served at, run in parallel, and the evidence the hosts sent back (job records, jobs).

The probes are probes.py's; the judging is evaluate.py's.
"""

from __future__ import annotations

import concurrent.futures

from ansible_collections.fracto.hosting.plugins.module_utils.gdpr import evaluate, probes

PROBE_WORKERS = 8


def probe_targets(clients, dns, addresses):
    """({web name: address}, {mail name: address}) of the clients' names that resolve: one probe per name, shared by
    every client that uses it (a reseller's mail name, for example)."""
    web_targets, mail_targets = {}, {}
    for client in clients.values():
        for name in evaluate.web_names(client):
            address = evaluate.address_of(name, dns, addresses)
            if address:
                web_targets[name] = address
        for name in client.get("mail_names") or []:
            address = evaluate.address_of(name, dns, addresses)
            if address:
                mail_targets[name] = address
    return web_targets, mail_targets


def probe_all(web_targets, mail_targets, ca_bundle, timeout):
    """{"https": {name: probe}, "http": {...}, "mail": {...}}: every probe, at most PROBE_WORKERS at once."""
    found = {"https": {}, "http": {}, "mail": {}}
    with concurrent.futures.ThreadPoolExecutor(max_workers=PROBE_WORKERS) as pool:
        futures = {}
        for name, address in web_targets.items():
            futures[pool.submit(probes.probe_https, address, name, ca_bundle, timeout)] = ("https", name)
            futures[pool.submit(probes.probe_http, address, name, timeout)] = ("http", name)
        for name, address in mail_targets.items():
            futures[pool.submit(probes.probe_mail, address, name, ca_bundle, timeout)] = ("mail", name)
        for future in concurrent.futures.as_completed(futures):
            kind, name = futures[future]
            found[kind][name] = future.result()
    return found


def job_records(evidence):
    """The job records of every host's evidence ({host: gdpr_evidence result}), each with its host."""
    records = []
    for host, host_result in sorted(evidence.items()):
        for record in (host_result or {}).get("records") or []:
            records.append(dict(record, host=host))
    return records


def backup_jobs(jobs):
    """{host: ["<client>.<side>"]} as [{client, side, host}]; None (the jobs were not listed) stays None."""
    if jobs is None:
        return None
    found = []
    for host, names in sorted(jobs.items()):
        for job in names or []:
            client, _dot, side = str(job).rpartition(".")
            found.append({"client": client, "side": side, "host": host})
    return found
