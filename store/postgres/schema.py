"""The PostgreSQL schema: SQLite's (store/sqlite/schema.py), migration for migration, in PostgreSQL terms.

Numbered migrations mirror SQLite's one for one (same numbers, same names), so a schema version means
the same tables on both backends and ``SCHEMA_VERSION`` is SQLite's. They are applied by ``migrate.py``
in one transaction and recorded in ``schema_migrations`` as SQLite records them; the table's comment
(``MARK``) is what SQLite's ``application_id`` is, the sign that a database is a swarmdeck one.

The mapping. ``INTEGER PRIMARY KEY`` is a ``bigint`` identity (``BY DEFAULT``, so a copy from SQLite
keeps its ids); every other INTEGER is ``bigint`` (SQLite's integers are 64-bit), REAL is ``double
precision`` (timestamps stay epoch seconds, as SQLite's, so models and row code are shared), BLOB is
``bytea``, ``WITHOUT ROWID`` tables are plain tables with the same primary key. Flags (``paused``,
``is_current``, ``is_json``) stay integers 0/1, so ``WHERE is_current = 1`` reads the same on both.

JSON. Columns that hold swarmdeck's own JSON structures or an agent's JSON object (a task's input and
result, a session's state, metadata, a learning record's fields, blockers) are ``jsonb``: validated on
write, and their text reads back as JSON the row code parses the same way. ``jsonb`` keeps no key order
or whitespace (``{"b":1,"a":2}`` reads back as ``{"a": 2, "b": 1}``): equal as values, not as text.
So two JSON columns stay ``text``: ``events.payload``, because the audit hash covers its exact text,
and ``memory_entries.value``, which is JSON only when ``is_json`` says so. The failures index reads
``payload::jsonb ->> 'agent'`` where SQLite reads ``json_extract(payload, '$.agent')`` (so a failure
event's payload must be JSON that ``jsonb`` takes: no ``\\u0000`` in it).

The event log (migration 5). SQLite chains each event to the one before it inside the write
transaction; on PostgreSQL that makes every writer wait for the chain head (measured: 0.36x the
throughput, p99 505 ms at 64 connections). Here an event is inserted with its identity ``id`` only and
no hash, and the chain is sealed after commit by one sealer at a time (store/postgres/sealing.py):
whoever holds the advisory lock ``SEAL_LOCK`` gives the unsealed events, in id order, the next chain
positions ``seq`` (1, 2, 3 ... dense, unique) and ``hash = audit.event_hash(previous hash, seq, ts,
actor, kind, entity, entity_id, payload)``. The chain is in seal order, not id order, because ids are
not committed in order (an event with a smaller id may commit after a larger one was sealed); ``seq``
is where each event sits in the chain and is what ``store/audit.py`` calls the event's id (heads are
``seq:hash``), so ``ChainCheck`` verifies it unchanged, rows read ``ORDER BY seq``; the log's other
indexes (by entity, kind, actor) end in ``seq`` for the same reason, where SQLite's end in ``id``. The guarantees
are SQLite's: an edited, removed or inserted sealed event breaks the chain; a head kept outside the
database catches a rewrite of the tail; and the database refuses any change to an event except that
one seal (``seq`` and ``hash`` from NULL to set, nothing else changed), an event inserted already
sealed, and deletes and TRUNCATE. What differs: an event is unsealed (no hash) from its commit until
the next seal, which the backend runs after its writes commit and before any verification, so a
verification reports the sealed chain; the feed id is not inside the hash (``seq`` is), since it is
only the feed's cursor, kept unchangeable by the trigger; and an event inserted around swarmdeck is
sealed like any other, where SQLite flags one written without a hash (the hash function is public,
so that flag never proved who wrote an event: only a head kept elsewhere does). The seal is an UPDATE
of each event, so each event's row and index entries are written twice, the second time in a batch
off the write path: measured at 40,000-48,000 events sealed per second (BENCHMARKS.md, "PostgreSQL:
task counts"), well above what the writers produce.

Counts (``task_counts``). SQLite keeps a count row per status by triggers; on PostgreSQL every claim
would update two of those rows, which would make concurrent claims queue on them as on the chain head,
and a claim and a completion that updates the same two rows in the other order deadlock. Here
``task_counts`` is a view with the same columns, computed by query, each status by its own index
range (tasks_claim and the like, which every claim maintains anyway), so writes pay nothing. A
filter on status reaches inside the view: the unfinished statuses cost what the live queue holds
(0.1-0.2 ms), every status what the kept tasks hold (60 ms at a million finished ones). Measured in
BENCHMARKS.md, "PostgreSQL: task counts by query, not by trigger-kept rows": kept by triggers, the
rows deadlocked (a claim locks ``ready`` then ``running``, a completion that releases a dependent
``running`` then ``ready``) and, without that, cut the claim rate to a fifth.

Full text. SQLite's FTS5 table (``porter unicode61 remove_diacritics 2``) becomes a generated
``tsvector`` column on ``search_items`` with a GIN index. The text search configuration
``swarmdeck_english`` is PostgreSQL's ``english`` with a Snowball English stemmer that keeps stop words
(FTS5's porter tokenizer drops none), and the text is split on every run of non-alphanumeric characters
first, as unicode61 does (PostgreSQL's own parser would keep ``store/sqlite/base.py`` or an e-mail
address as one token). What still differs: Snowball's English stemmer is Porter2, a revision of FTS5's
Porter ("generously": ``generous`` here, ``gener`` there), and diacritics are kept (``café`` is not
``cafe``) unless the server has the ``unaccent`` extension, which this schema does not require.
Queries must split and stem the same way: ``tsquery_text`` gives the expression. Title and body are
weighted A and B so that ranking can weigh them, as FTS5's bm25 can.

Vectors. SQLite creates one sqlite-vec table per embedding model when the model stores its first
vector (``vector_indexes``); so will this backend (``vector_table_sql``: a ``vector(dim)`` column with
an HNSW index), which needs pgvector. Migration 2 creates the extension when the server has it and the
role may; without it the ``embeddings`` table (vectors as bytes, as SQLite keeps them) still serves an
exact search.

``DIFFERENCES`` lists every deliberate difference from SQLite's tables, columns, indexes and triggers;
tests/store/test_pg_schema.py compares both schemas and fails on any other, so a SQLite migration that
is not mirrored here is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


#: The comment on ``schema_migrations`` that marks a database as swarmdeck's (SQLite's application_id).
MARK = "swarmdeck schema migrations"
#: Advisory lock keys (64-bit): migrating, sealing the event log, the gates' and reviewers' writes
#: (one at a time, as SQLite's writes are: store/postgres/uow.py's ``gate_unit``), and sampling the
#: queue (one store at a time: store/postgres/base.py's ``_sample``). "SWKD" then a purpose.
MIGRATE_LOCK = 0x53574B44_00000001
SEAL_LOCK = 0x53574B44_00000002
GATES_LOCK = 0x53574B44_00000003
QUEUE_SAMPLE_LOCK = 0x53574B44_00000005
# Also taken on a database: copy.py's COPY_LOCK (4) and tasks.py's DEPENDENCY_LOCK (0x101).

#: The text search configuration of the search index.
TS_CONFIG = "swarmdeck_english"

#: What a tokenizer like FTS5's unicode61 does before stemming: every run of characters that are not
#: letters or digits separates words (underscores, slashes, dots, hyphens, apostrophes included).
_SPLIT = "regexp_replace({0}, '[^[:alnum:]]+', ' ', 'g')"


def tsvector_sql(column: str) -> str:
    """The tsvector of a text column as the search index makes it."""
    return f"to_tsvector('{TS_CONFIG}'::regconfig, {_SPLIT.format(column)})"


def tsquery_text(param: str = "%s") -> str:
    """A query's words split as the index splits them (feed it to ``plainto_tsquery`` or build on it)."""
    return f"plainto_tsquery('{TS_CONFIG}'::regconfig, {_SPLIT.format(param)})"


_FUNCTIONS = """
-- Refuses the row change or statement with the trigger's argument as the message. SQLSTATE 23000
-- (integrity_constraint_violation), as SQLite's RAISE(ABORT) is a constraint failure there.
CREATE FUNCTION swarmdeck_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = '23000';
END $$;
"""


def _refuse(name: str, when: str, table: str, message: str, *, condition: str = "",
            statement: bool = False) -> str:
    """A trigger that refuses ``when`` (e.g. ``BEFORE UPDATE``) on ``table`` with ``message``."""
    level = "STATEMENT" if statement else "ROW"
    where = f" WHEN ({condition})" if condition else ""
    quoted = message.replace("'", "''")
    return (f"CREATE TRIGGER {name} {when} ON {table} FOR EACH {level}{where} "
            f"EXECUTE FUNCTION swarmdeck_refuse('{quoted}');\n")


def _append_only(table: str, noun: str, *, update: bool = True) -> str:
    """UPDATE, DELETE and TRUNCATE refused with SQLite's wording. There is no REPLACE to refuse:
    ``INSERT ... ON CONFLICT DO UPDATE`` is an UPDATE, and its trigger fires."""
    sql = _refuse(f"{table}_no_update", "BEFORE UPDATE", table,
                  f"{noun} are append-only: they cannot be changed") if update else ""
    sql += _refuse(f"{table}_no_delete", "BEFORE DELETE", table,
                   f"{noun} are append-only: they cannot be deleted")
    sql += _refuse(f"{table}_no_truncate", "BEFORE TRUNCATE", table,
                   f"{noun} are append-only: they cannot be deleted", statement=True)
    return sql


_CORE = _FUNCTIONS + f"""
CREATE TABLE schema_migrations (
    version     bigint PRIMARY KEY,
    name        text NOT NULL,
    applied_at  double precision NOT NULL
);
COMMENT ON TABLE schema_migrations IS '{MARK}';

CREATE TABLE swarm_state (
    id          bigint PRIMARY KEY CHECK (id = 1),
    paused      bigint NOT NULL DEFAULT 0,
    reason      text,
    paused_by   text,
    paused_at   double precision
);
INSERT INTO swarm_state (id, paused) VALUES (1, 0);

CREATE TABLE milestones (
    id                  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    position            bigint NOT NULL UNIQUE,
    objective           text NOT NULL DEFAULT '',
    planned_weeks       text,
    hour_budget         double precision CHECK (hour_budget IS NULL OR hour_budget >= 0),
    hours_spent         double precision NOT NULL DEFAULT 0 CHECK (hours_spent >= 0),
    deliverables        jsonb NOT NULL DEFAULT '[]',
    acceptance_criteria jsonb NOT NULL DEFAULT '[]',
    status              text NOT NULL DEFAULT 'locked' CHECK (status IN
                        ('locked', 'open', 'review', 'approved', 'conditional', 'escalated')),
    required_approvals  bigint NOT NULL DEFAULT 1 CHECK (required_approvals >= 1),
    created_at          double precision NOT NULL
);

CREATE TABLE validation_reports (
    id                bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    milestone_id      bigint NOT NULL REFERENCES milestones(id),
    version           bigint NOT NULL,
    submitted_by      text NOT NULL,
    submitted_at      double precision NOT NULL,
    summary           text NOT NULL DEFAULT '',
    proposed_decision text CHECK (proposed_decision IN
                      ('APPROVE', 'CONDITIONAL', 'REVISE', 'ESCALATE')),
    content_hash      text NOT NULL,
    UNIQUE (milestone_id, version)
);

CREATE TABLE report_criteria (
    report_id  bigint NOT NULL REFERENCES validation_reports(id),
    position   bigint NOT NULL,
    name       text NOT NULL,
    status     text NOT NULL CHECK (status IN ('met', 'not_met', 'unknown')),
    evidence   text NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
);

CREATE TABLE report_metrics (
    report_id  bigint NOT NULL REFERENCES validation_reports(id),
    position   bigint NOT NULL,
    name       text NOT NULL,
    value      double precision NOT NULL,
    target     double precision NOT NULL,
    comparator text NOT NULL CHECK (comparator IN ('<', '<=', '>', '>=', '==')),
    unit       text NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, position)
);

CREATE TABLE report_issues (
    report_id   bigint NOT NULL REFERENCES validation_reports(id),
    position    bigint NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    description text NOT NULL,
    PRIMARY KEY (report_id, position)
);

CREATE TABLE report_recommendations (
    report_id  bigint NOT NULL REFERENCES validation_reports(id),
    position   bigint NOT NULL,
    text       text NOT NULL,
    PRIMARY KEY (report_id, position)
);

CREATE TABLE gate_decisions (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    milestone_id  bigint NOT NULL REFERENCES milestones(id),
    report_id     bigint NOT NULL REFERENCES validation_reports(id),
    report_hash   text NOT NULL,
    decision      text NOT NULL CHECK (decision IN ('APPROVE', 'CONDITIONAL', 'REVISE', 'ESCALATE')),
    rationale     text NOT NULL CHECK (length(trim(rationale)) > 0),
    reviewer      text NOT NULL CHECK (length(trim(reviewer)) > 0),
    decided_at    double precision NOT NULL
);
CREATE INDEX gate_decisions_milestone ON gate_decisions (milestone_id, id);
CREATE INDEX gate_decisions_report ON gate_decisions (report_id, reviewer);
CREATE INDEX gate_decisions_decided ON gate_decisions (decided_at);
{_append_only("gate_decisions", "gate decisions")}
CREATE TABLE gate_conditions (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    milestone_id  bigint NOT NULL REFERENCES milestones(id),
    decision_id   bigint NOT NULL REFERENCES gate_decisions(id),
    text          text NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_by     text,
    closed_at     double precision,
    note          text
);
CREATE INDEX gate_conditions_milestone ON gate_conditions (milestone_id, status);

CREATE TABLE agents (
    id                  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    agent_type          text NOT NULL,
    colour              text,
    model               text,
    status              text NOT NULL DEFAULT 'idle' CHECK (status IN
                        ('idle', 'working', 'blocked', 'failed', 'offline')),
    current_task_id     bigint,
    completion          double precision NOT NULL DEFAULT 0 CHECK (completion BETWEEN 0 AND 100),
    blockers            jsonb NOT NULL DEFAULT '[]',
    next_milestone      text,
    last_heartbeat      double precision,
    stale_after_seconds double precision NOT NULL DEFAULT 60 CHECK (stale_after_seconds > 0),
    registered_at       double precision NOT NULL
);

CREATE TABLE sessions (
    id          text PRIMARY KEY,
    agent_name  text,
    status      text NOT NULL DEFAULT 'created' CHECK (status IN
                ('created', 'active', 'paused', 'terminated', 'archived')),
    state       jsonb NOT NULL DEFAULT '{{}}',
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent_name, created_at);

CREATE TABLE tasks (
    id                         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    description                text NOT NULL CHECK (length(trim(description)) > 0),
    summary                    text,
    source                     text NOT NULL CHECK (source IN
                               ('human', 'agent_requirements', 'agent_planner', 'agent_implementation')),
    agent_type                 text NOT NULL DEFAULT 'general',
    base_priority              bigint NOT NULL DEFAULT 5 CHECK (base_priority BETWEEN 0 AND 10),
    status                     text NOT NULL CHECK (status IN
                               ('pending', 'blocked', 'ready', 'running', 'completed', 'failed', 'cancelled')),
    priority                   double precision NOT NULL DEFAULT 0,
    dependency_depth           bigint NOT NULL DEFAULT 0,
    milestone_id               bigint REFERENCES milestones(id),
    parent_task_id             bigint REFERENCES tasks(id),
    session_id                 text,
    deadline                   double precision,
    estimated_duration_seconds bigint CHECK (estimated_duration_seconds IS NULL
                               OR estimated_duration_seconds > 0),
    input_data                 jsonb,
    result_data                jsonb,
    error_message              text,
    assigned_agent             text,
    retry_count                bigint NOT NULL DEFAULT 0,
    max_retries                bigint NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_seconds            bigint NOT NULL DEFAULT 3600 CHECK (timeout_seconds > 0),
    lease_expires_at           double precision,
    created_at                 double precision NOT NULL,
    updated_at                 double precision NOT NULL,
    started_at                 double precision,
    finished_at                double precision
);
CREATE INDEX tasks_claim ON tasks (status, priority DESC, id);
CREATE INDEX tasks_claim_by_type ON tasks (status, agent_type, priority DESC, id);
CREATE INDEX tasks_lease ON tasks (status, lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_deadline ON tasks (status, deadline)
    WHERE deadline IS NOT NULL AND status IN ('pending', 'blocked', 'ready');
CREATE INDEX tasks_milestone ON tasks (milestone_id, status);
CREATE INDEX tasks_milestone_recent ON tasks (milestone_id, id);
CREATE INDEX tasks_agent ON tasks (assigned_agent, status);
CREATE INDEX tasks_parent ON tasks (parent_task_id);
CREATE INDEX tasks_source ON tasks (source, id);
CREATE INDEX tasks_type ON tasks (agent_type, id);
CREATE INDEX tasks_created ON tasks (status, created_at);
CREATE INDEX tasks_updated ON tasks (updated_at);
CREATE INDEX tasks_finished ON tasks (finished_at, milestone_id, agent_type, status, assigned_agent,
    started_at, estimated_duration_seconds) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_agent_finished ON tasks (assigned_agent, finished_at, status, started_at, milestone_id,
    agent_type) WHERE finished_at IS NOT NULL;
CREATE INDEX tasks_milestone_created ON tasks (milestone_id, created_at, agent_type);

CREATE TABLE task_dependencies (
    task_id          bigint NOT NULL REFERENCES tasks(id),
    prerequisite_id  bigint NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (task_id, prerequisite_id),
    CHECK (task_id != prerequisite_id)
);
CREATE INDEX task_dependencies_prerequisite ON task_dependencies (prerequisite_id, task_id);

-- Counts and priority sums per status, by query (the module docstring says why not by triggers). Every
-- status has a row, as SQLite's table has, each counted by its own range of tasks_claim: a filter on
-- status reaches the VALUES list, so counting the waiting and running tasks never reads finished ones.
CREATE VIEW task_counts AS
SELECT s.status, c.n, coalesce(c.priority_sum, 0)::double precision AS priority_sum
FROM (VALUES ('pending'), ('blocked'), ('ready'), ('running'), ('completed'), ('failed'), ('cancelled'))
     AS s (status)
CROSS JOIN LATERAL (SELECT count(*) AS n, sum(t.priority) AS priority_sum FROM tasks t
                    WHERE t.status = s.status) AS c;

CREATE TABLE events (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ts         double precision NOT NULL,
    actor      text NOT NULL,
    kind       text NOT NULL,
    entity     text NOT NULL,
    entity_id  text,
    payload    text NOT NULL DEFAULT '{{}}'
);
CREATE INDEX events_entity ON events (entity, entity_id, id);
CREATE INDEX events_entity_recent ON events (entity, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_actor ON events (actor, id);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_failures ON events (((payload::jsonb) ->> 'agent'), ts)
    WHERE kind IN ('task.failed', 'task.retried');

CREATE TABLE queue_samples (
    slot     bigint PRIMARY KEY,  -- floor(ts / 10)
    ts       double precision NOT NULL,
    pending  bigint NOT NULL,
    blocked  bigint NOT NULL,
    ready    bigint NOT NULL,
    running  bigint NOT NULL
);
"""

_MEMORY = f"""
CREATE TABLE session_events (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    session_id  text NOT NULL REFERENCES sessions(id),
    ts          double precision NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX session_events_session ON session_events (session_id, id);

CREATE TABLE memory_entries (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    namespace   text NOT NULL CHECK (length(namespace) > 0),
    key         text NOT NULL CHECK (length(key) > 0),
    version     bigint NOT NULL CHECK (version >= 1),
    value       text NOT NULL,
    is_json     bigint NOT NULL DEFAULT 0,
    memory_type text NOT NULL CHECK (memory_type IN ('semantic', 'episodic', 'procedural')),
    created_by  text NOT NULL,
    session_id  text,
    task_id     bigint,
    metadata    jsonb NOT NULL DEFAULT '{{}}',
    created_at  double precision NOT NULL,
    is_current  bigint NOT NULL DEFAULT 1,
    deleted_at  double precision,
    deleted_by  text,
    UNIQUE (namespace, key, version)
);
CREATE UNIQUE INDEX memory_current ON memory_entries (namespace, key) WHERE is_current = 1;
CREATE INDEX memory_recent ON memory_entries (created_at, id) WHERE is_current = 1;

CREATE TABLE learning_records (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN
                  ('failure', 'decision', 'retrospective', 'spike', 'pattern', 'estimate')),
    namespace     text NOT NULL,
    title         text NOT NULL,
    fields        jsonb NOT NULL,
    agent         text,
    task_id       bigint,
    milestone_id  bigint,
    session_id    text,
    created_at    double precision NOT NULL
);
CREATE INDEX learning_records_kind ON learning_records (kind, id);

CREATE TABLE documents (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    namespace     text NOT NULL,
    path          text NOT NULL,
    content_hash  text NOT NULL,
    chunk_count   bigint NOT NULL,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    UNIQUE (namespace, path)
);

CREATE TABLE document_chunks (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    document_id  bigint NOT NULL REFERENCES documents(id),
    position     bigint NOT NULL,
    text         text NOT NULL,
    UNIQUE (document_id, position)
);

-- The stemmer of FTS5's porter tokenizer, keeping stop words as FTS5 does (module docstring).
CREATE TEXT SEARCH DICTIONARY swarmdeck_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = english);
ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG}
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH swarmdeck_stem;

-- Everything searchable, in one place. The keyword index is the tsv column (SQLite: search_fts).
CREATE TABLE search_items (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL,
    ref_id        bigint NOT NULL,
    namespace     text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    memory_type   text,
    agent         text,
    task_id       bigint,
    milestone_id  bigint,
    created_at    double precision NOT NULL,
    embedded_model text,
    tsv           tsvector GENERATED ALWAYS AS
                  (setweight({tsvector_sql("title")}, 'A') || setweight({tsvector_sql("body")}, 'B')) STORED,
    UNIQUE (kind, ref_id)
);
CREATE INDEX search_items_pending ON search_items (id) WHERE embedded_model IS NULL;
CREATE INDEX search_items_embedded ON search_items (embedded_model);
CREATE INDEX search_items_namespace ON search_items (namespace, created_at);
CREATE INDEX search_items_kind ON search_items (kind, created_at);
CREATE INDEX search_items_agent ON search_items (agent, created_at);
CREATE INDEX search_items_tsv ON search_items USING gin (tsv);

CREATE TABLE embeddings (
    item_id      bigint NOT NULL REFERENCES search_items(id) ON DELETE CASCADE,
    model        text NOT NULL,
    dim          bigint NOT NULL,
    vector       bytea NOT NULL,
    embedded_at  double precision NOT NULL,
    PRIMARY KEY (item_id, model)
);
CREATE INDEX embeddings_model ON embeddings (model, item_id);

-- One pgvector table per embedding model (vector_table_sql), created when that model stores its
-- first vector, if the server has pgvector.
CREATE TABLE vector_indexes (
    model       text PRIMARY KEY,
    dim         bigint NOT NULL,
    table_name  text NOT NULL UNIQUE,
    created_at  double precision NOT NULL
);

CREATE TABLE embedding_failures (
    item_id     bigint PRIMARY KEY REFERENCES search_items(id) ON DELETE CASCADE,
    model       text NOT NULL,
    error       text NOT NULL,
    attempts    bigint NOT NULL DEFAULT 1,
    failed_at   double precision NOT NULL
);
CREATE INDEX embedding_failures_model ON embedding_failures (model, failed_at);
"""


def _pgvector(conn: Any) -> None:
    """CREATE EXTENSION vector when the server has it and this role may (inside a savepoint, so that a
    refusal leaves the migration going): vector search is optional, as sqlite-vec is for SQLite."""
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if available is None:
        return
    try:
        with conn.transaction():  # a savepoint inside the migration's transaction
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception as exc:  # psycopg.errors.InsufficientPrivilege and the like
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise


def has_pgvector(conn: Any) -> bool:
    """Whether the database has pgvector (the per-model vector tables can be made)."""
    return conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is not None


def vector_table_sql(table: str, dim: int) -> str:
    """The pgvector table of one embedding model (its name from ``vector_indexes.table_name``): one
    vector per search item, with an HNSW index for cosine distance. Needs pgvector."""
    if not table.isidentifier() or not table.isascii() or table.lower() != table:
        raise ValueError(f"{table!r} is not a plain lower-case identifier")
    if not 0 < int(dim) <= 2000:  # HNSW indexes up to 2,000 dimensions of vector
        raise ValueError(f"a vector table needs a dimension between 1 and 2000, not {dim}")
    return (f"CREATE TABLE {table} (item_id bigint PRIMARY KEY REFERENCES search_items(id) "
            f"ON DELETE CASCADE, embedding vector({int(dim)}) NOT NULL);\n"
            f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops);\n")


_LIVENESS = """
ALTER TABLE tasks ADD COLUMN held_by bigint;
CREATE INDEX tasks_held ON tasks (held_by) WHERE held_by IS NOT NULL;

ALTER TABLE agents ADD COLUMN requeue_after_seconds double precision NOT NULL DEFAULT 300
    CHECK (requeue_after_seconds >= 0);
CREATE INDEX agents_requeue_at
    ON agents ((coalesce(last_heartbeat, 0) + stale_after_seconds + requeue_after_seconds));
"""

# SQLite's migration 4 also rewrote identities already stored into their canonical form; a PostgreSQL
# database has never held rows at an older schema (it is made at the current one, in one transaction),
# so there is nothing to rewrite.
_REVIEWERS_KEPT = ("reviewers are never deleted: remove one with `swarmdeck reviewer remove NAME` "
                   "(its history stays)")
_IDENTITY = (
    """
CREATE TABLE reviewers (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    public_key  bytea CHECK (public_key IS NULL OR octet_length(public_key) = 32),
    added_at    double precision NOT NULL,
    added_by    text NOT NULL,
    removed_at  double precision,
    removed_by  text
);
"""
    + _refuse("reviewers_no_delete", "BEFORE DELETE", "reviewers", _REVIEWERS_KEPT)
    + _refuse("reviewers_no_truncate", "BEFORE TRUNCATE", "reviewers", _REVIEWERS_KEPT, statement=True)
    + """
CREATE TABLE gate_resumptions (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    milestone_id  bigint NOT NULL REFERENCES milestones(id),
    decision_id   bigint REFERENCES gate_decisions(id),
    resumed_by    text NOT NULL CHECK (length(trim(resumed_by)) > 0),
    reason        text NOT NULL CHECK (length(trim(reason)) > 0),
    resumed_at    double precision NOT NULL
);
CREATE INDEX gate_resumptions_milestone ON gate_resumptions (milestone_id, id);
"""
    + _append_only("gate_resumptions", "gate resumptions")
)

_AUDIT = f"""
-- The chain (module docstring): seq is the event's place in it, given with its hash by the sealer.
ALTER TABLE events ADD COLUMN hash text;
ALTER TABLE events ADD COLUMN seq bigint;
ALTER TABLE events ADD CONSTRAINT events_sealed_whole CHECK ((seq IS NULL) = (hash IS NULL));
CREATE UNIQUE INDEX events_seq ON events (seq);
-- What the sealer reads: the unsealed events in id order (few: the ones since the last seal).
CREATE INDEX events_unsealed ON events (id) WHERE seq IS NULL;
-- The log's reads (by entity, actor or kind, newest first; a page before an event) follow the chain,
-- so their indexes end in seq where SQLite's end in id (there the id is the chain position).
DROP INDEX events_entity;
DROP INDEX events_entity_recent;
DROP INDEX events_kind;
DROP INDEX events_actor;
CREATE INDEX events_entity ON events (entity, entity_id, seq);
CREATE INDEX events_entity_recent ON events (entity, seq);
CREATE INDEX events_kind ON events (kind, seq);
CREATE INDEX events_actor ON events (actor, seq);

-- The one change an event takes: its seal, once, with nothing else changed.
CREATE FUNCTION swarmdeck_event_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq IS NULL AND OLD.hash IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL
       AND (NEW.id, NEW.ts, NEW.actor, NEW.kind, NEW.entity, NEW.entity_id, NEW.payload) IS NOT DISTINCT FROM
           (OLD.id, OLD.ts, OLD.actor, OLD.kind, OLD.entity, OLD.entity_id, OLD.payload) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'events are append-only: they cannot be changed', ERRCODE = '23000';
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION swarmdeck_event_seal_only();
{_refuse("events_born_unsealed", "BEFORE INSERT", "events",
         "events are sealed after they are written: an event cannot be inserted sealed",
         condition="NEW.seq IS NOT NULL OR NEW.hash IS NOT NULL")}
{_append_only("events", "events", update=False)}
{_append_only("validation_reports", "validation reports")}
{"".join(_append_only(t, "validation reports")
         for t in ("report_criteria", "report_metrics", "report_issues", "report_recommendations"))}
"""

_SIGNED = (
    """
ALTER TABLE gate_decisions ADD COLUMN signature bytea;
ALTER TABLE gate_conditions ADD COLUMN close_signature bytea;
ALTER TABLE gate_resumptions ADD COLUMN signature bytea;
ALTER TABLE gate_resumptions ADD COLUMN escalation_id bigint;

CREATE INDEX gate_conditions_decision ON gate_conditions (decision_id, id);
"""
    + _refuse("reviewers_key_once", "BEFORE UPDATE OF public_key", "reviewers",
              "a reviewer's signing key never changes once registered",
              condition="OLD.public_key IS NOT NULL AND NEW.public_key IS DISTINCT FROM OLD.public_key")
    + _refuse("gate_conditions_closed_once", "BEFORE UPDATE", "gate_conditions",
              "a closed condition cannot be changed", condition="OLD.status = 'closed'")
    + _refuse("milestones_gate_fixed", "BEFORE UPDATE OF position, required_approvals", "milestones",
              "a milestone's place and the approvals its gate needs are fixed when it is added",
              condition="NEW.position IS DISTINCT FROM OLD.position "
                        "OR NEW.required_approvals IS DISTINCT FROM OLD.required_approvals")
)

_LEANER_INDEXES = """
DROP INDEX tasks_parent;
DROP INDEX tasks_updated;
DROP INDEX sessions_agent;
DROP INDEX search_items_pending;
DROP INDEX events_ts;

DROP INDEX tasks_created;
CREATE INDEX tasks_waiting ON tasks (status, created_at)
    WHERE status = 'pending' OR status = 'blocked' OR status = 'ready';

DROP INDEX tasks_agent;
DROP INDEX tasks_agent_finished;
CREATE INDEX tasks_agent ON tasks (assigned_agent, status, finished_at, started_at, milestone_id, agent_type);
"""

_REVIEW_DEADLINE = """
ALTER TABLE milestones ADD COLUMN review_within_seconds double precision
    CHECK (review_within_seconds IS NULL OR review_within_seconds > 0);
ALTER TABLE agents ADD COLUMN blockers_since jsonb;
"""

_LEARNING_KINDS = """
-- Every kind of seed 003's learning records (as SQLite's migration of the same name).
ALTER TABLE learning_records DROP CONSTRAINT learning_records_kind_check;
ALTER TABLE learning_records ADD CONSTRAINT learning_records_kind_check CHECK (kind IN
    ('failure', 'decision', 'retrospective', 'spike', 'pattern', 'estimate',
     'pattern_usage', 'agent_log', 'pipeline_state', 'docs_cache', 'complexity_snapshot'));
"""

_PLANS = """
-- Plans are graphs (as SQLite's migration of the same name).
ALTER TABLE milestones ADD COLUMN prerequisites jsonb;
ALTER TABLE milestones ADD COLUMN starts_on text;
ALTER TABLE milestones ADD COLUMN money_budget double precision
    CHECK (money_budget IS NULL OR money_budget >= 0);
ALTER TABLE milestones ADD COLUMN hour_rate double precision CHECK (hour_rate IS NULL OR hour_rate >= 0);
ALTER TABLE milestones ADD COLUMN plan_state text NOT NULL DEFAULT 'active'
    CHECK (plan_state IN ('active', 'deferred', 'cut'));
ALTER TABLE milestones ADD COLUMN plan_version integer NOT NULL DEFAULT 0;
""" + _refuse("milestones_prerequisites_fixed", "BEFORE UPDATE OF prerequisites", "milestones",
              "a milestone's prerequisites are fixed when it is added",
              condition="NEW.prerequisites IS DISTINCT FROM OLD.prerequisites")


_CRITERIA_CHECKED = """
-- The gate checks what the milestone promised (store/criteria.py): seed 001's "Next Milestone Context"
-- of a report; the acceptance criteria a reviewer accepted unreported or unmet when approving (JSON list
-- of their texts, covered by the decision's signature); and commands run as evidence for a criterion
-- (an agent's claim: exit code and the output's SHA-256, never the output).
ALTER TABLE validation_reports ADD COLUMN next_context TEXT NOT NULL DEFAULT '';
ALTER TABLE gate_decisions ADD COLUMN accepted_unmet TEXT;
CREATE TABLE criterion_evidence (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    milestone_id   bigint NOT NULL REFERENCES milestones (id),
    criterion      integer NOT NULL CHECK (criterion >= 1),
    command        TEXT NOT NULL,
    exit_code      integer NOT NULL,
    output_sha256  TEXT NOT NULL CHECK (length(output_sha256) = 64),
    ran_at         double precision NOT NULL,
    recorded_by    TEXT NOT NULL,
    recorded_at    double precision NOT NULL
);
CREATE INDEX criterion_evidence_milestone ON criterion_evidence (milestone_id, id);
"""


_RETENTION = """
-- Retention (seed 003): agent logs and pipeline states past their age and expired docs cache entries are
-- archived, not deleted: flagged here, taken out of the search index, still found by an archive search.
ALTER TABLE learning_records ADD COLUMN archived_at double precision;
-- The live records newest first (list_records), and the archive's (its word search), each by its own index.
CREATE INDEX learning_records_live ON learning_records (id) WHERE archived_at IS NULL;
CREATE INDEX learning_records_archived ON learning_records (id) WHERE archived_at IS NOT NULL;
"""


_TASKS_ARCHIVED = """
-- Retention (seed 003: "finished tasks archived by a policy"): a finished task past the policy's age that
-- nothing live depends on is archived, not deleted: flagged here, left out of the listings by default,
-- still read by id, by the charts and by whatever points to it. A retried task is live again (NULL).
ALTER TABLE tasks ADD COLUMN archived_at double precision;
-- The live tasks newest first (the default listing), and the archive's (`task list --archived`).
CREATE INDEX tasks_live ON tasks (id) WHERE archived_at IS NULL;
CREATE INDEX tasks_archived ON tasks (id) WHERE archived_at IS NOT NULL;
"""


#: A step: SQL (any number of statements, sent as one script), or a function of the psycopg connection.
Step = str | Callable[[Any], None]

#: The ordered migrations, SQLite's one for one (same numbers and names: the schema test compares).
#: Append only.
MIGRATIONS: list[tuple[str, Step | Sequence[Step]]] = [
    ("core: tasks, agents, milestones, gates, sessions, events", _CORE),
    ("memory: versioned entries, learning records, documents, full-text and vector search",
     (_MEMORY, _pgvector)),
    ("liveness: tasks held by failed ones; a stale agent's tasks return to the queue", _LIVENESS),
    ("identity: registered reviewers, resumptions in the gate's history, canonical identities", _IDENTITY),
    ("audit: reports, decisions and events append-only; the event log hash-chained", _AUDIT),
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


#: Every deliberate difference from SQLite's schema, by kind; the schema test allows these and no other.
DIFFERENCES: dict[str, dict[str, str]] = {
    "relations only in SQLite": {
        "search_fts": "FTS5's table: here the tsv column of search_items and its GIN index",
    },
    "columns only in PostgreSQL": {
        "events.seq": "the event's place in the hash chain, given when it is sealed",
        "search_items.tsv": "the keyword index's tsvector (SQLite: the search_fts table)",
    },
    "views that are SQLite tables": {
        "task_counts": "counted by query, not kept by triggers on every claim",
    },
    "indexes on other columns": {  # the log is read in chain order: seq here, id in SQLite
        "events_entity": "(entity, entity_id, seq): an entity's events, newest first",
        "events_entity_recent": "(entity, seq): a kind of entity's events, newest first",
        "events_kind": "(kind, seq): the events of a kind, newest first",
        "events_actor": "(actor, seq): an actor's events, newest first",
    },
    "indexes only in PostgreSQL": {
        "events_seq": "the chain positions are unique",
        "events_unsealed": "the sealer's reading: unsealed events in id order",
        "search_items_tsv": "GIN on the tsvector (keyword search)",
    },
    "triggers only in SQLite": {
        "task_counts_insert": "task_counts is a view",
        "task_counts_update": "task_counts is a view",
        "task_counts_delete": "task_counts is a view",
        "search_items_ai": "the tsvector is a generated column",
        "search_items_ad": "the tsvector is a generated column",
        "search_items_au": "the tsvector is a generated column",
        **{f"{t}_no_replace": "there is no REPLACE: an upsert is an UPDATE, refused by the update trigger"
           for t in ("events", "validation_reports", "report_criteria", "report_metrics", "report_issues",
                     "report_recommendations", "gate_decisions", "gate_resumptions")},
    },
    "triggers only in PostgreSQL": {
        "events_born_unsealed": "an event is inserted without seq or hash; the sealer gives them",
        **{f"{t}_no_truncate": "TRUNCATE deletes without firing row triggers: refused as a delete"
           for t in ("events", "validation_reports", "report_criteria", "report_metrics", "report_issues",
                     "report_recommendations", "gate_decisions", "gate_resumptions", "reviewers")},
    },
}
