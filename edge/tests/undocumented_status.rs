//! The node holds its own answers to its OpenAPI document: in debug builds (every test) an answer
//! whose status the operation does not list becomes a 500 naming the omission, so a test that
//! reaches an undocumented answer fails. Shown here with a document from which one status was
//! taken away, on a real server over loopback HTTP.

use std::sync::Arc;

use serde_json::Value;
use wms_edge::api::contract::{Documented, Published};
use wms_edge::api::{router, AppState};
use wms_edge::store::{Store, StoreOptions};

const KEY: &str = "admin-key-undocumented-000";

async fn serve(documented: Documented) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[site]\nid = \"site-u\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"ops\"\nrole = \"admin\"\nkey = \"{KEY}\"\n",
        dir.path().join("data").display()
    );
    let cfg = wms_edge::config::parse("edge.toml", &text).expect("config");
    std::fs::create_dir_all(cfg.data_dir()).expect("data dir");
    let store = Store::open(&cfg.db_path(), StoreOptions::default()).expect("store");
    let mut shared = wms_edge::node::app_state(&cfg, store);
    shared.openapi = Arc::new(Published {
        json: String::new(),
        documented,
    });
    let app = router(AppState::new(shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), dir)
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("error object"))
}

#[tokio::test]
async fn an_answer_the_document_does_not_list_is_a_500_naming_it() {
    let full = wms_edge::api::openapi_document();
    let (base, _dir) = serve(Documented::from_document(&full)).await;
    let (status, body) = get(&base, "/v1/orders/NOPE").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    let mut without_404 = full.clone();
    let responses = without_404
        .pointer_mut("/paths/~1v1~1orders~1{id}/get/responses")
        .and_then(Value::as_object_mut)
        .expect("GET /v1/orders/{id} has responses");
    assert!(responses.remove("404").is_some());
    let (base, _dir) = serve(Documented::from_document(&without_404)).await;
    let (status, body) = get(&base, "/v1/orders/NOPE").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "server_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("GET /v1/orders/{id} answered 404"),
        "{message}"
    );
    // The operation's other answers are untouched.
    let (status, _) = get(&base, "/v1/orders").await;
    assert_eq!(status, 200);
}
