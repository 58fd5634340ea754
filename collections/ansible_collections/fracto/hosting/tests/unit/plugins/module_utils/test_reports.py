# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""reports.py (issue 17): documents go to the report directory and, under ansible-runner, to the job's artifacts."""

from __future__ import annotations

import os

from ansible_collections.fracto.hosting.plugins.module_utils.reports import ARTIFACT_SUBDIR, RUNNER_ARTIFACT_ENV, ReportWriter, artifact_dir


def test_outside_ansible_runner_a_document_goes_to_the_report_directory_only(tmp_path):
    writer = ReportWriter(tmp_path / "reports", environ={})
    path = writer.write("plan-demo.json", "{}")
    assert path == str(tmp_path / "reports" / "plan-demo.json")
    assert (tmp_path / "reports" / "plan-demo.json").read_text() == "{}"
    assert writer.artifacts == [] and writer.result() == {}


def test_under_ansible_runner_a_copy_goes_to_the_artifact_directory(tmp_path):
    artifacts = tmp_path / "artifacts" / "job-1"
    artifacts.mkdir(parents=True)
    writer = ReportWriter(tmp_path / "reports", environ={RUNNER_ARTIFACT_ENV: str(artifacts)})
    writer.write("gdpr-demo.json", '{"a": 1}')
    writer.write("gdpr-demo.md", "# a")
    copies = [str(artifacts / ARTIFACT_SUBDIR / name) for name in ("gdpr-demo.json", "gdpr-demo.md")]
    assert writer.result() == {"artifacts": copies}
    assert [open(p, encoding="utf-8").read() for p in copies] == ['{"a": 1}', "# a"]
    assert writer.paths == [str(tmp_path / "reports" / "gdpr-demo.json"), str(tmp_path / "reports" / "gdpr-demo.md")]


def test_a_report_directory_that_is_the_artifact_directory_gets_one_copy(tmp_path):
    artifacts = tmp_path / "artifacts" / "job-1"
    (artifacts / ARTIFACT_SUBDIR).mkdir(parents=True)
    writer = ReportWriter(artifacts / ARTIFACT_SUBDIR, environ={RUNNER_ARTIFACT_ENV: str(artifacts)})
    writer.write("plan-demo.json", "{}")
    assert writer.result() == {} and os.listdir(artifacts / ARTIFACT_SUBDIR) == ["plan-demo.json"]


def test_a_relative_missing_or_empty_artifact_variable_is_no_artifact_directory(tmp_path):
    assert artifact_dir({}) is None
    assert artifact_dir({RUNNER_ARTIFACT_ENV: ""}) is None
    assert artifact_dir({RUNNER_ARTIFACT_ENV: "artifacts/1"}) is None
    assert artifact_dir({RUNNER_ARTIFACT_ENV: str(tmp_path / "missing")}) is None
    assert artifact_dir({RUNNER_ARTIFACT_ENV: str(tmp_path)}) == str(tmp_path / ARTIFACT_SUBDIR)


def test_a_document_in_a_subdirectory_and_the_pruning_of_what_this_run_did_not_write(tmp_path):
    reports = tmp_path / "reports"
    (reports / "gdpr-demo" / "sub.html").mkdir(parents=True)  # a directory is never removed
    (reports / "gdpr-demo" / "old.html").write_text("earlier run")
    (reports / "gdpr-demo" / "keep.txt").write_text("not a page")
    writer = ReportWriter(reports, environ={})
    path = writer.write("gdpr-demo/c1.html", "<p>")
    assert path == str(reports / "gdpr-demo" / "c1.html")
    assert writer.prune("gdpr-demo", ".html") == [str(reports / "gdpr-demo" / "old.html")]
    assert sorted(os.listdir(reports / "gdpr-demo")) == ["c1.html", "keep.txt", "sub.html"]
    assert writer.prune("missing", ".html") == []
