"""Helpers shared by the scenarios' testinfra tests: the lab's DNS and addresses, seen from the machine."""

import os
import pathlib

import dns.resolver
import pytest

PROJECT = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", pathlib.Path(__file__).resolve().parents[3]))
LAB_DNS = "198.51.100.20"  # acme, fixed in .config/molecule/config.yml


@pytest.fixture(scope="session")
def lab_resolve():
    """Resolve a lab name through the lab's own DNS, as Pebble and the hosts do."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [LAB_DNS]
    resolver.lifetime = 5

    def resolve(name):
        return sorted(answer.to_text() for answer in resolver.resolve(name, "A"))

    return resolve


@pytest.fixture(scope="session")
def project():
    return PROJECT
