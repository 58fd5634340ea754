#!/usr/bin/env python3
"""Write the lab's trust anchors for playbooks/gdpr_report.yml: Pebble's current root and the demo's commercial CA.

Pebble draws a new root at every start; its management API (https://198.51.100.20:15000/roots/0) is certified by
the lab CA in /etc/pebble/lab-ca.pem on the acme container. The demo's commercial CA is the chain of cliente1's
certificate shop-ov in inventories/demo. Usage: scripts/lab-roots.py [OUT] (default .fracto/lab/roots.pem).
"""

import pathlib
import ssl
import subprocess
import sys
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ACME = "198.51.100.20"  # fixed in .config/molecule/config.yml


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".fracto" / "lab" / "roots.pem"
    lab_ca = subprocess.run(["docker", "exec", "acme", "cat", "/etc/pebble/lab-ca.pem"], capture_output=True, text=True,
                            check=True).stdout
    context = ssl.create_default_context(cadata=lab_ca)
    context.check_hostname = False  # the management API is reached by address
    with urllib.request.urlopen("https://%s:15000/roots/0" % ACME, context=context, timeout=10) as response:
        pebble = response.read().decode()
    clients = ROOT / "inventories" / "demo" / "group_vars" / "all" / "clients" / "cliente1.yml"
    commercial = yaml.safe_load(clients.read_text())["fracto_clients__cliente1"]["cliente1"]["certificates"][0]["chain"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(pebble.strip() + "\n" + commercial.strip() + "\n")
    print(out)


if __name__ == "__main__":
    main()
