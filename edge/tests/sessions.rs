//! Floor users' sessions over real HTTP: badge + PIN login, the roles a token carries, logout,
//! and the lockout after five wrong PINs (pos-api.md "Register sessions and people").

use std::net::SocketAddr;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

const ADMIN: &str = "sessions-admin-key-0001";

struct Node {
    base: String,
    http: Client,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[site]\nid = \"st-sessions\"\ntimezone = \"UTC\"\ndata_dir = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[discovery]\nenabled = false\n\
         [[api_keys]]\nname = \"admin\"\nrole = \"admin\"\nkey = \"{ADMIN}\"\n",
        dir.path().display()
    );
    let cfg = wms_edge::config::parse("sessions.toml", &toml).expect("config");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (addr_tx, addr_rx) = oneshot::channel::<SocketAddr>();
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
    let addr = addr_rx.await.expect("listening");
    let node = Node {
        base: format!("http://{addr}"),
        http: Client::new(),
        _dir: dir,
        stop: Some(stop_tx),
    };
    for (id, badge, pin, role) in [
        ("u-cash", "B-200", "482913", "cashier"),
        ("u-sup", "B-300", "771155", "supervisor"),
    ] {
        let (s, v, _) = node
            .call(
                Method::PUT,
                &format!("/v1/users/{id}"),
                Some(ADMIN),
                Some(json!({"name": id, "badge": badge, "pin": pin, "roles": [role], "tenant_id": null})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    node
}

impl Node {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    async fn login(
        &self,
        badge: &str,
        pin: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"badge": badge, "pin": pin})),
        )
        .await
    }
}

#[tokio::test]
async fn a_session_carries_its_users_roles_until_logout() {
    let node = start().await;
    let (s, v, _) = node.login("B-300", "771155").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["user"]["id"], "u-sup");
    assert_eq!(v["user"]["roles"], json!(["supervisor"]));
    let token = v["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 64);
    assert!(v["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')));

    // A supervisor's token reads the catalogue; a cashier's does not.
    let (s, _, _) = node
        .call(Method::GET, "/v1/products", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c, _) = node.login("B-200", "482913").await;
    let cashier = c["token"].as_str().expect("token").to_string();
    let (s, v, _) = node
        .call(Method::GET, "/v1/products", Some(&cashier), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    let (s, _, _) = node
        .call(Method::DELETE, "/v1/sessions/current", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = node
        .call(Method::GET, "/v1/products", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a logged-out token is dead");
    // An API key has no session to end.
    let (s, _, _) = node
        .call(Method::DELETE, "/v1/sessions/current", Some(ADMIN), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, audit, _) = node
        .call(
            Method::GET,
            "/v1/audit?action=session.login",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(audit["data"].as_array().map(Vec::len), Some(2), "{audit}");
}

#[tokio::test]
async fn five_wrong_pins_lock_the_badge_even_for_the_right_pin() {
    let node = start().await;
    for n in 1..=4 {
        let (s, v, _) = node.login("B-200", "000000").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {n}: {v}");
    }
    // The fifth failure is still a 401, and says the badge is now locked.
    let (s, v, _) = node.login("B-200", "111111").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("locked")),
        "{v}"
    );
    // During the lock the right PIN is refused too, with Retry-After.
    let (s, v, h) = node.login("B-200", "482913").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let retry: u64 = h
        .get("retry-after")
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.parse().ok())
        .expect("Retry-After");
    assert!((1..=15 * 60).contains(&retry), "retry after {retry}");
    // The lock is per badge: another cashier still logs in.
    let (s, _, _) = node.login("B-300", "771155").await;
    assert_eq!(s, StatusCode::CREATED);

    let (_, audit, _) = node
        .call(
            Method::GET,
            "/v1/audit?action=session.login_failed",
            Some(ADMIN),
            None,
        )
        .await;
    let reasons: Vec<&str> = audit["data"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["changes"]["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 6, "{audit}");
    assert_eq!(reasons.iter().filter(|r| **r == "locked").count(), 1);
}

#[tokio::test]
async fn unknown_badges_count_against_the_lockout_and_say_nothing_more() {
    let node = start().await;
    let (s, unknown, _) = node.login("B-999", "482913").await;
    let (s2, wrong, _) = node.login("B-200", "999999").await;
    assert_eq!(
        (s, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        unknown["error"]["message"], wrong["error"]["message"],
        "an unknown badge and a wrong PIN read the same"
    );
    for _ in 0..4 {
        node.login("B-999", "482913").await;
    }
    let (s, _, _) = node.login("B-999", "482913").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let (s, v, _) = node
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"badge": "", "pin": "1234"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}
