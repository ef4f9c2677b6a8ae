"""`swarmdeck record log` for every kind, `swarmdeck learn ...`, `swarmdeck export markdown` and
`swarmdeck digest`, end to end through the console script's entry point."""

from __future__ import annotations

import json

import pytest
from test_cli import expect_error, expect_json_error


@pytest.fixture(autouse=True)
def _hash_embedder(monkeypatch) -> None:
    monkeypatch.setenv("SWARMDECK_EMBEDDER", "hash")


def log(sdj, kind: str, **fields) -> dict:
    args = []
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            args += ["--field", f"{name}={one}"]
    return sdj("record", "log", kind, *args)


class TestRecordLog:
    def test_new_kinds_with_typed_fields_from_the_command_line(self, sdj):
        est = log(sdj, "estimate", feature="auth", estimated_sessions=3, actual_sessions=5, files_created=4,
                  files_modified=2, completed_at="2026-01-02T00:00:00Z")
        assert est["fields"] == {"feature": "auth", "estimated_sessions": 3, "actual_sessions": 5,
                                 "files_created": 4, "files_modified": 2, "completed_at": 1767312000.0}
        retro = log(sdj, "retrospective", feature="auth", new_patterns="token queue", spike_accuracy=70)
        assert retro["fields"]["new_patterns"] == ["token queue"]
        two = log(sdj, "retrospective", feature="auth", new_patterns=["a", "b"])
        assert two["fields"]["new_patterns"] == ["a", "b"]
        state = log(sdj, "pipeline_state", pipeline_id="p1", feature_request="auth", status="building",
                    state='{"decomposition": {"total_steps": 4}}')
        assert state["fields"]["state"] == {"decomposition": {"total_steps": 4}}
        agent_log = log(sdj, "agent_log", agent_name="why", phase="impulse", action="analyze", success="false",
                        duration_ms=12.5)
        assert agent_log["fields"]["success"] is False and agent_log["fields"]["duration_ms"] == 12.5

    def test_the_human_rendering_shows_times_in_iso(self, sd):
        out = sd("record", "log", "docs_cache", "--field", "library=fastapi", "--field", "version=0.115.0",
                 "--field", "fetched_at=1767225600").stdout
        assert "fetched at: 2026-01-01T00:00:00Z" in out

    @pytest.mark.parametrize("kind, pair, fragment", [
        ("retrospective", "spike_accuracy=140", "spike_accuracy must be a number from 0 to 100, not 140"),
        ("estimate", "files_created=two", "files_created must be a whole number of at least 0, not 'two'"),
        ("docs_cache", "source_url=file:///etc/passwd", "source_url must be an http or https URL"),
        ("complexity_snapshot", "snapshot_at=later", "snapshot_at must be epoch seconds or an ISO 8601 time"),
    ])
    def test_a_bad_field_is_one_line_naming_it_and_nothing_is_written(self, sd, sdj, kind, pair, fragment):
        required = {"retrospective": ["feature=x"], "estimate": ["feature=x", "estimated_sessions=2"],
                    "docs_cache": ["library=x", "version=1"], "complexity_snapshot": ["file_path=x.py"]}[kind]
        args = [a for r in required for a in ("--field", r)] + ["--field", pair]
        expect_error(sd("record", "log", kind, *args), 1, fragment)
        expect_json_error(sd("--json", "record", "log", kind, *args), 1, "invalid_argument", fragment)
        assert sdj("record", "list") == []

    def test_the_help_lists_every_kind_with_its_types(self, sd):
        out = sd("record", "log", "--help").stdout
        for fragment in ("complexity_snapshot", "spike_accuracy:0-100", "files_created:int>=0",
                         "source_url:url", "completed_at:time", "new_patterns:list"):
            assert fragment in out


class TestLearn:
    def test_each_question_answers_in_text_and_json(self, sd, sdj):
        log(sdj, "estimate", feature="a", estimated_sessions=2, actual_sessions=3)
        log(sdj, "estimate", feature="b", estimated_sessions=2, actual_sessions=4)
        log(sdj, "pipeline_state", pipeline_id="p1", feature_request="auth", status="building", planned_steps=2,
            completed_steps=5)
        log(sdj, "docs_cache", library="fastapi", version="1", fetched_at="2020-01-01T00:00:00Z")
        log(sdj, "complexity_snapshot", file_path="x.py", complexity_score=10)
        log(sdj, "complexity_snapshot", file_path="x.py", complexity_score=20)
        sdj("agent", "register", "builder", "--type", "coder")
        sdj("agent", "log", "builder", "--phase", "build", "--action", "x", "--duration-ms", "1500")

        assert sdj("learn", "correction")["factor"] == 1.75
        assert "correction factor 1.75" in sd("learn", "correction").stdout
        assert [p["crept"] for p in sdj("learn", "scope-creep")] == [True]
        assert "CREPT" in sd("learn", "scope-creep").stdout
        assert [d["library"] for d in sdj("learn", "stale-docs")["docs"]] == ["fastapi"]
        assert "expired" in sd("learn", "stale-docs").stdout
        assert [(a["agent"], a["mean_ms"]) for a in sdj("learn", "slow-agents")] == [("builder", 1500)]
        assert "1.5s" in sd("learn", "slow-agents").stdout
        assert [(f["file_path"], f["trend"], f["growing"]) for f in sdj("learn", "complexity")] == [
            ("x.py", 2.0, True)]
        assert "GROWING" in sd("learn", "complexity").stdout

    def test_an_empty_swarm_says_what_is_missing(self, sd):
        assert "no completed estimate" in sd("learn", "correction").stdout
        assert "no pipeline states logged" in sd("learn", "scope-creep").stdout
        assert sd("learn", "stale-docs").stdout.strip() == "no stale documentation"


class TestExportMarkdown:
    def test_the_same_state_writes_the_same_bytes_and_touches_nothing(self, sd, sdj, tmp_path):
        log(sdj, "decision", decision="<b>use</b> [x](http://evil)", rationale="one file")
        log(sdj, "failure", feature="chat", approach="ws", why_failed="dropped", lesson="broker")
        out = tmp_path / "docs"
        first = sdj("export", "markdown", out)
        assert first["records"] == 2 and all(f["changed"] for f in first["files"])
        texts = {p.name: p.read_bytes() for p in out.iterdir()}
        assert set(texts) == {"DECISIONS.md", "FAILURES.md", "PATTERNS.md", "RETROSPECTIVES.md", "ESTIMATES.md",
                              "learning.json"}
        mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        again = sdj("export", "markdown", out)
        assert not any(f["changed"] for f in again["files"])
        assert {p.name: p.read_bytes() for p in out.iterdir()} == texts
        assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
        assert "\\<b\\>use\\</b\\> \\[x\\](`http://evil`)" in texts["DECISIONS.md"].decode()
        assert len(json.loads(texts["learning.json"])["records"]) == 2

        log(sdj, "decision", decision="later", rationale="r")
        third = sdj("export", "markdown", out)
        assert {f["file"] for f in third["files"] if f["changed"]} == {"DECISIONS.md", "learning.json"}
        assert sd("export", "markdown", out).stdout.startswith(f"3 record(s) exported to {out}: nothing changed")

    def test_a_namespace_prefix_limits_the_records(self, sdj, tmp_path):
        sdj("record", "log", "decision", "--field", "decision=a", "--field", "rationale=r", "--namespace", "project:a")
        sdj("record", "log", "decision", "--field", "decision=b", "--field", "rationale=r", "--namespace", "project:b")
        assert sdj("export", "markdown", tmp_path, "--namespace", "project:a")["records"] == 1


class TestDigest:
    def test_printed_then_remembered(self, sd, sdj):
        sdj("milestone", "add", "M1", "--objective", "first")
        log(sdj, "decision", decision="SQLite first", rationale="one file")
        first = sd("digest").stdout
        assert "since the swarm began" in first and "SQLite first (because one file)" in first
        second = sd("digest").stdout
        assert "since the last digest" in second and "## Decisions (0)" in second

        log(sdj, "failure", feature="chat", approach="ws", why_failed="dropped", lesson="broker")
        peek = sdj("digest", "--peek")
        assert [f["summary"] for f in peek["failures"]] == ["chat: dropped; lesson: broker"]
        assert [f["summary"] for f in sdj("digest")["failures"]] == ["chat: dropped; lesson: broker"]  # not remembered
        assert sdj("digest")["failures"] == []
        assert len(sdj("digest", "--since", "1d")["failures"]) == 1
        assert sdj("digest")["failures"] == []  # --since did not move the mark either

    def test_written_as_markdown(self, sd, sdj, tmp_path):
        log(sdj, "decision", decision="<img src=x>", rationale="r")
        target = tmp_path / "reports" / "digest.md"
        out = sd("digest", "--write", target).stdout
        assert out.startswith(f"digest written to {target}: 0 failure(s), 1 decision(s)")
        text = target.read_text()
        assert text.startswith("# Swarm digest, ") and "\\<img src=x\\>" in text

    def test_a_read_only_seat_reads_and_remembers_nothing(self, sd, sdj):
        log(sdj, "decision", decision="d", rationale="r")
        ro = sd("--read-only", "--json", "digest")
        assert ro.returncode == 0, ro.stderr
        assert len(json.loads(ro.stdout)["decisions"]) == 1
        assert len(sdj("digest")["decisions"]) == 1
