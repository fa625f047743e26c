//! The SQL schema of both files and their migrations.
//!
//! Migrations are applied in order, each in its own transaction together
//! with the `user_version` bump, so a file is always at exactly one schema
//! version. A migration, once released, is never edited: a change is a new
//! migration appended to the list.
//!
//! The whitelist tables also have a *current* definition
//! ([`whitelist_tables_sql`], [`WHITELIST_INDEXES`]) used to build the
//! staging tables of a snapshot, which become the live tables when it
//! applies. A test checks that it matches what the migrations produce; a
//! migration that changes a whitelist table must update it too.

/// Migrations of the whitelist replica file (`<stem>.whitelist.db`).
pub(crate) const WHITELIST_MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
CREATE TABLE whitelist_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    kind        TEXT,
    applied_ms  INTEGER
);
INSERT INTO whitelist_state (id, version) VALUES (1, 0);

CREATE TABLE passes (
    id                 INTEGER PRIMARY KEY,
    pass_no            TEXT NOT NULL,
    status             TEXT NOT NULL,
    kind               TEXT NOT NULL,
    plate              TEXT NOT NULL,
    etag               TEXT,
    trailer_plate      TEXT,
    container1         TEXT,
    container2         TEXT,
    containers         TEXT NOT NULL,
    declared_total_kg  REAL,
    enterprise         TEXT,
    goods_category     TEXT,
    va_code            TEXT,
    valid_from         TEXT,
    valid_until        TEXT,
    uses               TEXT NOT NULL,
    eseal              TEXT
);
-- Containers of a pass beyond the first two (those are in passes).
CREATE TABLE pass_containers (
    container  TEXT NOT NULL,
    pass_id    INTEGER NOT NULL
);
CREATE TABLE vehicles (
    id            INTEGER PRIMARY KEY,
    plate         TEXT NOT NULL,
    plate_colour  TEXT,
    etag          TEXT,
    tare_kg       REAL,
    enterprise    TEXT,
    credit        TEXT
);
CREATE TABLE enterprises (
    id      INTEGER PRIMARY KEY,
    ent_id  TEXT NOT NULL,
    name    TEXT NOT NULL,
    credit  TEXT NOT NULL
);
CREATE TABLE controls (
    id           INTEGER PRIMARY KEY,
    control_id   TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target       TEXT NOT NULL,
    action       TEXT NOT NULL,
    note         TEXT,
    valid_until  TEXT
);
CREATE UNIQUE INDEX passes_pass_no_g0 ON passes (pass_no);
CREATE INDEX passes_plate_g0 ON passes (plate);
CREATE INDEX passes_etag_g0 ON passes (etag) WHERE etag IS NOT NULL;
CREATE INDEX passes_trailer_g0 ON passes (trailer_plate) WHERE trailer_plate IS NOT NULL;
CREATE INDEX passes_container1_g0 ON passes (container1) WHERE container1 IS NOT NULL;
CREATE INDEX passes_container2_g0 ON passes (container2) WHERE container2 IS NOT NULL;
CREATE INDEX pass_containers_container_g0 ON pass_containers (container, pass_id);
CREATE UNIQUE INDEX vehicles_plate_g0 ON vehicles (plate);
CREATE INDEX vehicles_etag_g0 ON vehicles (etag) WHERE etag IS NOT NULL;
CREATE UNIQUE INDEX enterprises_id_g0 ON enterprises (ent_id);
CREATE UNIQUE INDEX controls_id_g0 ON controls (control_id);
CREATE INDEX controls_target_g0 ON controls (target_kind, target);

-- The snapshot being staged (at most one version at a time).
CREATE TABLE snapshot_stage (
    version      INTEGER PRIMARY KEY,
    chunk_count  INTEGER NOT NULL,
    issued_at    TEXT NOT NULL,
    started_ms   INTEGER NOT NULL
);
CREATE TABLE snapshot_chunks (
    version  INTEGER NOT NULL REFERENCES snapshot_stage (version) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    records  INTEGER NOT NULL,
    PRIMARY KEY (version, idx)
) WITHOUT ROWID;
"#,
];

/// Migrations of the main file: journal, sequence counters, outbox,
/// commands, audit.
pub(crate) const MAIN_MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
CREATE TABLE journal (
    event_id     TEXT PRIMARY KEY,
    lane         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('started', 'decided', 'finished')),
    arrived_at   TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    context      TEXT,
    decision     TEXT,
    decided_at   TEXT,
    seq          INTEGER,
    event        TEXT,
    finished_ms  INTEGER,
    UNIQUE (lane, seq)
);
CREATE INDEX journal_open ON journal (started_ms) WHERE state <> 'finished';
CREATE INDEX journal_finished ON journal (finished_ms) WHERE finished_ms IS NOT NULL;

-- Last seq given per lane: the gapless counter.
CREATE TABLE lane_seq (
    lane      TEXT PRIMARY KEY,
    last_seq  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,
    qos         INTEGER NOT NULL,
    retain      INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    bytes       INTEGER NOT NULL
);
CREATE INDEX outbox_kind ON outbox (kind, id);

CREATE TABLE commands (
    id           TEXT PRIMARY KEY,
    received_ms  INTEGER NOT NULL,
    body         TEXT NOT NULL,
    result       TEXT NOT NULL
);
CREATE INDEX commands_received ON commands (received_ms);

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    officer   TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    event_id  TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"#,
    // 2: the lane's alarm log (every alarm queued for the platform, kept
    // after delivery, acknowledged at the booth).
    r#"
CREATE TABLE alarm_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    detail     TEXT NOT NULL,
    acked_by   TEXT,
    acked_ms   INTEGER,
    ack_note   TEXT
);
CREATE INDEX alarm_log_open ON alarm_log (id) WHERE acked_ms IS NULL;
"#,
];

/// The whitelist tables, in dependency order.
pub(crate) const WHITELIST_TABLES: [&str; 5] = [
    "passes",
    "pass_containers",
    "vehicles",
    "enterprises",
    "controls",
];

/// Prefix of the staging tables of a snapshot.
pub(crate) const STAGE: &str = "stage_";

/// Current definition of the whitelist tables, named `{prefix}passes` etc.
pub(crate) fn whitelist_tables_sql(prefix: &str) -> String {
    format!(
        r#"
CREATE TABLE {prefix}passes (
    id                 INTEGER PRIMARY KEY,
    pass_no            TEXT NOT NULL,
    status             TEXT NOT NULL,
    kind               TEXT NOT NULL,
    plate              TEXT NOT NULL,
    etag               TEXT,
    trailer_plate      TEXT,
    container1         TEXT,
    container2         TEXT,
    containers         TEXT NOT NULL,
    declared_total_kg  REAL,
    enterprise         TEXT,
    goods_category     TEXT,
    va_code            TEXT,
    valid_from         TEXT,
    valid_until        TEXT,
    uses               TEXT NOT NULL,
    eseal              TEXT
);
CREATE TABLE {prefix}pass_containers (
    container  TEXT NOT NULL,
    pass_id    INTEGER NOT NULL
);
CREATE TABLE {prefix}vehicles (
    id            INTEGER PRIMARY KEY,
    plate         TEXT NOT NULL,
    plate_colour  TEXT,
    etag          TEXT,
    tare_kg       REAL,
    enterprise    TEXT,
    credit        TEXT
);
CREATE TABLE {prefix}enterprises (
    id      INTEGER PRIMARY KEY,
    ent_id  TEXT NOT NULL,
    name    TEXT NOT NULL,
    credit  TEXT NOT NULL
);
CREATE TABLE {prefix}controls (
    id           INTEGER PRIMARY KEY,
    control_id   TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target       TEXT NOT NULL,
    action       TEXT NOT NULL,
    note         TEXT,
    valid_until  TEXT
);
"#
    )
}

/// One index of the whitelist tables.
pub(crate) struct IndexDef {
    /// Table (without prefix).
    pub table: &'static str,
    /// Name stem; the full name is `{stem}_g{generation}` so that the
    /// indexes of staged tables never clash with the live ones.
    pub stem: &'static str,
    pub unique: bool,
    /// Column list and optional WHERE, as in `CREATE INDEX .. ON t {body}`.
    pub body: &'static str,
    /// For a unique index: the statements (`{p}` stands for the table
    /// prefix) that remove duplicate keys, keeping the last one received.
    pub dedupe: &'static [&'static str],
}

/// The indexes, in the order they must be built (passes' unique index
/// before the container index, which a pass dedupe may shrink).
pub(crate) const WHITELIST_INDEXES: &[IndexDef] = &[
    IndexDef {
        table: "passes",
        stem: "passes_pass_no",
        unique: true,
        body: "(pass_no)",
        dedupe: &[
            "DELETE FROM {p}passes WHERE id NOT IN (SELECT max(id) FROM {p}passes GROUP BY pass_no)",
            "DELETE FROM {p}pass_containers WHERE pass_id NOT IN (SELECT id FROM {p}passes)",
        ],
    },
    IndexDef {
        table: "passes",
        stem: "passes_plate",
        unique: false,
        body: "(plate)",
        dedupe: &[],
    },
    IndexDef {
        table: "passes",
        stem: "passes_etag",
        unique: false,
        body: "(etag) WHERE etag IS NOT NULL",
        dedupe: &[],
    },
    IndexDef {
        table: "passes",
        stem: "passes_trailer",
        unique: false,
        body: "(trailer_plate) WHERE trailer_plate IS NOT NULL",
        dedupe: &[],
    },
    IndexDef {
        table: "passes",
        stem: "passes_container1",
        unique: false,
        body: "(container1) WHERE container1 IS NOT NULL",
        dedupe: &[],
    },
    IndexDef {
        table: "passes",
        stem: "passes_container2",
        unique: false,
        body: "(container2) WHERE container2 IS NOT NULL",
        dedupe: &[],
    },
    IndexDef {
        table: "pass_containers",
        stem: "pass_containers_container",
        unique: false,
        body: "(container, pass_id)",
        dedupe: &[],
    },
    IndexDef {
        table: "vehicles",
        stem: "vehicles_plate",
        unique: true,
        body: "(plate)",
        dedupe: &["DELETE FROM {p}vehicles WHERE id NOT IN (SELECT max(id) FROM {p}vehicles GROUP BY plate)"],
    },
    IndexDef {
        table: "vehicles",
        stem: "vehicles_etag",
        unique: false,
        body: "(etag) WHERE etag IS NOT NULL",
        dedupe: &[],
    },
    IndexDef {
        table: "enterprises",
        stem: "enterprises_id",
        unique: true,
        body: "(ent_id)",
        dedupe: &["DELETE FROM {p}enterprises WHERE id NOT IN (SELECT max(id) FROM {p}enterprises GROUP BY ent_id)"],
    },
    IndexDef {
        table: "controls",
        stem: "controls_id",
        unique: true,
        body: "(control_id)",
        dedupe: &[
            "DELETE FROM {p}controls WHERE id NOT IN (SELECT max(id) FROM {p}controls GROUP BY control_id)",
        ],
    },
    IndexDef {
        table: "controls",
        stem: "controls_target",
        unique: false,
        body: "(target_kind, target)",
        dedupe: &[],
    },
];

impl IndexDef {
    pub(crate) fn create_sql(&self, prefix: &str, generation: u64) -> String {
        format!(
            "CREATE {}INDEX {}_g{generation} ON {prefix}{} {}",
            if self.unique { "UNIQUE " } else { "" },
            self.stem,
            self.table,
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn columns(c: &Connection, table: &str) -> Vec<(String, String, bool, bool)> {
        let mut s = c
            .prepare(&format!("PRAGMA table_info({table})"))
            .expect("prep");
        s.query_map([], |r| {
            Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, i64>(5)? > 0))
        })
        .expect("q")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
    }

    /// (columns, unique, partial) of every index of `table`, sorted.
    fn indexes(c: &Connection, table: &str) -> Vec<(Vec<String>, bool, bool)> {
        let mut s = c
            .prepare(&format!("PRAGMA index_list({table})"))
            .expect("prep");
        let list: Vec<(String, bool, bool)> = s
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(4)?)))
            .expect("q")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let mut out: Vec<_> = list
            .into_iter()
            .map(|(name, unique, partial)| {
                let mut s = c
                    .prepare(&format!("PRAGMA index_info({name})"))
                    .expect("prep");
                let cols = s
                    .query_map([], |r| r.get::<_, String>(2))
                    .expect("q")
                    .collect::<rusqlite::Result<_>>()
                    .expect("rows");
                (cols, unique, partial)
            })
            .collect();
        out.sort();
        out
    }

    /// The staging definition (tables + indexes) is what the migrations
    /// produce: a snapshot swap must not change the schema.
    #[test]
    fn staging_definition_matches_migrated_schema() {
        let c = Connection::open_in_memory().expect("mem");
        for m in WHITELIST_MIGRATIONS {
            c.execute_batch(m).expect("migration");
        }
        c.execute_batch(&whitelist_tables_sql(STAGE))
            .expect("stage");
        for idx in WHITELIST_INDEXES {
            c.execute_batch(&idx.create_sql(STAGE, 7)).expect("index");
        }
        for t in WHITELIST_TABLES {
            assert_eq!(
                columns(&c, t),
                columns(&c, &format!("{STAGE}{t}")),
                "table {t}"
            );
            assert_eq!(
                indexes(&c, t),
                indexes(&c, &format!("{STAGE}{t}")),
                "indexes of {t}"
            );
            assert!(!indexes(&c, t).is_empty());
        }
    }

    #[test]
    fn main_migrations_apply() {
        let c = Connection::open_in_memory().expect("mem");
        for m in MAIN_MIGRATIONS {
            c.execute_batch(m).expect("migration");
        }
    }
}
