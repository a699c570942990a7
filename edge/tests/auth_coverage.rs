//! Every operation in the OpenAPI document (which is generated from the handlers) refuses a
//! request without credentials, and every read refuses the `central` role — so an endpoint added
//! later cannot forget authentication without this test failing.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Endpoints that are public by design, or authenticated by a signature instead of a key.
const PUBLIC: [&str; 2] = ["/health", "/v1/openapi.json"];
const SIGNED: [&str; 1] = ["/v1/sync/webhook"];
/// The login: its credentials are the body's badge and PIN.
const LOGIN: [&str; 1] = ["/v1/sessions"];

#[tokio::test]
async fn every_operation_in_the_openapi_document_requires_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"wh-auth\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"central\"\nrole = \"central\"\nkey = \"central-key-000000\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("auth.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let _ = wms_edge::node::serve(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        )
        .await;
    });
    let base = format!("http://{}", addr_rx.await.expect("addr"));
    let http = reqwest::Client::new();
    let doc: Value = serde_json::from_str(&wms_edge::api::openapi_json()).expect("openapi");
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (template, ops) in paths {
        let path = template
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x-1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().expect("ops").keys() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if SIGNED.contains(&template.as_str()) {
                // Verified by signature, and 404 when no webhook secret is configured
                // (edge/tests/sync.rs covers it).
                continue;
            }
            if LOGIN.contains(&template.as_str()) {
                let resp = http
                    .request(m, format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(r#"{"badge": "nobody", "pin": "0000"}"#)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(
                    resp.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {template}"
                );
                continue;
            }
            if PUBLIC.contains(&template.as_str()) {
                let s = http
                    .request(m, format!("{base}{path}"))
                    .send()
                    .await
                    .expect("send")
                    .status();
                assert_eq!(s, StatusCode::OK, "{method} {template} is public");
                continue;
            }
            let resp = http
                .request(m.clone(), format!("{base}{path}"))
                .send()
                .await
                .expect("send");
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {template} without credentials"
            );
            let body: Value = resp.json().await.expect("error object");
            assert!(
                body["error"]["code"].is_string(),
                "{method} {template}: {body}"
            );
            if m == Method::GET {
                let s = http
                    .request(m, format!("{base}{path}"))
                    .bearer_auth("central-key-000000")
                    .send()
                    .await
                    .expect("send")
                    .status();
                assert_eq!(
                    s,
                    StatusCode::FORBIDDEN,
                    "{method} {template} with the central role"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} operations found in the OpenAPI document"
    );
    let _ = stop_tx.send(());
}
