"""The product roles as an Ansible team uses them: one way in for the resolved state (playbooks/resolve.yml, checked by
the role fracto_state before any task of a role), an argument spec for every variable, tags per role, become on the
platform host plays, and one call site per module (a handler includes the converge's own task file)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
ROLES = REPO / "roles"
PRODUCT_ROLES = ["fracto_base", "fracto_ip", "fracto_web", "fracto_mail", "fracto_backup", "fracto_migrate"]
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml")) + sorted((REPO / "bench").glob("*.yml"))


def ansible_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false",
               ANSIBLE_VAULT_IDENTITY_LIST="platform@%s,demo@%s" % (REPO / "inventories" / "platform" / "vault-password.txt",
                                                                   REPO / "inventories" / "demo" / "vault-password.txt"))
    return env


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def tasks_in(items):
    """Every task of a task list, blocks, rescue and always sections included."""
    for item in items or []:
        yield item
        for section in ("block", "rescue", "always"):
            yield from tasks_in(item.get(section))


def module_call_sites(role, module):
    sites = []
    for path in sorted((ROLES / role).glob("*/*.yml")):
        if path.parent.name in ("tasks", "handlers"):
            sites += [path.relative_to(ROLES / role).as_posix() for task in tasks_in(load(path)) if module in task]
    return sites


@pytest.mark.parametrize("role, module, task_file, handler", [
    ("fracto_web", "fracto.hosting.web_sites", "sites.yml", "Serve the certificates just installed"),
    ("fracto_mail", "fracto.hosting.mail_server", "server.yml", "Serve the mail certificates just installed"),
])
def test_the_handler_runs_the_converge_task_file_and_the_module_has_one_call_site(role, module, task_file, handler):
    """The module runs twice (the converge, then again once new certificates are installed) from ONE task: a second
    copy of its arguments could leave one out and take that part of the configuration away at every renewal."""
    assert module_call_sites(role, module) == ["tasks/%s" % task_file]
    main = list(tasks_in(load(ROLES / role / "tasks" / "main.yml")))
    assert [t["ansible.builtin.import_tasks"] for t in main if "ansible.builtin.import_tasks" in t].count(task_file) == 1
    handlers = {h["name"]: h for h in load(ROLES / role / "handlers" / "main.yml")}
    assert handlers[handler].get("ansible.builtin.include_tasks") == task_file
    notifying = [t for t in main if handler in (t.get("notify") if isinstance(t.get("notify"), list) else [t.get("notify")])]
    assert [next(iter(k for k in t if k.startswith("fracto.hosting."))) for t in notifying] == ["fracto.hosting.tls_certificates"]


def is_template(value):
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", PRODUCT_ROLES)
def test_every_default_has_an_argument_spec(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    spec = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]
    options = spec["options"]
    assert spec.get("short_description") and spec.get("description")
    # The host's slice of the resolved state is documented in the description, not validated (copied whole otherwise).
    assert role + "__state" not in options and "C(%s__state)" % role in " ".join(spec["description"])
    missing = sorted(set(defaults) - set(options) - {role + "__state"})
    assert not missing, "%s: variables of defaults/main.yml without an argument spec: %s" % (role, missing)
    for name, option in options.items():
        assert name.startswith(role + "__"), name
        assert option.get("type") and option.get("description"), "%s: type and description" % name
        if name in defaults and not is_template(defaults[name]):
            assert option.get("default") == defaults[name], "%s: the spec's default is not defaults/main.yml's" % name
        else:
            assert "default" not in option, "%s: computed (or per site): no literal default in the spec" % name
    # The resolved state is the role's required input; it comes from localhost's facts, never from a silent default.
    assert options[role + "__public"]["required"]
    # ... read once per host by the dependency fracto_state (each read of localhost's variables copies its facts).
    text = (ROLES / role / "defaults" / "main.yml").read_text(encoding="utf-8")
    assert "hostvars['localhost']" not in text
    assert ('%s__state: "{{ fracto_state__host' % role) in text and ('%s__public: "{{ fracto_state__public }}"' % role) in text
    reads = (ROLES / "fracto_state" / "tasks" / "main.yml").read_text(encoding="utf-8")
    assert "fracto_state__host: \"{{ hostvars['localhost']['ansible_facts']['fracto_state']['hosts'].get(inventory_hostname, {}) }}\"" in reads
    assert "fracto_state__public: \"{{ hostvars['localhost']['ansible_facts']['fracto_state_public'] }}\"" in reads


@pytest.mark.parametrize("role", PRODUCT_ROLES)
def test_every_role_first_checks_the_resolved_state(role):
    meta = load(ROLES / role / "meta" / "main.yml")
    assert meta["dependencies"] == [{"role": "fracto_state", "fracto_state__role": role}]


@pytest.mark.parametrize("role", PRODUCT_ROLES)
def test_a_role_applied_alone_without_the_resolved_state_stops_first_naming_what_is_missing(role, tmp_path):
    """A minimal playbook (the role, no resolve.yml): the run stops at the role's first task with a message naming the
    role, the missing fact and the play to import, and never tries to reach the host (it does not exist)."""
    playbook = tmp_path / "alone.yml"
    playbook.write_text("---\n- name: The role alone\n  hosts: all\n  gather_facts: false\n  roles: [%s]\n" % role)
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "nohost.invalid,", str(playbook)], cwd=str(tmp_path),
                          env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert ("%s needs the resolved state of the reseller, the fact fracto_state of localhost, and it is missing: "
            "import playbooks/resolve.yml" % role) in " ".join(output.split()), output
    assert "UNREACHABLE" not in output and "unreachable=0" in output and "ok=1 " in " ".join(output.split())
    assert "TASK [%s :" % role not in output  # no task of the role itself ran, not even its argument validation


def list_tasks(*args):
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventories" / "platform"), "-e",
                           "fracto_reseller_dir=%s" % (REPO / "inventories" / "demo"), *args, "--list-tasks"],
                          cwd=str(REPO), env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_site_yml_with_a_role_tag_validates_resolves_and_converges_that_role_only():
    out = list_tasks(str(REPO / "playbooks" / "site.yml"), "--tags", "fracto_web")
    assert "Validate fracto_ip_pool, fracto_reseller, fracto_packages and fracto_clients\tTAGS: [always]" in out
    assert "fracto_state : Resolve packages, overrides and defaults into per-host state\tTAGS: [always]" in out
    assert "fracto_web : Converge users, docroots, PHP-FPM pools and vhosts\tTAGS: [fracto_web]" in out
    assert "fracto_web : Order, renew and install the certificates\tTAGS: [fracto_web]" in out
    assert "Print and save the plan (check mode) or the report of this run\tTAGS: [always]" in out
    # The other roles: only their checks (the state is there, their arguments, their platform settings), which contact
    # no host.
    for role in ("fracto_base", "fracto_ip", "fracto_mail", "fracto_backup"):
        lines = [line.strip() for line in out.splitlines() if line.strip().startswith(role + " :")]
        assert lines and all(line.startswith((role + " : Validating arguments", role + " : Refuse ")) for line in lines), lines
    assert "Check that the platform's backup SSH key" not in out


@pytest.mark.parametrize("tag", ["fracto_base", "fracto_ip", "fracto_web", "fracto_mail", "fracto_backup"])
def test_site_yml_has_a_tag_per_role(tag):
    out = list_tasks(str(REPO / "playbooks" / "site.yml"), "--tags", tag)
    assert "%s : Validating arguments" % tag in out
    assert len([line for line in out.splitlines() if line.strip().startswith(tag + " :")]) > 1


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.relative_to(REPO).as_posix() for p in PLAYBOOKS])
def test_the_state_is_resolved_in_one_place_and_host_plays_become_root(playbook):
    plays = load(playbook)
    text = playbook.read_text(encoding="utf-8")
    assert "resolve: true" not in text, "resolve through playbooks/resolve.yml (roles/fracto_state/tasks/resolve.yml)"
    imports = [p.get("ansible.builtin.import_playbook", "") for p in plays]
    if any(i.endswith("resolve.yml") for i in imports):
        position = next(n for n, i in enumerate(imports) if i.endswith("resolve.yml"))
        assert all(i for i in imports[:position]), "only validate.yml may come before resolve.yml"
        # No play touches a host before the state is validated and resolved.
    if playbook.parent.name == "playbooks":
        for play in plays:
            if "hosts" in play and play["hosts"] != "localhost":
                assert play.get("become") is True, "%s: %s" % (playbook.name, play["name"])


@pytest.mark.parametrize("playbook, roles", [("site.yml", PRODUCT_ROLES[:-1]), ("migrate_site.yml", ["fracto_migrate"])])
def test_every_role_argument_spec_holds_for_the_demo_state_without_contacting_a_host(playbook, roles, tmp_path):
    """A tag no task has: only what is tagged always runs (validation, resolution, each role's state check and
    argument validation, the report), none of which reaches a host; the demo's resolved state passes every role's
    argument spec."""
    # The demo's platform inventory reads the backup key and the pinned host keys that molecule/lab/lab.yml collects:
    # stand-ins, so that the test needs no lab (argument validation templates every role variable).
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    (lab / "known_hosts").write_text("backup01.fracto.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn\n")
    env = dict(ansible_env(), FRACTO_REPORT_DIR=str(tmp_path), FRACTO_LAB_DIR=str(lab))
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventories" / "platform"), "-e",
                           "fracto_reseller_dir=%s" % (REPO / "inventories" / "demo"), str(REPO / "playbooks" / playbook),
                           "--tags", "no_such_tag"], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "UNREACHABLE" not in output and "failed=0" in output
    for role in roles:
        assert "TASK [%s : Validating arguments against arg spec 'main'" % role in output


@pytest.mark.parametrize("setting, expected", [
    ('fracto_mail__fail2ban_ignore: ["198.51.100.1", "10.0.0.1\\n"]\n',
     ["fracto_mail__fail2ban_ignore: every entry must be an address or a network", '10.0.0.1\\n']),
    ("fracto_mail__greylist_score: 6\n",
     ["fracto_mail__greylist_score: must be below fracto_mail__rspamd_actions.add_header (6)"]),
], ids=["never-banned-address", "greylist-score"])
def test_a_bad_mail_platform_setting_is_refused_before_any_host_is_touched(tmp_path, setting, expected):
    """fracto_mail__fail2ban_ignore (written into fail2ban's jails and rspamd's greylisting) with an entry that holds a
    newline, a greylisting score not below add_header: refused by the role's first tasks, run in every run (tag
    always), naming the setting and the rule; no host is contacted."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    (lab / "known_hosts").write_text("backup01.fracto.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn\n")
    env = dict(ansible_env(), FRACTO_REPORT_DIR=str(tmp_path), FRACTO_LAB_DIR=str(lab))
    bad = tmp_path / "bad.yml"
    bad.write_text(setting)
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventories" / "platform"), "-e",
                           "fracto_reseller_dir=%s" % (REPO / "inventories" / "demo"), "-e", "@%s" % bad,
                           str(REPO / "playbooks" / "site.yml"), "--tags", "no_such_tag"], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-4000:]
    assert all(text in output for text in expected), output[-4000:]
    assert "UNREACHABLE" not in output
