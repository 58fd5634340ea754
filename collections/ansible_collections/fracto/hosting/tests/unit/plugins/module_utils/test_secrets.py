# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""secrets.py, the one place of redaction (issue 12): URL passwords masked whole, no_log narrowed to the secrets."""

from __future__ import annotations

from ansible.module_utils.common.parameters import _list_no_log_values, remove_values
from ansible_collections.fracto.hosting.plugins.module_utils.secrets import narrow_no_log, redact, redact_url, url_passwords

SECRET = "UNIT-SECRET"


def test_a_password_with_a_raw_at_sign_is_masked_whole():
    assert redact_url("rest:https://u:p@%s@host:8000/x" % SECRET) == "rest:https://u:****@host:8000/x"
    assert url_passwords("rest:https://u:p@%s@host/x" % SECRET) == ["p@%s" % SECRET]


def test_several_urls_in_one_text_are_each_redacted_and_the_rest_kept():
    text = "a rest:https://u:%s-1@h/x, b sftp://r@h//x and s3:https://k:%s-2@h/b" % (SECRET, SECRET)
    assert redact_url(text) == "a rest:https://u:****@h/x, b sftp://r@h//x and s3:https://k:****@h/b"


def test_redact_masks_secret_keys_and_urls_deep():
    value = {"jobs": [{"repository": "rest:https://u:%s@h/" % SECRET, "client": "c1"}], "db_password": SECRET, "keep": 7}
    assert redact(value) == {"jobs": [{"repository": "rest:https://u:****@h/", "client": "c1"}], "db_password": "****", "keep": 7}


def test_narrowing_keeps_the_names_of_a_no_log_list_visible_and_its_secrets_masked():
    jobs = [{"client": "c1", "side": "web", "repository": "rest:https://u:pw-%s@h/c1" % SECRET, "keep": {"daily": 7}},
            {"client": "c2", "side": "web", "repository": "sftp:restic@h:/c2", "keep": {"daily": 7}}]
    passwords = {"c1/web": "restic-%s-1" % SECRET}
    spec = {"jobs": {"type": "list", "elements": "dict", "no_log": True}, "passwords": {"type": "dict", "no_log": True}}
    values = _list_no_log_values(spec, {"jobs": jobs, "passwords": passwords})
    result = {"changes": [{"id": "c1/web", "detail": ["repository rest:https://u:pw-%s@h/c1, keep 7" % SECRET]},
                          {"id": "c2/web", "detail": ["restic-%s-1 leaked" % SECRET]}]}
    masked = remove_values(result, values)
    assert "c1/web" not in str(masked)  # what Ansible alone does: every leaf of jobs is masked, names and "7" too
    narrow_no_log(values, jobs, secret=[passwords])
    shown = remove_values(result, values)
    assert shown["changes"][0]["id"] == "c1/web" and shown["changes"][1]["id"] == "c2/web"
    assert "keep 7" in shown["changes"][0]["detail"][0]
    assert SECRET not in str(shown)
