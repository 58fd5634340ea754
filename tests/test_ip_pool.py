"""playbooks/ip_pool.yml on the demo platform: free and allocated addresses, without touching a host."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_pool_view_of_the_demo_platform(tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), FRACTO_REPORT_DIR=str(tmp_path),
               ANSIBLE_VAULT_IDENTITY_LIST="platform@%s,demo@%s" % (ROOT / "inventories" / "platform" / "vault-password.txt",
                                                                      ROOT / "inventories" / "demo" / "vault-password.txt"))
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(ROOT / "inventories" / "platform"),
                          "-e", "fracto_reseller_dir=%s" % (ROOT / "inventories" / "demo"),
                          str(ROOT / "playbooks" / "ip_pool.yml")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "150 addresses, 144 free, 4 allocated, 2 bound" in run.stdout
    assert "free: 198.51.100.104-198.51.100.109, 198.51.100.112-198.51.100.249" in run.stdout
    view = json.loads((tmp_path / "ip-pool-demo.json").read_text())
    by_address = {a["address"]: a for a in view["addresses"]}
    assert by_address["198.51.100.100"]["clients"] == ["cliente2"] and by_address["198.51.100.100"]["sides"] == ["web"]
    assert by_address["198.51.100.110"] == {"address": "198.51.100.110", "reseller": "other-reseller", "host": "cloud01",
                                             "state": "allocated", "clients": [], "sides": []}
    assert view["per_reseller"] == {"demo": 4, "other-reseller": 2}
