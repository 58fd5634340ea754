# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's own files in one call (module_utils/config_files.py): what is written, checked, loaded and put back."""

from __future__ import annotations

import os

import pytest
from ansible_collections.fracto.hosting.plugins.module_utils import config_files as cf
from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic

ROOT = os.geteuid() == 0


class Host:
    """Commands run, with the answers of those that fail."""

    def __init__(self, fail=(), show=""):
        self.ran, self.fail, self.show = [], set(fail), show

    def __call__(self, argv):
        self.ran.append(" ".join(argv))
        if argv[:2] == ["systemctl", "show"]:
            return 0, self.show, ""
        return (1, "", "%s: bad line 3" % argv[0]) if " ".join(argv) in self.fail else (0, "", "")


def sets(tmp_path, content="a = 1;\n", service="rspamd", check=("rspamadm", "configtest")):
    owner = "root" if ROOT else None
    files = [{"dest": str(tmp_path / "local.d" / "actions.conf"), "content": content, "mode": "0644"},
             {"dest": str(tmp_path / "jail.local"), "content": "[sshd]\n", "mode": "0640"}]
    if owner is None:
        import grp
        import pwd
        for item in files:
            item["owner"], item["group"] = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    return cf.checked_sets([{"service": service, "check": [list(check)], "files": files}])


def test_new_files_are_written_checked_and_the_service_reloaded(tmp_path):
    host = Host()
    changes = cf.plan(sets(tmp_path))
    assert [why for _s, files in changes for _f, _b, why in files] == ["content", "content"]
    loaded, failure = cf.apply(changes, host, write_atomic)
    assert failure is None and loaded == ["rspamd"]
    assert host.ran == ["rspamadm configtest", "systemctl reload-or-restart rspamd"]
    assert (tmp_path / "local.d" / "actions.conf").read_text() == "a = 1;\n"
    assert oct(os.stat(tmp_path / "jail.local").st_mode & 0o777) == "0o640"
    assert cf.plan(sets(tmp_path)) == []  # a second run writes, checks and reloads nothing


def test_a_changed_mode_alone_is_written_again(tmp_path):
    cf.apply(cf.plan(sets(tmp_path)), Host(), write_atomic)
    os.chmod(tmp_path / "jail.local", 0o666)
    changes = cf.plan(sets(tmp_path))
    assert [(f["dest"], why) for _s, files in changes for f, _b, why in files] == [(str(tmp_path / "jail.local"), "mode")]


def test_a_refused_check_puts_every_file_back_and_reloads_nothing(tmp_path):
    cf.apply(cf.plan(sets(tmp_path)), Host(), write_atomic)
    host = Host(fail={"rspamadm configtest"})
    loaded, failure = cf.apply(cf.plan(sets(tmp_path, content="a = ;\n")), host, write_atomic)
    assert loaded == [] and failure == "rspamd refused the new configuration (rspamadm configtest): rspamadm: bad line 3"
    assert (tmp_path / "local.d" / "actions.conf").read_text() == "a = 1;\n"
    assert not any(c.startswith("systemctl") for c in host.ran)


def test_a_refused_first_check_removes_the_files_it_wrote(tmp_path):
    loaded, failure = cf.apply(cf.plan(sets(tmp_path)), Host(fail={"rspamadm configtest"}), write_atomic)
    assert failure and not (tmp_path / "jail.local").exists() and not (tmp_path / "local.d" / "actions.conf").exists()


def test_a_failed_reload_puts_the_files_back_and_loads_them_again(tmp_path):
    cf.apply(cf.plan(sets(tmp_path)), Host(), write_atomic)
    host = Host(fail={"systemctl reload-or-restart rspamd"})
    loaded, failure = cf.apply(cf.plan(sets(tmp_path, content="a = 2;\n")), host, write_atomic)
    assert failure.startswith("systemctl reload rspamd failed: ") and failure.endswith("the previous configuration was put back")
    assert (tmp_path / "local.d" / "actions.conf").read_text() == "a = 1;\n"
    assert host.ran.count("systemctl reload-or-restart rspamd") == 2


def test_only_stopped_or_disabled_services_are_started():
    show = ("Id=postfix.service\nActiveState=active\nUnitFileState=enabled\n\n"
            "Id=redis-server.service\nActiveState=failed\nUnitFileState=enabled\n\n"
            "Id=fail2ban.service\nActiveState=active\nUnitFileState=disabled\n")
    host = Host(show=show)
    assert cf.to_start(host, ["postfix", "redis-server", "fail2ban"]) == ["redis-server", "fail2ban"]
    assert cf.start(host, ["redis-server", "fail2ban"]) is None
    assert host.ran[-1] == "systemctl enable --now -- redis-server fail2ban"
    assert cf.to_start(host, []) == []


def test_a_file_the_service_must_no_longer_read_is_removed_checked_and_put_back_on_a_refusal(tmp_path):
    old = tmp_path / "sites-enabled" / "default"
    old.parent.mkdir()
    old.write_text("server { listen 80 default_server; }\n")
    absent = cf.checked_sets([{"service": "nginx", "check": [["nginx", "-t"]], "absent": [str(old)]}])
    changes = cf.plan(absent)
    assert [(f["dest"], before, why) for _s, files in changes for f, before, why in files] == [
        (str(old), "server { listen 80 default_server; }\n", "absent")]
    loaded, failure = cf.apply(changes, Host(fail={"nginx -t"}), write_atomic)
    assert failure and old.read_text() == "server { listen 80 default_server; }\n"  # the check refused: put back
    host = Host()
    loaded, failure = cf.apply(cf.plan(absent), host, write_atomic)
    assert failure is None and loaded == ["nginx"] and not old.exists()
    assert host.ran == ["nginx -t", "systemctl reload-or-restart nginx"]
    assert cf.plan(absent) == []  # gone: a second run does nothing


@pytest.mark.parametrize("entry, expected", [
    ({"service": "nginx", "absent": ["sites-enabled/default"]}, "sets[0].absent[0]: must be an absolute path"),
    ({"service": "../x"}, "sets[0].service: must be a systemd unit name"),
    ({"service": "rspamd", "action": "kill"}, "sets[0].action: must be one of reload, restart"),
    ({"service": "rspamd", "check": ["rspamadm configtest"]}, "sets[0].check: must be a list of commands"),
    ({"service": "rspamd", "files": [{"dest": "etc/x", "content": ""}]}, "sets[0].files[0].dest: must be an absolute path"),
    ({"service": "rspamd", "files": [{"dest": "/etc/x", "content": "", "mode": "rw"}]}, "sets[0].files[0].mode: must be an octal"),
])
def test_a_bad_set_is_refused_naming_the_field(entry, expected):
    with pytest.raises(cf.ConfigError) as refused:
        cf.checked_sets([entry])
    assert str(refused.value).startswith(expected)
