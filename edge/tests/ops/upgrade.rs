//! Upgrades: a database made by every schema version is kept in `tests/fixtures/schema/vN.sql`
//! (migrations 1..N of `store::schema`, each followed by the rows a site would have written at
//! that version, then dumped as SQL). Each is loaded, migrated by the current binary with every
//! row of every table intact, and served by a real node that then takes a write.
//!
//! `schema_fixtures_are_what_the_migrations_make` rebuilds each fixture and compares: a released
//! migration that is edited, or a new one without its fixture, fails it. After adding a
//! migration (and its rows to [`SEED`]), write the new fixture with
//! `WMS_BLESS=1 cargo test -p wms-edge --test ops upgrade`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use wms_edge::store::schema::MIGRATIONS;

/// Rows written right after migration `i + 1`: what a site had at that version. Every table a
/// migration adds or rebuilds gets rows, so the upgrade test sees them carried across.
const SEED: &[&str] = &[
    // 1
    r#"
INSERT INTO counters(name, value) VALUES ('outbox_seq', 3);
INSERT INTO products(tenant_id, sku, name, barcodes, weight, tracking, price, updated_at, version)
    VALUES ('acme', 'SKU-1', 'Widget', '["00012345678905"]', '{"value":"0.250","unit":"kg"}',
            'none', '{"amount":1999,"currency":"USD"}', '2026-01-02T03:04:05.000Z', 1),
           ('acme', 'SKU-2', 'Gadget ''deluxe''', '[]', NULL, 'lot', NULL,
            '2026-01-02T03:04:05.000Z', 1);
INSERT INTO product_barcodes(code, tenant_id, sku) VALUES ('00012345678905', 'acme', 'SKU-1');
INSERT INTO locations(code, zone, pick_sequence, kind, updated_at)
    VALUES ('A-01', 'A', 1, 'pick', '2026-01-02T03:04:05.000Z'),
           ('RCV-1', NULL, 0, 'receiving', '2026-01-02T03:04:05.000Z');
INSERT INTO users(id, tenant_id, name, badge, pin_hash, roles, updated_at)
    VALUES ('U-1', NULL, 'Pat', 'B-100', NULL, '["picker"]', '2026-01-02T03:04:05.000Z');
INSERT INTO api_keys(name, role, tenant_id, key_sha256, created_at)
    VALUES ('scanner-app', 'picker', NULL,
            '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8',
            '2026-01-02T03:04:05.000Z');
INSERT INTO stock(tenant_id, sku, location, lot, on_hand, reserved)
    VALUES ('acme', 'SKU-1', 'A-01', '', 10, 2);
INSERT INTO ledger(tenant_id, sku, location, delta, reason, ref, note, on_hand_after, actor_user,
                   actor_api_key, at, event_seq)
    VALUES ('acme', 'SKU-1', 'A-01', 12, 'received', '{}', 'first delivery', 12, NULL, 'ops',
            '2026-01-02T03:04:05.000Z', 1),
           ('acme', 'SKU-1', 'A-01', -2, 'damaged', '{}', NULL, 10, 'U-1', NULL,
            '2026-01-02T03:05:00.000Z', 2);
INSERT INTO orders(id, tenant_id, status, channel, created_at, ship_by, priority, shipping,
                   ship_to, version, accepted_at, updated_at)
    VALUES ('O-1', 'acme', 'allocated', 'web', '2026-01-02T03:00:00.000Z',
            '2026-01-03T17:00:00.000Z', 'two_day', '{"carrier":"ups","service":"ground"}',
            '{"name":"Ann Lee","street1":"1 Main St","city":"Newark","country":"US"}', 1,
            '2026-01-02T03:06:00.000Z', '2026-01-02T03:06:00.000Z');
INSERT INTO order_lines(order_id, line_id, sku, qty) VALUES ('O-1', '1', 'SKU-1', 2);
INSERT INTO reservations(order_id, line_id, tenant_id, sku, location, qty)
    VALUES ('O-1', '1', 'acme', 'SKU-1', 'A-01', 2);
INSERT INTO order_events(order_id, at, from_status, to_status, note, actor_api_key)
    VALUES ('O-1', '2026-01-02T03:06:00.000Z', NULL, 'allocated', NULL, 'ops');
INSERT INTO audit(at, actor_api_key, action, target, changes, request_id)
    VALUES ('2026-01-02T03:04:05.000Z', 'ops', 'inventory.adjust', 'stock:acme/SKU-1/A-01/',
            '{"on_hand":[0,12]}', 'req_1');
INSERT INTO outbox(seq, id, type, aggregate, occurred_at, body, state, done_at)
    VALUES (1, 'wh-ops:000000000001', 'inventory.adjusted', 'stock:acme/SKU-1/A-01/',
            '2026-01-02T03:04:05.000Z', '{"id":"wh-ops:000000000001","seq":1}', 'done',
            '2026-01-02T03:04:06.000Z'),
           (2, 'wh-ops:000000000002', 'inventory.adjusted', 'stock:acme/SKU-1/A-01/',
            '2026-01-02T03:05:00.000Z', '{"id":"wh-ops:000000000002","seq":2}', 'pending', NULL),
           (3, 'wh-ops:000000000003', 'order.accepted', 'order:O-1',
            '2026-01-02T03:06:00.000Z', '{"id":"wh-ops:000000000003","seq":3}', 'dead', NULL);
"#,
    // 2
    r#"
INSERT INTO sync_state(key, value) VALUES ('cursor', 'eyJpZCI6OTgxfQ=='), ('acked_through', '1');
INSERT INTO sync_dead_letters(seq, event_id, aggregate, code, message, dead_at)
    VALUES (3, 'wh-ops:000000000003', 'order:O-1', 'validation_error', 'unknown order',
            '2026-01-02T03:07:00.000Z');
INSERT INTO sync_versions(object, version) VALUES ('order:O-1', 1), ('product:acme/SKU-1', 1);
INSERT INTO sync_skipped_changes(change_id, type, object, error, at)
    VALUES (7, 'warehouse.upsert', '{"id":"W"}', 'unknown change type',
            '2026-01-02T03:08:00.000Z');
UPDATE orders SET label_printed_at = NULL WHERE id = 'O-1';
"#,
    // 3
    r#"
INSERT INTO station_state(station_id, state, updated_at)
    VALUES ('pick-9', '{"kind":"idle"}', '2026-01-02T03:09:00.000Z');
INSERT INTO pick_tasks(reservation_id, user_id, tote, claimed_at)
    VALUES (1, 'U-1', 'T-7', '2026-01-02T03:09:00.000Z');
INSERT INTO tote_contents(tote, order_id, line_id, tenant_id, sku, lot, qty)
    VALUES ('T-8', 'O-1', '1', 'acme', 'SKU-1', '', 1);
INSERT INTO totes(tote, state, closed_at, closed_by)
    VALUES ('T-8', 'to_pack', '2026-01-02T03:10:00.000Z', 'U-1');
"#,
    // 4
    r#"
INSERT INTO cartons(order_id, carton, tracking_number, sscc, weight_mg, station_id, printed_at,
                    voided_at)
    VALUES ('O-1', 1, '1Z999AA10123456784', '000123450000000017', 312000, 'pack-9',
            '2026-01-02T03:11:00.000Z', '2026-01-02T03:12:00.000Z');
INSERT INTO print_jobs(device_id, kind, order_id, data, created_at, spool_id, spooled_at)
    VALUES ('label-9', 'shipping_label', 'O-1', X'5E58415E46445465737420F09F93A65E46535E585A',
            '2026-01-02T03:11:00.000Z', 'j000000000001', '2026-01-02T03:11:01.000Z');
INSERT INTO shipments(id, order_id, carrier, service, cartons, weight_mg, items, station_id,
                      shipped_at)
    VALUES ('SH-1', 'O-1', 'ups', 'ground', 1, 312000, '[{"sku":"SKU-1","qty":1}]', 'pack-9',
            '2026-01-02T03:13:00.000Z');
INSERT INTO lots(tenant_id, sku, lot, expiry) VALUES ('acme', 'SKU-2', 'L-42', '2027-06-30');
INSERT INTO stock(tenant_id, sku, location, lot, on_hand, reserved)
    VALUES ('acme', 'SKU-2', 'RCV-1', 'L-42', 5, 0);
UPDATE tote_contents SET from_location = 'A-01' WHERE tote = 'T-8';
"#,
    // 5
    r#"
INSERT INTO ledger(tenant_id, sku, location, lot, delta, reason, on_hand_after, at, event_seq)
    VALUES ('acme', 'SKU-2', 'RCV-1', 'L-42', 5, 'received', 5, '2026-01-02T03:14:00.000Z', 3);
"#,
    // 6
    r#"
UPDATE products SET group_prices = '[{"group":"staff","amount":1500}]' WHERE sku = 'SKU-1';
INSERT INTO tax_rates(code, name, rate, version, updated_at)
    VALUES ('std', 'Standard', '8.875', 1, '2026-01-02T03:15:00.000Z');
INSERT INTO customers(id, tenant_id, name, loyalty_id, price_group, updated_at)
    VALUES ('C-1', 'acme', 'Ann Lee', 'L-0001', 'staff', '2026-01-02T03:15:00.000Z');
INSERT INTO login_failures(badge, recent, locked_until)
    VALUES ('B-999', '["2026-01-02T03:15:00.000Z"]', NULL);
"#,
];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema")
}

fn fixture(version: usize) -> PathBuf {
    fixtures_dir().join(format!("v{version}.sql"))
}

/// A database as `version` left it: migrations 1..=version, each followed by its rows.
fn build(version: usize) -> Connection {
    let conn = Connection::open_in_memory().expect("memory db");
    for (i, sql) in MIGRATIONS.iter().enumerate().take(version) {
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("migration {}: {e}", i + 1));
        conn.execute_batch(SEED.get(i).copied().unwrap_or(""))
            .unwrap_or_else(|e| panic!("rows of version {}: {e}", i + 1));
    }
    conn.pragma_update(None, "user_version", version as i64)
        .expect("user_version");
    conn
}

fn literal(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => format!("{r:?}"),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
        ValueRef::Blob(b) => format!("X'{}'", hex::encode_upper(b)),
    }
}

fn query_strings(conn: &Connection, sql: &str) -> Vec<(String, String)> {
    let mut s = conn.prepare(sql).expect("prepare");
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("rows")
}

/// Every row of `table` as SQL literals, in the table's own order.
fn rows(conn: &Connection, table: &str, columns: &[String]) -> Vec<Vec<String>> {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = conn
        .prepare(&format!("SELECT {list} FROM \"{table}\""))
        .expect("select");
    let n = columns.len();
    s.query_map([], |r| {
        (0..n)
            .map(|i| r.get_ref(i).map(literal))
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .expect("rows")
    .collect::<rusqlite::Result<Vec<_>>>()
    .expect("rows")
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let mut s = conn
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .expect("table_info");
    s.query_map([], |r| r.get(0))
        .expect("columns")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("columns")
}

fn tables(conn: &Connection) -> Vec<(String, String)> {
    query_strings(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         ORDER BY name",
    )
}

/// The database as SQL that rebuilds it: tables, rows, AUTOINCREMENT counters, then indexes and
/// triggers (after the rows, so the triggers' checks do not run on the load).
fn dump(conn: &Connection, version: usize) -> String {
    let mut out = format!(
        "-- A wms-edge database at schema version {version}: migrations 1..{version} of \
         edge/src/store/schema.rs,\n-- each followed by its rows from edge/tests/ops/upgrade.rs \
         (SEED). Generated; do not edit.\n-- Regenerate: WMS_BLESS=1 cargo test -p wms-edge \
         --test ops upgrade\nPRAGMA foreign_keys = OFF;\nPRAGMA user_version = {version};\nBEGIN;\n"
    );
    let tables = tables(conn);
    for (_, sql) in &tables {
        out.push_str(sql);
        out.push_str(";\n");
    }
    for (name, _) in &tables {
        let cols = columns(conn, name);
        for row in rows(conn, name, &cols) {
            out.push_str(&format!(
                "INSERT INTO \"{name}\" VALUES({});\n",
                row.join(", ")
            ));
        }
    }
    let has_sequence: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )
        .expect("sqlite_sequence");
    if has_sequence {
        out.push_str("DELETE FROM sqlite_sequence;\n");
        for (name, seq) in query_strings(
            conn,
            "SELECT name, CAST(seq AS TEXT) FROM sqlite_sequence ORDER BY name",
        ) {
            out.push_str(&format!(
                "INSERT INTO sqlite_sequence VALUES('{name}', {seq});\n"
            ));
        }
    }
    for (_, sql) in query_strings(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger', 'view')
         AND sql IS NOT NULL ORDER BY type, name",
    ) {
        out.push_str(&sql);
        out.push_str(";\n");
    }
    out.push_str("COMMIT;\n");
    out
}

/// Every table's rows (its columns at the time) as literals, by table.
fn contents(conn: &Connection) -> BTreeMap<String, (Vec<String>, Vec<Vec<String>>)> {
    tables(conn)
        .into_iter()
        .map(|(name, _)| {
            let cols = columns(conn, &name);
            let mut r = rows(conn, &name, &cols);
            r.sort();
            (name, (cols, r))
        })
        .collect()
}

#[test]
fn schema_fixtures_are_what_the_migrations_make() {
    let bless = std::env::var_os("WMS_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(fixtures_dir()).expect("fixtures dir");
    }
    for version in 1..=MIGRATIONS.len() {
        let made = dump(&build(version), version);
        let path = fixture(version);
        if bless {
            std::fs::write(&path, &made).expect("write fixture");
            continue;
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; every schema version needs its fixture (WMS_BLESS=1 cargo test -p \
                 wms-edge --test ops upgrade)",
                path.display()
            )
        });
        assert!(
            kept == made,
            "{} differs from what migrations 1..{version} make: a released migration was edited? \
             (append a new migration instead)",
            path.display()
        );
    }
}

/// Loads the fixture of `version` into a database file.
fn load(version: usize, db: &Path) {
    let sql = std::fs::read_to_string(fixture(version)).expect("fixture");
    let conn = Connection::open(db).expect("open");
    conn.execute_batch(&sql)
        .unwrap_or_else(|e| panic!("load v{version}: {e}"));
}

#[test]
fn every_earlier_schema_version_migrates_with_its_rows_intact() {
    let latest = MIGRATIONS.len();
    for version in 1..latest {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("wms-edge.db");
        load(version, &db);
        let before = {
            let c = Connection::open(&db).expect("open");
            assert_eq!(
                wms_edge::store::schema_version(&c).expect("version"),
                version as i64
            );
            contents(&c)
        };
        assert!(
            before.values().any(|(_, r)| !r.is_empty()),
            "v{version} fixture has no rows"
        );
        let conn = wms_edge::store::open_and_migrate(&db).expect("migrate");
        assert_eq!(
            wms_edge::store::schema_version(&conn).expect("version"),
            latest as i64
        );
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity");
        assert_eq!(check, "ok", "v{version}");
        let fk: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .expect("fk check");
        assert_eq!(fk, 0, "v{version}: foreign keys broken by the migration");
        for (table, (cols, rows_before)) in &before {
            let now = columns(&conn, table);
            assert!(
                cols.iter().all(|c| now.contains(c)),
                "v{version}: {table} lost columns: {cols:?} -> {now:?}"
            );
            let mut after = rows(&conn, table, cols);
            after.sort();
            assert_eq!(
                &after, rows_before,
                "v{version}: rows of {table} changed in the upgrade"
            );
        }
    }
}

/// A migrated database is served: the node starts on it, shows the stock it had, and books a new
/// adjustment on top (seq after the old counter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serves_and_writes_a_database_upgraded_from_each_version() {
    let http = super::client();
    for version in 1..MIGRATIONS.len() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = super::common::write_config(
            dir.path(),
            "wh-ops",
            super::KEY,
            "[discovery]\nenabled = false\n[log]\nlevel = \"warn\"\n",
        );
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        load(version, &data.join("wms-edge.db"));
        let edge = super::common::spawn(&cfg);
        assert_eq!(super::on_hand(&http, &edge.base).await, 10, "v{version}");
        let (s, v) = super::call(
            &http,
            &edge.base,
            reqwest::Method::POST,
            "/v1/inventory/adjustments",
            Some(super::adjustment(3)),
        )
        .await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "v{version}: {v}");
        assert_eq!(v["on_hand_after"], 13, "v{version}: {v}");
        let seq = v["event_id"]
            .as_str()
            .and_then(|id| id.strip_prefix("wh-ops:"))
            .and_then(|n| n.parse::<u64>().ok());
        assert!(
            seq.is_some_and(|s| s > 3),
            "v{version}: the event counter must go on after the old one: {v}"
        );
        drop(edge);
    }
}
