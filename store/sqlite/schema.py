"""Numbered migrations, each applied in the same transaction as its record.

The schema version is kept twice: ``PRAGMA user_version`` (cheap to check on open) and the
``schema_migrations`` table (which names and dates every step). ``PRAGMA application_id``
marks the file as a swarmdeck database so that any other SQLite file is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import audit

APPLICATION_ID = 0x53574B44  # "SWKD"

_CORE = """
CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  REAL NOT NULL
);

CREATE TABLE swarm_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    paused      INTEGER NOT NULL DEFAULT 0,
    reason      TEXT,
    paused_by   TEXT,
    paused_at   REAL
);
INSERT INTO swarm_state (id, paused) VALUES (1, 0);

CREATE TABLE milestones (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    position            INTEGER NOT NULL UNIQUE,
    objective           TEXT NOT NULL DEFAULT '',
    planned_weeks       TEXT,
    hour_budget         REAL CHECK (hour_budget IS NULL OR hour_budget >= 0),
    hours_spent         REAL NOT NULL DEFAULT 0 CHECK (hours_spent >= 0),
    deliverables        TEXT NOT NULL DEFAULT '[]',
    acceptance_criteria TEXT NOT NULL DEFAULT '[]',
    status              TEXT NOT NULL DEFAULT 'locked' CHECK (status IN
                        ('locked', 'open', 'review', 'approved', 'conditional', 'escalated')),
    required_approvals  INTEGER NOT NULL DEFAULT 1 CHECK (required_approvals >= 1),
    created_at          REAL NOT NULL
);

CREATE TABLE validation_reports (
    id                INTEGER PRIMARY KEY,
    milestone_id      INTEGER NOT NULL REFERENCES milestones(id),
    version           INTEGER NOT NULL,
    submitted_by      TEXT NOT NULL,
    submitted_at      REAL NOT NULL,
    summary           TEXT NOT NULL DEFAULT '',
    proposed_decision TEXT CHECK (proposed_decision IN
                      ('APPROVE', 'CONDITIONAL', 'REVISE', 'ESCALATE')),
    content_hash      TEXT NOT NULL,
    UNIQUE (milestone_id, version)
);

CREATE TABLE report_criteria (
    report_id  INTEGER NOT NULL REFERENCES validation_reports(id),
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('met', 'not_met', 'unknown')),
    evidence   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
) WITHOUT ROWID;

CREATE TABLE report_metrics (
    report_id  INTEGER NOT NULL REFERENCES validation_reports(id),
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      REAL NOT NULL,
    target     REAL NOT NULL,
    comparator TEXT NOT NULL CHECK (comparator IN ('<', '<=', '>', '>=', '==')),
    unit       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
) WITHOUT ROWID;

CREATE TABLE report_issues (
    report_id   INTEGER NOT NULL REFERENCES validation_reports(id),
    position    INTEGER NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    description TEXT NOT NULL,
    PRIMARY KEY (report_id, position)
) WITHOUT ROWID;

CREATE TABLE report_recommendations (
    report_id  INTEGER NOT NULL REFERENCES validation_reports(id),
    position   INTEGER NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (report_id, position)
) WITHOUT ROWID;

CREATE TABLE gate_decisions (
    id            INTEGER PRIMARY KEY,
    milestone_id  INTEGER NOT NULL REFERENCES milestones(id),
    report_id     INTEGER NOT NULL REFERENCES validation_reports(id),
    report_hash   TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('APPROVE', 'CONDITIONAL', 'REVISE', 'ESCALATE')),
    rationale     TEXT NOT NULL CHECK (length(trim(rationale)) > 0),
    reviewer      TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
    decided_at    REAL NOT NULL
);
CREATE INDEX gate_decisions_milestone ON gate_decisions (milestone_id, id);
CREATE INDEX gate_decisions_report ON gate_decisions (report_id, reviewer);
CREATE INDEX gate_decisions_decided ON gate_decisions (decided_at);
CREATE TRIGGER gate_decisions_no_update BEFORE UPDATE ON gate_decisions
BEGIN SELECT RAISE(ABORT, 'gate decisions are append-only: they cannot be changed'); END;
CREATE TRIGGER gate_decisions_no_delete BEFORE DELETE ON gate_decisions
BEGIN SELECT RAISE(ABORT, 'gate decisions are append-only: they cannot be deleted'); END;

CREATE TABLE gate_conditions (
    id            INTEGER PRIMARY KEY,
    milestone_id  INTEGER NOT NULL REFERENCES milestones(id),
    decision_id   INTEGER NOT NULL REFERENCES gate_decisions(id),
    text          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_by     TEXT,
    closed_at     REAL,
    note          TEXT
);
CREATE INDEX gate_conditions_milestone ON gate_conditions (milestone_id, status);

CREATE TABLE agents (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    agent_type          TEXT NOT NULL,
    colour              TEXT,
    model               TEXT,
    status              TEXT NOT NULL DEFAULT 'idle' CHECK (status IN
                        ('idle', 'working', 'blocked', 'failed', 'offline')),
    current_task_id     INTEGER,
    completion          REAL NOT NULL DEFAULT 0 CHECK (completion BETWEEN 0 AND 100),
    blockers            TEXT NOT NULL DEFAULT '[]',
    next_milestone      TEXT,
    last_heartbeat      REAL,
    stale_after_seconds REAL NOT NULL DEFAULT 60 CHECK (stale_after_seconds > 0),
    registered_at       REAL NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    agent_name  TEXT,
    status      TEXT NOT NULL DEFAULT 'created' CHECK (status IN
                ('created', 'active', 'paused', 'terminated', 'archived')),
    state       TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent_name, created_at);

CREATE TABLE tasks (
    id                         INTEGER PRIMARY KEY,
    description                TEXT NOT NULL CHECK (length(trim(description)) > 0),
    summary                    TEXT,
    source                     TEXT NOT NULL CHECK (source IN
                               ('human', 'agent_requirements', 'agent_planner', 'agent_implementation')),
    agent_type                 TEXT NOT NULL DEFAULT 'general',
    base_priority              INTEGER NOT NULL DEFAULT 5 CHECK (base_priority BETWEEN 0 AND 10),
    status                     TEXT NOT NULL CHECK (status IN
                               ('pending', 'blocked', 'ready', 'running', 'completed', 'failed', 'cancelled')),
    priority                   REAL NOT NULL DEFAULT 0,
    dependency_depth           INTEGER NOT NULL DEFAULT 0,
    milestone_id               INTEGER REFERENCES milestones(id),
    parent_task_id             INTEGER REFERENCES tasks(id),
    session_id                 TEXT,
    deadline                   REAL,
    estimated_duration_seconds INTEGER CHECK (estimated_duration_seconds IS NULL
                               OR estimated_duration_seconds > 0),
    input_data                 TEXT,
    result_data                TEXT,
    error_message              TEXT,
    assigned_agent             TEXT,
    retry_count                INTEGER NOT NULL DEFAULT 0,
    max_retries                INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_seconds            INTEGER NOT NULL DEFAULT 3600 CHECK (timeout_seconds > 0),
    lease_expires_at           REAL,
    created_at                 REAL NOT NULL,
    updated_at                 REAL NOT NULL,
    started_at                 REAL,
    finished_at                REAL
);
CREATE INDEX tasks_claim ON tasks (status, priority DESC, id);
CREATE INDEX tasks_claim_by_type ON tasks (status, agent_type, priority DESC, id);
-- status leads in these partial indexes so that, without ANALYZE statistics, the planner still
-- prefers them to tasks_created (status, ...): it compares constrained columns, not index sizes.
CREATE INDEX tasks_lease ON tasks (status, lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_deadline ON tasks (status, deadline)
    WHERE deadline IS NOT NULL AND status IN ('pending', 'blocked', 'ready');
CREATE INDEX tasks_milestone ON tasks (milestone_id, status);
CREATE INDEX tasks_milestone_recent ON tasks (milestone_id, id);
CREATE INDEX tasks_agent ON tasks (assigned_agent, status);
CREATE INDEX tasks_parent ON tasks (parent_task_id);
-- list_tasks filtered by milestone, source or agent_type alone, newest first (set once, at enqueue).
CREATE INDEX tasks_source ON tasks (source, id);
CREATE INDEX tasks_type ON tasks (agent_type, id);
CREATE INDEX tasks_created ON tasks (status, created_at);
CREATE INDEX tasks_updated ON tasks (updated_at);
-- The charts: finished work by finish time, covering every column they read (filters included), so
-- a bucket of throughput or a window of estimates is one index range and never a table row; the same
-- by agent, so each agent's window is one range too (no sort of the window to group it by agent);
-- and each milestone's tasks by creation time (the burn-down).
CREATE INDEX tasks_finished ON tasks (finished_at, milestone_id, agent_type, status, assigned_agent,
    started_at, estimated_duration_seconds) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_agent_finished ON tasks (assigned_agent, finished_at, status, started_at, milestone_id,
    agent_type) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_milestone_created ON tasks (milestone_id, created_at, agent_type);

CREATE TABLE task_dependencies (
    task_id          INTEGER NOT NULL REFERENCES tasks(id),
    prerequisite_id  INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (task_id, prerequisite_id),
    CHECK (task_id != prerequisite_id)
) WITHOUT ROWID;
CREATE INDEX task_dependencies_prerequisite ON task_dependencies (prerequisite_id, task_id);

-- Counts and priority sums per status, kept by triggers so queue_status never scans tasks.
CREATE TABLE task_counts (
    status        TEXT PRIMARY KEY,
    n             INTEGER NOT NULL DEFAULT 0,
    priority_sum  REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO task_counts (status) VALUES
    ('pending'), ('blocked'), ('ready'), ('running'), ('completed'), ('failed'), ('cancelled');
CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    UPDATE task_counts SET n = n + 1, priority_sum = priority_sum + NEW.priority
    WHERE status = NEW.status;
END;
CREATE TRIGGER task_counts_update AFTER UPDATE OF status, priority ON tasks BEGIN
    UPDATE task_counts SET n = n - 1, priority_sum = priority_sum - OLD.priority
    WHERE status = OLD.status;
    UPDATE task_counts SET n = n + 1, priority_sum = priority_sum + NEW.priority
    WHERE status = NEW.status;
END;
CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1, priority_sum = priority_sum - OLD.priority
    WHERE status = OLD.status;
END;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    ts         REAL NOT NULL,
    actor      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    entity     TEXT NOT NULL,
    entity_id  TEXT,
    payload    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_entity ON events (entity, entity_id, id);
-- (entity, id) and (kind, id): "the newest N of this entity/kind" reads N index entries, where an
-- index without id had to sort every match first (or scan the table in id order).
CREATE INDEX events_entity_recent ON events (entity, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_actor ON events (actor, id);
CREATE INDEX events_ts ON events (ts);
-- Failed attempts (final or retried) by agent and time, for the success rate the charts show for an
-- agent; only these events pay for it, and counting them never parses a payload.
CREATE INDEX events_failures ON events (json_extract(payload, '$.agent'), ts)
    WHERE kind IN ('task.failed', 'task.retried');

-- Queue depth over time: the unfinished task counts as of the last status change in each 10 s slot,
-- upserted in the same transaction as the change. A chart reads one primary-key probe per bucket, at
-- any history length; replaying status events could not (a cancel does not say what it left).
CREATE TABLE queue_samples (
    slot     INTEGER PRIMARY KEY,  -- floor(ts / 10)
    ts       REAL NOT NULL,
    pending  INTEGER NOT NULL,
    blocked  INTEGER NOT NULL,
    ready    INTEGER NOT NULL,
    running  INTEGER NOT NULL
);
"""

_MEMORY = """
CREATE TABLE session_events (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    ts          REAL NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX session_events_session ON session_events (session_id, id);

-- One row per version; the current version of (namespace, key) has is_current = 1.
CREATE TABLE memory_entries (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT NOT NULL CHECK (length(namespace) > 0),
    key         TEXT NOT NULL CHECK (length(key) > 0),
    version     INTEGER NOT NULL CHECK (version >= 1),
    value       TEXT NOT NULL,
    is_json     INTEGER NOT NULL DEFAULT 0,
    memory_type TEXT NOT NULL CHECK (memory_type IN ('semantic', 'episodic', 'procedural')),
    created_by  TEXT NOT NULL,
    session_id  TEXT,
    task_id     INTEGER,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    is_current  INTEGER NOT NULL DEFAULT 1,
    deleted_at  REAL,
    deleted_by  TEXT,
    UNIQUE (namespace, key, version)
);
CREATE UNIQUE INDEX memory_current ON memory_entries (namespace, key) WHERE is_current = 1;
-- list_memories, newest first: the first N current entries, without sorting every one of them.
CREATE INDEX memory_recent ON memory_entries (created_at, id) WHERE is_current = 1;

-- Seed 003's learning records: failures, decisions, retrospectives, spikes, patterns, estimates.
CREATE TABLE learning_records (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN
                  ('failure', 'decision', 'retrospective', 'spike', 'pattern', 'estimate')),
    namespace     TEXT NOT NULL,
    title         TEXT NOT NULL,
    fields        TEXT NOT NULL,
    agent         TEXT,
    task_id       INTEGER,
    milestone_id  INTEGER,
    session_id    TEXT,
    created_at    REAL NOT NULL
);
CREATE INDEX learning_records_kind ON learning_records (kind, id);

CREATE TABLE documents (
    id            INTEGER PRIMARY KEY,
    namespace     TEXT NOT NULL,
    path          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    chunk_count   INTEGER NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    UNIQUE (namespace, path)
);

CREATE TABLE document_chunks (
    id           INTEGER PRIMARY KEY,
    document_id  INTEGER NOT NULL REFERENCES documents(id),
    position     INTEGER NOT NULL,
    text         TEXT NOT NULL,
    UNIQUE (document_id, position)
);

-- Everything searchable, in one place: memories (current, not deleted), learning records and
-- document chunks. The FTS index and the vectors hang off this table.
CREATE TABLE search_items (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    ref_id        INTEGER NOT NULL,
    namespace     TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    memory_type   TEXT,
    agent         TEXT,
    task_id       INTEGER,
    milestone_id  INTEGER,
    created_at    REAL NOT NULL,
    embedded_model TEXT,  -- the model whose vector is current; NULL until (re)embedded
    UNIQUE (kind, ref_id)
);
CREATE INDEX search_items_pending ON search_items (id) WHERE embedded_model IS NULL;
CREATE INDEX search_items_embedded ON search_items (embedded_model);
CREATE INDEX search_items_namespace ON search_items (namespace, created_at);
CREATE INDEX search_items_kind ON search_items (kind, created_at);
CREATE INDEX search_items_agent ON search_items (agent, created_at);

CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, body, content = 'search_items', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER search_items_ai AFTER INSERT ON search_items BEGIN
    INSERT INTO search_fts (rowid, title, body) VALUES (NEW.id, NEW.title, NEW.body);
END;
CREATE TRIGGER search_items_ad AFTER DELETE ON search_items BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', OLD.id, OLD.title, OLD.body);
END;
CREATE TRIGGER search_items_au AFTER UPDATE OF title, body ON search_items BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, body) VALUES ('delete', OLD.id, OLD.title, OLD.body);
    INSERT INTO search_fts (rowid, title, body) VALUES (NEW.id, NEW.title, NEW.body);
END;

-- One vector per item and model: the model and dimension are recorded with each vector, so a
-- change of model is visible (the old vectors stop counting) and the indexer re-embeds.
CREATE TABLE embeddings (
    item_id      INTEGER NOT NULL REFERENCES search_items(id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    dim          INTEGER NOT NULL,
    vector       BLOB NOT NULL,
    embedded_at  REAL NOT NULL,
    PRIMARY KEY (item_id, model)
) WITHOUT ROWID;
CREATE INDEX embeddings_model ON embeddings (model, item_id);

-- One sqlite-vec index per embedding model (created when that model stores its first vector).
CREATE TABLE vector_indexes (
    model       TEXT PRIMARY KEY,
    dim         INTEGER NOT NULL,
    table_name  TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);

-- Items the indexer could not embed (the embedder was down or refused): retried later.
CREATE TABLE embedding_failures (
    item_id     INTEGER PRIMARY KEY REFERENCES search_items(id) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    failed_at   REAL NOT NULL
);
-- index_status counts a model's failures and shows the newest error (the embedder may be down for all items).
CREATE INDEX embedding_failures_model ON embedding_failures (model, failed_at);
"""

_LIVENESS = """
-- A failed task upstream (failed for good) that holds this blocked task, kept by every write that can
-- change it, so that a screen or a count finds the tasks held by failures without walking the graph.
ALTER TABLE tasks ADD COLUMN held_by INTEGER;
CREATE INDEX tasks_held ON tasks (held_by) WHERE held_by IS NOT NULL;

-- How long an agent may stay stale (heartbeat older than stale_after_seconds) before the tasks it
-- claimed go back to the queue without waiting for their leases.
ALTER TABLE agents ADD COLUMN requeue_after_seconds REAL NOT NULL DEFAULT 300
    CHECK (requeue_after_seconds >= 0);
-- Reaping finds the agents past that moment by one index range (then their running tasks by tasks_agent).
CREATE INDEX agents_requeue_at ON agents (coalesce(last_heartbeat, 0) + stale_after_seconds + requeue_after_seconds);
"""

_IDENTITY = """
-- Reviewers are registered people. A name is kept in its canonical form (store/identity.py), as every
-- identity column written from now on is, so that one person has one spelling in the whole file.
-- Removing a reviewer keeps the row (removed_at, removed_by): past decisions still name a reviewer.
-- public_key: the reviewer's ed25519 public key (32 raw bytes), once they have one.
CREATE TABLE reviewers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    public_key  BLOB CHECK (public_key IS NULL OR (typeof(public_key) = 'blob' AND length(public_key) = 32)),
    added_at    REAL NOT NULL,
    added_by    TEXT NOT NULL,
    removed_at  REAL,
    removed_by  TEXT
);
CREATE TRIGGER reviewers_no_delete BEFORE DELETE ON reviewers
BEGIN SELECT RAISE(ABORT, 'reviewers are never deleted: remove one with `swarmdeck reviewer remove NAME` (its history stays)'); END;

-- Every lifted escalation, in the gate's history: who resumed the swarm, when and why. Append-only,
-- REPLACE included (it deletes without firing delete triggers, so it is refused before it can).
CREATE TABLE gate_resumptions (
    id            INTEGER PRIMARY KEY,
    milestone_id  INTEGER NOT NULL REFERENCES milestones(id),
    decision_id   INTEGER REFERENCES gate_decisions(id),  -- the ESCALATE decision it lifted
    resumed_by    TEXT NOT NULL CHECK (length(trim(resumed_by)) > 0),
    reason        TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    resumed_at    REAL NOT NULL
);
CREATE INDEX gate_resumptions_milestone ON gate_resumptions (milestone_id, id);
CREATE TRIGGER gate_resumptions_no_update BEFORE UPDATE ON gate_resumptions
BEGIN SELECT RAISE(ABORT, 'gate resumptions are append-only: they cannot be changed'); END;
CREATE TRIGGER gate_resumptions_no_delete BEFORE DELETE ON gate_resumptions
BEGIN SELECT RAISE(ABORT, 'gate resumptions are append-only: they cannot be deleted'); END;
CREATE TRIGGER gate_resumptions_no_replace BEFORE INSERT ON gate_resumptions
WHEN EXISTS (SELECT 1 FROM gate_resumptions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'gate resumptions are append-only: they cannot be replaced'); END;

-- Identities already in the file, in the registries and live state that later writes compare with
-- (history rows stay as written; they are compared in canonical form when read). An agent whose
-- canonical name another agent already has keeps its old spelling. swarmdeck_identity() is the
-- Python function store/identity.py defines, given to the connection that migrates.
UPDATE OR IGNORE agents SET name = swarmdeck_identity(name) WHERE name != swarmdeck_identity(name);
UPDATE tasks SET assigned_agent = swarmdeck_identity(assigned_agent)
WHERE assigned_agent IS NOT NULL AND assigned_agent != swarmdeck_identity(assigned_agent)
  AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.name = tasks.assigned_agent);
UPDATE swarm_state SET paused_by = swarmdeck_identity(paused_by)
WHERE paused_by IS NOT NULL AND paused_by != swarmdeck_identity(paused_by);
"""



def _append_only(table: str, noun: str, key: Sequence[str], unique: Sequence[Sequence[str]] = ()) -> str:
    """Triggers that keep ``table`` append-only against any connection, whatever its pragmas.

    BEFORE UPDATE and BEFORE DELETE refuse; BEFORE INSERT refuses a row whose key (or any UNIQUE
    column set) is taken, which is what stops REPLACE / INSERT OR REPLACE: their conflict resolution
    deletes the old row without firing delete triggers unless recursive_triggers is on. (An INTEGER
    PRIMARY KEY left to SQLite reads as -1 in a BEFORE INSERT trigger; no row has that id.)
    """
    def taken(columns: Sequence[str]) -> str:
        match = " AND ".join(f"{c} = NEW.{c}" for c in columns)
        return f"EXISTS (SELECT 1 FROM {table} WHERE {match})"

    conflicts = [f"(NEW.{key[0]} <> -1 AND {taken(key)})" if len(key) == 1 else taken(key)]
    conflicts += [taken(columns) for columns in unique]
    return f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{noun} are append-only: they cannot be changed'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{noun} are append-only: they cannot be deleted'); END;
CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {" OR ".join(conflicts)}
BEGIN SELECT RAISE(ABORT, '{noun} are append-only: an existing one cannot be replaced'); END;
"""


def _chain_events(conn: Any) -> None:
    """Hash-chain the events written before the chain existed, oldest first, in chunks."""
    last_id, last_hash = 0, audit.GENESIS
    while True:
        rows = conn.execute(
            "SELECT id, ts, actor, kind, entity, entity_id, payload FROM events "
            "WHERE id > ? ORDER BY id LIMIT 10000",
            (last_id,),
        ).fetchall()
        if not rows:
            return
        hashes = []
        for row in rows:
            last_hash = audit.event_hash(last_hash, *row)
            hashes.append((last_hash, row[0]))
        last_id = rows[-1][0]
        conn.executemany("UPDATE events SET hash = ? WHERE id = ?", hashes).close()


_AUDIT_COLUMN = """
-- SHA-256 over the previous event's hash and this event's content (store/audit.py), written in the same
-- transaction as the event: `swarmdeck audit verify` walks the chain.
ALTER TABLE events ADD COLUMN hash TEXT;
"""

_AUDIT_TRIGGERS = (
    _append_only("events", "events", ["id"])
    + _append_only("validation_reports", "validation reports", ["id"], unique=[["milestone_id", "version"]])
    + "".join(_append_only(table, "validation reports", ["report_id", "position"])
              for table in ("report_criteria", "report_metrics", "report_issues", "report_recommendations"))
    + """
CREATE TRIGGER gate_decisions_no_replace BEFORE INSERT ON gate_decisions
WHEN NEW.id <> -1 AND EXISTS (SELECT 1 FROM gate_decisions WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'gate decisions are append-only: an existing one cannot be replaced'); END;
"""
)

_SIGNED = """
-- Every act of a person on a gate carries their ed25519 signature (store/signing.py) over exactly what
-- the row records; every seat checks it against the reviewer's public key (reviewers.public_key), and
-- only verified approvals open a milestone and only a verified resume lifts a verified escalation.
ALTER TABLE gate_decisions ADD COLUMN signature BLOB;
ALTER TABLE gate_conditions ADD COLUMN close_signature BLOB;
ALTER TABLE gate_resumptions ADD COLUMN signature BLOB;
-- The newest verified ESCALATE the resume lifted (0: none was outstanding): what its signature covers,
-- so a resume can never be replayed on a later escalation.
ALTER TABLE gate_resumptions ADD COLUMN escalation_id INTEGER;

-- A decision's conditions are part of what its signature covers: read by decision.
CREATE INDEX gate_conditions_decision ON gate_conditions (decision_id, id);

-- What the signatures rest on does not change once set. A floor, like every trigger on a file that
-- agents can write: what a signature covers cannot be forged, what it rests on can only be refused.
CREATE TRIGGER reviewers_key_once BEFORE UPDATE OF public_key ON reviewers
WHEN OLD.public_key IS NOT NULL AND NEW.public_key IS NOT OLD.public_key
BEGIN SELECT RAISE(ABORT, 'a reviewer''s signing key never changes once registered'); END;
CREATE TRIGGER gate_conditions_closed_once BEFORE UPDATE ON gate_conditions WHEN OLD.status = 'closed'
BEGIN SELECT RAISE(ABORT, 'a closed condition cannot be changed'); END;
CREATE TRIGGER milestones_gate_fixed BEFORE UPDATE OF position, required_approvals ON milestones
WHEN NEW.position IS NOT OLD.position OR NEW.required_approvals IS NOT OLD.required_approvals
BEGIN SELECT RAISE(ABORT, 'a milestone''s place and the approvals its gate needs are fixed when it is added'); END;
"""

_LEANER_INDEXES = """
-- Only the indexes some statement's query plan uses (tests/store/test_index_use.py): every index on a
-- table is paid for by each write that changes one of its columns, and a claim and a completion change
-- status, assigned_agent, started_at, finished_at, lease_expires_at and updated_at.

-- Kept, though they look alike, because each serves a query the others cannot: tasks_milestone (a
-- milestone's tasks of a status: progress, the gate's counts), tasks_milestone_recent (its newest first:
-- without it 15 times the work) and tasks_milestone_created (the burn-down's creation-time ranges; with
-- status folded into it the gate's counts read every task of the milestone); events_entity (one entity's
-- history) and events_entity_recent (a kind of entity newest first): either alone scans or sorts events.

-- Read by no statement: tasks by parent or by last update, sessions by agent.
DROP INDEX tasks_parent;
DROP INDEX tasks_updated;
DROP INDEX sessions_agent;
-- search_items_embedded (embedded_model, then id) already lists the items without a vector in id order.
DROP INDEX search_items_pending;
-- Events by time served one question, when the first event was (the charts' "all" range): events are
-- appended in time order, so the first by id answers it, and every event written was paying for it.
DROP INDEX events_ts;

-- tasks_created was needed by one query, the oldest waiting task (queue_status): its successor holds the
-- waiting tasks only, so a claim deletes one entry and a completion none (ORs, not an IN, so that a bound
-- `status = ?` matches it).
DROP INDEX tasks_created;
CREATE INDEX tasks_waiting ON tasks (status, created_at)
    WHERE status = 'pending' OR status = 'blocked' OR status = 'ready';

-- An agent's tasks by status, then by finish time, in one index where there were two: its tasks
-- (newest first, or of a status), the counts per agent and status, a stale agent's running tasks,
-- and the charts' per-agent window (agent, 'completed', a finish-time range), covering what they read.
DROP INDEX tasks_agent;
DROP INDEX tasks_agent_finished;
CREATE INDEX tasks_agent ON tasks (assigned_agent, status, finished_at, started_at, milestone_id, agent_type);

"""

_REVIEW_DEADLINE = """
-- How long a submitted report may wait for a decision before the gate is overdue (the attention
-- inbox and `swarmdeck watch` escalate it then; nothing is ever decided because of it).
ALTER TABLE milestones ADD COLUMN review_within_seconds REAL
    CHECK (review_within_seconds IS NULL OR review_within_seconds > 0);
-- When each of an agent's current blockers was first reported ({blocker: time}, JSON): a blocker
-- older than a day needs a person (seed 002: "no critical blockers > 24 hours").
ALTER TABLE agents ADD COLUMN blockers_since TEXT;
"""

_LEARNING_KINDS = """
-- Every kind of seed 003's learning records: pattern usage, agent logs, pipeline states, the docs
-- cache and complexity snapshots beside the six before. SQLite cannot widen a CHECK in place: the
-- table is rebuilt, rows and ids as they were.
CREATE TABLE learning_records_new (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN
                  ('failure', 'decision', 'retrospective', 'spike', 'pattern', 'estimate',
                   'pattern_usage', 'agent_log', 'pipeline_state', 'docs_cache', 'complexity_snapshot')),
    namespace     TEXT NOT NULL,
    title         TEXT NOT NULL,
    fields        TEXT NOT NULL,
    agent         TEXT,
    task_id       INTEGER,
    milestone_id  INTEGER,
    session_id    TEXT,
    created_at    REAL NOT NULL
);
INSERT INTO learning_records_new (id, kind, namespace, title, fields, agent, task_id, milestone_id, session_id,
                                  created_at)
    SELECT id, kind, namespace, title, fields, agent, task_id, milestone_id, session_id, created_at
    FROM learning_records;
DROP TABLE learning_records;
ALTER TABLE learning_records_new RENAME TO learning_records;
CREATE INDEX learning_records_kind ON learning_records (kind, id);
"""

_PLANS = """
-- Plans are graphs (seed 004's parallel phases): a milestone opens when every gate it depends on has
-- passed. ``prerequisites`` is the JSON list of the milestone ids it waits for; NULL: the one before it,
-- as before. Fixed once added, like its place: removing one would open a gate's way.
ALTER TABLE milestones ADD COLUMN prerequisites TEXT;
-- A schedule (start date, ISO) beside planned_weeks, and money beside hours (seed 000's budget).
ALTER TABLE milestones ADD COLUMN starts_on TEXT;
ALTER TABLE milestones ADD COLUMN money_budget REAL CHECK (money_budget IS NULL OR money_budget >= 0);
ALTER TABLE milestones ADD COLUMN hour_rate REAL CHECK (hour_rate IS NULL OR hour_rate >= 0);
-- Cut or deferred by a person (seed 004's risk cut order): its tasks are not handed out and nothing
-- that depends on it opens. plan_version counts the acts, so the cached gate guard sees each one.
ALTER TABLE milestones ADD COLUMN plan_state TEXT NOT NULL DEFAULT 'active'
    CHECK (plan_state IN ('active', 'deferred', 'cut'));
ALTER TABLE milestones ADD COLUMN plan_version INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER milestones_prerequisites_fixed BEFORE UPDATE OF prerequisites ON milestones
WHEN NEW.prerequisites IS NOT OLD.prerequisites
BEGIN SELECT RAISE(ABORT, 'a milestone''s prerequisites are fixed when it is added'); END;
"""

_CRITERIA_CHECKED = """
-- The gate checks what the milestone promised (store/criteria.py): seed 001's "Next Milestone Context"
-- of a report; the acceptance criteria a reviewer accepted unreported or unmet when approving (JSON list
-- of their texts, covered by the decision's signature); and commands run as evidence for a criterion
-- (an agent's claim: exit code and the output's SHA-256, never the output).
ALTER TABLE validation_reports ADD COLUMN next_context TEXT NOT NULL DEFAULT '';
ALTER TABLE gate_decisions ADD COLUMN accepted_unmet TEXT;
CREATE TABLE criterion_evidence (
    id             INTEGER PRIMARY KEY,
    milestone_id   INTEGER NOT NULL REFERENCES milestones (id),
    criterion      integer NOT NULL CHECK (criterion >= 1),
    command        TEXT NOT NULL,
    exit_code      integer NOT NULL,
    output_sha256  TEXT NOT NULL CHECK (length(output_sha256) = 64),
    ran_at         REAL NOT NULL,
    recorded_by    TEXT NOT NULL,
    recorded_at    REAL NOT NULL
);
CREATE INDEX criterion_evidence_milestone ON criterion_evidence (milestone_id, id);
"""


_RETENTION = """
-- Retention (seed 003): agent logs and pipeline states past their age and expired docs cache entries are
-- archived, not deleted: flagged here, taken out of the search index, still found by an archive search.
ALTER TABLE learning_records ADD COLUMN archived_at REAL;
-- The live records newest first (list_records), and the archive's (its word search), each by its own index.
CREATE INDEX learning_records_live ON learning_records (id) WHERE archived_at IS NULL;
CREATE INDEX learning_records_archived ON learning_records (id) WHERE archived_at IS NOT NULL;
"""


_TASKS_ARCHIVED = """
-- Retention (seed 003: "finished tasks archived by a policy"): a finished task past the policy's age that
-- nothing live depends on is archived, not deleted: flagged here, left out of the listings by default,
-- still read by id, by the charts and by whatever points to it. A retried task is live again (NULL).
ALTER TABLE tasks ADD COLUMN archived_at REAL;
-- The live tasks newest first (the default listing), and the archive's (`task list --archived`).
CREATE INDEX tasks_live ON tasks (id) WHERE archived_at IS NULL;
CREATE INDEX tasks_archived ON tasks (id) WHERE archived_at IS NOT NULL;
"""


#: A step of a migration: SQL (statements, triggers included), or a function of the (sqlean) connection.
Step = str | Callable[[Any], None]

#: The ordered migrations, each one SQL or a sequence of steps run in order in one transaction.
#: Append only: never edit one that has shipped.
MIGRATIONS: list[tuple[str, Step | Sequence[Step]]] = [
    ("core: tasks, agents, milestones, gates, sessions, events", _CORE),
    ("memory: versioned entries, learning records, documents, full-text and vector search", _MEMORY),
    ("liveness: tasks held by failed ones; a stale agent's tasks return to the queue", _LIVENESS),
    ("identity: registered reviewers, resumptions in the gate's history, canonical identities", _IDENTITY),
    ("audit: reports, decisions and events append-only; the event log hash-chained",
     (_AUDIT_COLUMN, _chain_events, _AUDIT_TRIGGERS)),
    ("signed: reviewers' signatures on decisions, resumes and condition closures", _SIGNED),
    ("indexes: only those some query uses; one index for an agent's tasks, one for the oldest waiting task",
     _LEANER_INDEXES),
    ("attention: how long a gate's report may wait for a decision; when a blocker was first reported",
     _REVIEW_DEADLINE),
    ("learning: every kind of seed 003's learning records", _LEARNING_KINDS),
    ("plans: milestone prerequisites, schedule, money, cut and deferred milestones", _PLANS),
    ("criteria: evidence for acceptance criteria, unmet ones accepted by name, the next milestone's context",
     _CRITERIA_CHECKED),
    ("retention: learning records archived by the retention policy, still searchable", _RETENTION),
    ("archived tasks: finished tasks past the retention policy's age, nothing live depending on them",
     _TASKS_ARCHIVED),
]


def steps(migration: Step | Sequence[Step]) -> Sequence[Step]:
    """A migration's steps, in order."""
    return (migration,) if isinstance(migration, str) or callable(migration) else migration

SCHEMA_VERSION = len(MIGRATIONS)
