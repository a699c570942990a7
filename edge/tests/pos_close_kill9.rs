//! A register's close is one transaction: SIGKILL the node at a random moment while it closes a
//! session, many times, and after each restart the session is either still open with no Z report,
//! or closed with exactly one Z report, one `pos.session_closed` upstream and one printed report —
//! never a half-closed session, and Z numbers stay sequential. Trials: `WMS_KILL9_TRIALS`
//! (default 6).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{spawn, write_config, Edge};
use rand::Rng;
use reqwest::{Client, Method};
use serde_json::{json, Value};

const KEY: &str = "pos-close-k9-admin";

fn trials() -> usize {
    std::env::var("WMS_KILL9_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

async fn call(
    http: &Client,
    base: &str,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http.request(m, format!("{base}{path}")).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    match r.send().await {
        Ok(resp) => {
            let s = resp.status().as_u16();
            let t = resp.text().await.unwrap_or_default();
            (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

async fn ok(
    http: &Client,
    base: &str,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let (s, v) = call(http, base, m, path, token, body).await;
    assert!((200..300).contains(&s), "{path}: {s} {v}");
    v
}

fn config(dir: &Path) -> std::path::PathBuf {
    write_config(
        dir,
        "st-zk9",
        KEY,
        "[log]\nlevel = \"warn\"\n[discovery]\nenabled = false\n\
         [[stations]]\nid = \"pos-1\"\nkind = \"pos\"\ntenant_id = \"acme\"\nlocation = \"STORE\"\ncurrency = \"USD\"\n\
         [[devices]]\nid = \"rcpt-1\"\nkind = \"receipt_printer\"\nprofile = \"escpos-80mm\"\nstation = \"pos-1\"\n\
         transport = { tcp = { host = \"127.0.0.1\", port = 9 } }\n",
    )
}

/// Per session: (state, z_no, has report, session_closed events).
fn sessions(db: &Path) -> Vec<(String, String, Option<i64>, bool, i64)> {
    let c = rusqlite::Connection::open(db).expect("open");
    let mut st = c
        .prepare(
            "SELECT id, state, z_no, report IS NOT NULL,
                    (SELECT count(*) FROM outbox WHERE type = 'pos.session_closed'
                        AND json_extract(body, '$.data.session_id') = s.id)
               FROM pos_sessions s ORDER BY opened_at",
        )
        .expect("prepare");
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_killed_midway_leaves_no_z_or_exactly_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let db = dir.path().join("data").join("wms-edge.db");
    let http = Client::new();
    let mut edge: Edge = spawn(&cfg);
    for (path, body) in [
        ("/v1/locations/STORE", json!({"kind": "store"})),
        (
            "/v1/products/acme/TEE",
            json!({"name": "Tee", "barcodes": ["00614141000012"],
                   "price": {"amount": 1000, "currency": "USD"}}),
        ),
        (
            "/v1/users/u-cash",
            json!({"name": "Cass", "badge": "B-1", "pin": "482913", "roles": ["cashier"],
                   "tenant_id": "acme"}),
        ),
    ] {
        ok(&http, &edge.base, Method::PUT, path, KEY, Some(body)).await;
    }
    let mut rng = rand::rng();
    let mut closed_seen = 0i64;
    let (mut killed_before, mut killed_after) = (0, 0);
    for trial in 0..trials() {
        let base = edge.base.clone();
        let login = ok(
            &http,
            &base,
            Method::POST,
            "/v1/sessions",
            "",
            Some(json!({"badge": "B-1", "pin": "482913"})),
        )
        .await;
        let token = login["token"].as_str().expect("token").to_string();
        let s = ok(
            &http,
            &base,
            Method::POST,
            "/v1/pos/registers/pos-1/sessions",
            &token,
            Some(json!({"opening_float": 5000})),
        )
        .await;
        let session = s["id"].as_str().expect("session").to_string();
        let sale = ok(
            &http,
            &base,
            Method::POST,
            "/v1/pos/sales",
            &token,
            Some(json!({"register_id": "pos-1"})),
        )
        .await;
        let sid = sale["id"].as_str().expect("sale").to_string();
        ok(
            &http,
            &base,
            Method::POST,
            &format!("/v1/pos/sales/{sid}/lines"),
            &token,
            Some(json!({"code": "00614141000012"})),
        )
        .await;
        let r = http
            .post(format!("{base}/v1/pos/sales/{sid}/payments"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("k-{trial}"))
            .json(&json!({"method": "cash"}))
            .send()
            .await
            .expect("pay");
        assert!(r.status().is_success());
        // Close, and kill the node somewhere around it.
        let close = {
            let http = http.clone();
            let base = base.clone();
            let token = token.clone();
            let session = session.clone();
            tokio::spawn(async move {
                call(
                    &http,
                    &base,
                    Method::POST,
                    &format!("/v1/pos/sessions/{session}/close"),
                    &token,
                    Some(json!({"counted_cash": 6000})),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_micros(rng.random_range(0..1_500))).await;
        let _ = edge.child.kill();
        let _ = edge.child.wait();
        let (status, _) = close.await.expect("close task");
        edge = spawn(&cfg);
        let rows = sessions(&db);
        let mine = rows
            .iter()
            .find(|r| r.0 == session)
            .expect("the session survives");
        match mine.1.as_str() {
            "open" => {
                killed_before += 1;
                assert_ne!(status, 200, "a close answered 200 was lost");
                assert_eq!(
                    (mine.2, mine.3, mine.4),
                    (None, false, 0),
                    "half-closed: {mine:?}"
                );
                // Close it now, for good.
                let base = edge.base.clone();
                let login = ok(
                    &http,
                    &base,
                    Method::POST,
                    "/v1/sessions",
                    "",
                    Some(json!({"badge": "B-1", "pin": "482913"})),
                )
                .await;
                let token = login["token"].as_str().expect("token").to_string();
                ok(
                    &http,
                    &base,
                    Method::POST,
                    &format!("/v1/pos/sessions/{session}/close"),
                    &token,
                    Some(json!({"counted_cash": 6000})),
                )
                .await;
            }
            "closed" => {
                killed_after += 1;
                assert!(mine.2.is_some() && mine.3, "closed without a Z: {mine:?}");
                assert_eq!(mine.4, 1, "one session_closed upstream");
            }
            other => panic!("session state {other}"),
        }
        closed_seen += 1;
        let rows = sessions(&db);
        let zs: Vec<i64> = rows.iter().filter_map(|r| r.2).collect();
        assert_eq!(
            zs,
            (1..=closed_seen).collect::<Vec<_>>(),
            "Z numbers sequential"
        );
        assert!(rows.iter().all(|r| r.4 <= 1));
    }
    eprintln!("closes killed before commit: {killed_before}, after: {killed_after}");
    let c = rusqlite::Connection::open(&db).expect("open");
    let printed: i64 = c
        .query_row(
            "SELECT count(*) FROM print_jobs WHERE kind = 'report'",
            [],
            |r| r.get(0),
        )
        .expect("print jobs");
    assert_eq!(printed, closed_seen, "one printed Z per close");
}
