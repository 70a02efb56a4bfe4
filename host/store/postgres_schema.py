"""Migrations of the PostgreSQL store: MIGRATIONS[i] brings schema version i to i + 1
(the version lives in the emtag_schema table). Same tables, columns and meaning as the
SQLite migrations in host/store/sqlite.py; add a table by appending to both lists."""

from emtag.host.store import crimes, trail_index

MIGRATIONS = [
    # 1-3 of the SQLite store in one step: devices, records (as received, valid or
    # rejected, with the evidence chain's hash and seal), the MQTT outbox.
    """
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,          -- hex of the 8-byte key id
        public_key BYTEA NOT NULL,        -- 65-byte SEC1 uncompressed P-256 point
        firmware TEXT,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE records (
        id BIGSERIAL PRIMARY KEY,
        device TEXT NOT NULL,
        seq BIGINT,                       -- NULL when the record could not be decoded
        type SMALLINT,                    -- protocol/records.py: 1 fix, 2 alert, 3 restart...
        t BIGINT,                         -- UTC seconds
        t_ms INTEGER,
        lat_e7 INTEGER,
        lon_e7 INTEGER,
        acc_cm INTEGER,
        alert TEXT,
        zone TEXT,
        status TEXT NOT NULL,             -- 'valid', 'early' or 'rejected'
        reason TEXT,
        received TEXT NOT NULL,           -- bridge time, ISO 8601 UTC
        cose BYTEA NOT NULL,              -- the wire item exactly as received
        hash BYTEA,
        sealed_by BIGINT
    );
    CREATE UNIQUE INDEX records_valid_seq ON records(device, seq) WHERE status = 'valid';
    CREATE INDEX records_device_time ON records(device, t);
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        device TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        record_id BIGINT NOT NULL,
        forwarded TEXT
    );
    CREATE UNIQUE INDEX outbox_once ON outbox(device, seq, kind);
    CREATE INDEX outbox_backlog ON outbox(kind, id) WHERE forwarded IS NULL;
    -- statement-level triggers over transition tables: one INSERT ... SELECT per batch
    -- (COPY included) instead of one per row
    CREATE FUNCTION emtag_outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox(device, seq, kind, record_id)
        SELECT device, seq, CASE type WHEN 2 THEN 'alert' ELSE 'fix' END, id FROM added
        WHERE status IN ('valid', 'early') AND type IN (1, 2) AND seq IS NOT NULL
        ORDER BY id
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$;
    CREATE TRIGGER outbox_on_insert AFTER INSERT ON records
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION emtag_outbox_added();
    CREATE FUNCTION emtag_outbox_valid() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox(device, seq, kind, record_id)
        SELECT n.device, n.seq, CASE n.type WHEN 2 THEN 'alert' ELSE 'fix' END, n.id
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.status = 'valid' AND o.status != 'valid' AND n.type IN (1, 2)
        ORDER BY n.id
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$;
    CREATE TRIGGER outbox_on_valid AFTER UPDATE ON records
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION emtag_outbox_valid();
    """,
    # 2 (SQLite 4): the monitoring centre's acknowledgements and retention log
    """
    CREATE TABLE alert_acks (
        device TEXT NOT NULL,
        seq BIGINT NOT NULL,
        acked_by TEXT NOT NULL,
        acked_at TEXT NOT NULL,
        note TEXT,
        PRIMARY KEY (device, seq)
    );
    CREATE TABLE retention_log (
        id BIGSERIAL PRIMARY KEY,
        run_at TEXT NOT NULL,
        cutoff_t BIGINT NOT NULL,
        policy TEXT NOT NULL,
        records BIGINT NOT NULL,
        outbox BIGINT NOT NULL,
        acks BIGINT NOT NULL
    );
    CREATE INDEX records_alerts ON records(type, device, seq) WHERE type = 2;
    """,
    # 3 (SQLite 5): the centre's web app (host/store/centre_tables.py)
    """
    CREATE TABLE centre_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,               -- 'officer' or 'admin'
        password_hash TEXT NOT NULL,      -- argon2id, as argon2-cffi writes it
        created TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE centre_assignments (
        user_name TEXT NOT NULL,
        device TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (user_name, device)
    );
    CREATE TABLE centre_audit (
        id BIGSERIAL PRIMARY KEY,
        at TEXT NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        device TEXT,
        detail TEXT NOT NULL,
        client TEXT
    );
    CREATE INDEX centre_audit_device ON centre_audit(device, id);
    CREATE INDEX centre_audit_user ON centre_audit(user_name, id);
    CREATE TABLE centre_alert_notes (
        id BIGSERIAL PRIMARY KEY,
        ref TEXT NOT NULL,                -- DEVICE/SEQ (a tag's alert) or centre/ID
        at TEXT NOT NULL,
        by_user TEXT NOT NULL,
        note TEXT NOT NULL
    );
    CREATE INDEX centre_alert_notes_ref ON centre_alert_notes(ref);
    CREATE TABLE centre_escalations (
        ref TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        by_user TEXT NOT NULL,            -- a user, or 'centre' (unacknowledged too long)
        reason TEXT NOT NULL
    );
    CREATE TABLE centre_alerts (
        id BIGSERIAL PRIMARY KEY,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,               -- victim_proximity, victim_proximity_clear
        t BIGINT NOT NULL,
        lat_e7 INTEGER,
        lon_e7 INTEGER,
        acc_cm INTEGER,
        detail TEXT NOT NULL,             -- JSON
        raised TEXT NOT NULL,
        acked_by TEXT,
        acked_at TEXT,
        note TEXT
    );
    CREATE INDEX centre_alerts_device ON centre_alerts(device, t);
    CREATE TABLE centre_victims (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 hex of the phone's token
        distance_m REAL,
        created TEXT NOT NULL
    );
    CREATE TABLE centre_victim_wearers (
        victim TEXT NOT NULL,
        device TEXT NOT NULL,
        PRIMARY KEY (victim, device)
    );
    CREATE TABLE centre_victim_positions (
        id BIGSERIAL PRIMARY KEY,
        victim TEXT NOT NULL,
        t BIGINT NOT NULL,
        lat_e7 INTEGER NOT NULL,
        lon_e7 INTEGER NOT NULL,
        acc_cm INTEGER NOT NULL,
        received TEXT NOT NULL
    );
    CREATE INDEX centre_victim_positions_t ON centre_victim_positions(victim, t);
    CREATE TABLE centre_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 4 (SQLite 6): rejected input apart from the evidence, bounded (host/bridge.py)
    """
    CREATE TABLE rejected (
        id BIGSERIAL PRIMARY KEY,
        device TEXT NOT NULL,
        seq BIGINT,
        reason TEXT NOT NULL,
        received TEXT NOT NULL,
        peer TEXT,
        wire BYTEA NOT NULL
    );
    CREATE INDEX rejected_device ON rejected(device, id);
    INSERT INTO rejected(device, seq, reason, received, wire)
        SELECT device, seq, COALESCE(reason, 'rejected'), received, substring(cose from 1 for 2048)
        FROM records WHERE status = 'rejected' ORDER BY id;
    DELETE FROM records WHERE status = 'rejected';
    """,
    # 5 (SQLite 7): crime mapping (host/store/crimes.py): eligibility flags, audit log,
    # trail index (a GiST index on each tile's reach box and time span)
    crimes.POSTGRES_MIGRATION,
    # 6 (SQLite 8): compact evidence (host/store/compact.py)
    """
    CREATE TABLE device_ids (
        dev SERIAL PRIMARY KEY,
        device TEXT NOT NULL UNIQUE
    );
    INSERT INTO device_ids(device) SELECT device FROM devices
        UNION SELECT device FROM records ORDER BY 1;
    CREATE TABLE blocks (
        dev INTEGER NOT NULL,
        last_seq BIGINT NOT NULL,
        arrival BIGINT NOT NULL,
        first_seq BIGINT NOT NULL,
        t_lo BIGINT, t_hi BIGINT,
        fixes INTEGER NOT NULL,
        received TEXT NOT NULL,
        wire BYTEA NOT NULL,
        PRIMARY KEY (dev, last_seq)
    );
    CREATE TABLE proven (
        dev INTEGER NOT NULL,
        t BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        type SMALLINT NOT NULL,
        t_ms INTEGER, lat_e7 INTEGER, lon_e7 INTEGER, acc_cm INTEGER, alert TEXT, zone TEXT,
        PRIMARY KEY (dev, t, seq)
    );
    CREATE INDEX proven_alerts ON proven(dev, seq) WHERE type = 2;
    CREATE INDEX blocks_arrival ON blocks(arrival);
    ALTER TABLE records ADD COLUMN arrival BIGINT;
    UPDATE records SET arrival = id;
    CREATE SEQUENCE feed_seq;
    SELECT setval('feed_seq', COALESCE((SELECT MAX(id) FROM records), 0) + 1, false);
    UPDATE centre_state SET value = (value::bigint * 128 + 127)::text
        WHERE key = 'feed_cursor';
    CREATE TABLE fwd_marks (dev INTEGER PRIMARY KEY, upto BIGINT NOT NULL);
    CREATE TABLE fwd_done (dev INTEGER NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (dev, seq));
    INSERT INTO blocks(dev, last_seq, arrival, first_seq, t_lo, t_hi, fixes, received, wire)
        SELECT d.dev, r.seq, r.id, r.seq, r.t, r.t, (r.type = 1)::int, r.received, r.cose
        FROM records r JOIN device_ids d ON d.device = r.device WHERE r.status = 'valid';
    INSERT INTO proven SELECT d.dev, COALESCE(r.t, 0), r.seq, r.type, r.t_ms, r.lat_e7,
        r.lon_e7, r.acc_cm, r.alert, r.zone
        FROM records r JOIN device_ids d ON d.device = r.device WHERE r.status = 'valid';
    INSERT INTO fwd_marks SELECT d.dev, COALESCE(
        (SELECT MIN(o.seq) - 1 FROM outbox o WHERE o.device = d.device AND o.kind = 'fix'
         AND o.forwarded IS NULL),
        (SELECT MAX(o.seq) FROM outbox o WHERE o.device = d.device AND o.kind = 'fix'), 0)
        FROM device_ids d;
    INSERT INTO fwd_done SELECT d.dev, o.seq FROM outbox o
        JOIN device_ids d ON d.device = o.device JOIN fwd_marks m ON m.dev = d.dev
        WHERE o.kind = 'fix' AND o.forwarded IS NOT NULL AND o.seq > m.upto;
    DELETE FROM outbox WHERE kind = 'fix';
    ALTER TABLE outbox ALTER COLUMN record_id DROP NOT NULL;
    UPDATE outbox o SET record_id = NULL FROM records r
        WHERE r.id = o.record_id AND r.status = 'valid';
    DELETE FROM records WHERE status = 'valid';
    DROP TRIGGER outbox_on_valid ON records;
    DROP INDEX records_trail;
    DELETE FROM trail_tiles;
    DELETE FROM trail_extents;
    DELETE FROM trail_index_state;
    """,
    # 7 (SQLite 9): the trail index's queue (host/store/trail_index.py)
    trail_index.QUEUE_MIGRATION % "BIGSERIAL",
]
