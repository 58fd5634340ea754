# -*- coding: utf-8 -*-
"""The playbooks under ansible-runner, as AWX runs them (issue 17): a private data dir made from the runner/ template,
the project and the platform inventory linked in, the demo reseller's state given as data (env/extravars).

What runs without a platform host: validate.yml and ip_pool.yml (the plan needs the hosts: molecule). Each run
leaves its events and its set_stats data (the playbook_on_stats event's artifact_data, what AWX shows per job),
its report JSON among the artifacts (artifacts/<ident>/fracto/), and no vault password and no vaulted value in any
artifact file: the vault files of inventories/demo and inventories/platform are decrypted here to know them.
Vault passwords reach the runs both ways runner/README.md gives: files named by the vault identity list
(env/envvars), and prompts answered from env/passwords.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "runner"
VAULTS = {  # vault id: (password file, vault files)
    "platform": (ROOT / "inventories/platform/vault-password.txt", sorted((ROOT / "inventories/platform").glob("group_vars/all/vault*.yml"))),
    "demo": (ROOT / "inventories/demo/vault-password.txt", sorted((ROOT / "inventories/demo").glob("group_vars/all/vault*.yml"))),
}


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


class _Secrets(list):
    """Never shown (pytest prints a test's locals when it fails)."""

    def __repr__(self):
        return "<%d secret texts>" % len(self)


@pytest.fixture(scope="module")
def secrets():
    """Every vault password and every vaulted value of the demo and the platform (each line of a multi-line one)."""
    found = _Secrets()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
    for vault_id, (password_file, files) in VAULTS.items():
        found.append(password_file.read_text().strip())
        assert files, "no vault file for %s" % vault_id
        for path in files:
            clear = subprocess.run([str(pathlib.Path(sys.executable).with_name("ansible-vault")), "view",
                                    "--vault-id", "%s@%s" % (vault_id, password_file), str(path)],
                                   env=env, capture_output=True, text=True, check=True).stdout
            for text in _strings(yaml.safe_load(clear)):
                lines = [line.strip() for line in text.splitlines()]
                found.extend(line for line in lines if len(line) >= 12 and not line.startswith("-----"))
    assert len(found) >= 10
    return found


def private_data_dir(tmp_path, prompts=False):
    """A private data dir made as runner/README.md says, with its reports in tmp_path/reports."""
    pdd = tmp_path / "pdd"
    shutil.copytree(TEMPLATE, pdd, ignore=shutil.ignore_patterns("README.md"))
    (pdd / "project").symlink_to(ROOT)
    (pdd / "inventory").symlink_to(ROOT / "inventories" / "platform")
    envvars = yaml.safe_load((pdd / "env" / "envvars").read_text())
    envvars["FRACTO_REPORT_DIR"] = str(tmp_path / "reports")
    if prompts:
        del envvars["ANSIBLE_VAULT_IDENTITY_LIST"]
        (pdd / "env" / "cmdline").write_text(" ".join("--vault-id %s@prompt" % vault_id for vault_id in VAULTS) + "\n")
        answers = {r"^Vault password \(%s\):\s*?$" % vault_id: password_file.read_text().strip()
                   for vault_id, (password_file, _files) in VAULTS.items()}
        (pdd / "env" / "passwords").write_text(yaml.safe_dump(answers))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return pdd


def run(pdd, playbook, ident):
    """ansible-runner run; the artifacts directory of the run. The shell's Ansible settings are not passed on: the
    project's ansible.cfg is read from the project directory, as in an AWX job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "FRACTO_"))}
    env["PATH"] = os.pathsep.join((str(pathlib.Path(sys.executable).parent), env.get("PATH", "")))
    done = subprocess.run([sys.executable, "-m", "ansible_runner", "run", str(pdd), "-p", playbook, "--ident", ident],
                          env=env, capture_output=True, text=True, timeout=600)
    artifacts = pdd / "artifacts" / ident
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (artifacts / "rc").read_text().strip() == "0"
    assert (artifacts / "status").read_text().strip() == "successful"
    return artifacts


def run_stats(artifacts):
    """The set_stats data of the run: the artifact_data of its playbook_on_stats event."""
    events = [json.loads(path.read_text()) for path in (artifacts / "job_events").glob("*.json")]
    assert len(events) > 3, "the run left %d events" % len(events)
    stats = [event for event in events if event.get("event") == "playbook_on_stats"]
    assert len(stats) == 1
    return stats[0]["event_data"]["artifact_data"]


def assert_no_secret(pdd, secrets):
    files = [path for path in (pdd / "artifacts").rglob("*") if path.is_file()]
    assert len(files) > 5
    for path in files:
        data = path.read_bytes()
        leaked = sum(1 for secret in secrets if secret.encode("utf-8") in data)
        assert leaked == 0, "%d secret texts in the artifact %s" % (leaked, path.relative_to(pdd))


def test_validate_and_the_ip_pool_run_under_ansible_runner_with_their_reports_among_the_artifacts(tmp_path, secrets):
    pdd = private_data_dir(tmp_path)
    artifacts = run(pdd, "playbooks/validate.yml", "validate")
    state = run_stats(artifacts)["fracto_state"]
    assert state["reseller"] == "demo" and state["clients"] == 3 and state["hosts"] == ["cloud01", "mail01"]
    assert "the state of reseller demo is valid" in state["msg"]
    assert "PLAY RECAP" in (artifacts / "stdout").read_text()

    artifacts = run(pdd, "playbooks/ip_pool.yml", "ip-pool")
    report = artifacts / "fracto" / "ip-pool-demo.json"
    pool = run_stats(artifacts)["fracto_ip_pool"]
    assert pool["artifacts"] == [str(report)]
    assert pool["path"] == str(tmp_path / "reports" / "ip-pool-demo.json")
    assert json.loads(report.read_text()) == json.loads((tmp_path / "reports" / "ip-pool-demo.json").read_text())
    assert json.loads(report.read_text())["reseller"] == "demo"
    assert_no_secret(pdd, secrets)


def test_vault_passwords_answered_at_their_prompts_reach_no_artifact(tmp_path, secrets):
    pdd = private_data_dir(tmp_path, prompts=True)
    artifacts = run(pdd, "playbooks/ip_pool.yml", "prompts")
    assert (artifacts / "fracto" / "ip-pool-demo.json").is_file()
    assert "--vault-id" in (artifacts / "command").read_text()
    assert_no_secret(pdd, secrets)
