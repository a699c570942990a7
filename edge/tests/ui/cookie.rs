//! The screens' session cookie and CSRF defence over plain HTTP (no browser needed): the cookie's
//! attributes, the API accepting it like a bearer token for reads, refusing changes made with it
//! unless the page's CSRF token comes along, bearer requests unchanged, logins from another
//! origin refused, pages leading to the login without a session, and names escaped in the HTML.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::site::{self, ADMIN, PIN};

/// Logs in through `/ui/session`; the cookie's value and its CSRF token (read from a page).
async fn cookie_login(site: &site::Site, badge: &str) -> (String, String, String) {
    let resp = site
        .http
        .post(format!("{}/ui/session", site.base))
        .json(&json!({"badge": badge, "pin": PIN}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let set = resp
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string();
    let token = set
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("wms_session="))
        .expect("the session cookie")
        .to_string();
    let page = site
        .http
        .get(format!("{}/ui/", site.base))
        .header(COOKIE, format!("wms_session={token}"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_string();
    (set, token, csrf)
}

async fn with_cookie(
    site: &site::Site,
    method: Method,
    path: &str,
    token: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = site
        .http
        .request(method, format!("{}{path}", site.base))
        .header(COOKIE, format!("other=1; wms_session={token}"));
    if let Some(c) = csrf {
        req = req.header("X-CSRF-Token", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_session_cookie_is_strict_and_httponly_and_changes_made_with_it_need_the_csrf_token() {
    let site = site::start().await;
    let (set, token, csrf) = cookie_login(&site, "B-102").await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    // Reads with the cookie alone.
    let (s, v) = with_cookie(&site, Method::GET, "/v1/orders", &token, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A change without the token, or with another session's, is refused and not carried out.
    let scan = json!({"device_id": "hh-pack", "data": "EMP:B-102"});
    let (s, v) = with_cookie(
        &site,
        Method::POST,
        "/v1/scans",
        &token,
        None,
        Some(scan.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "authorization_error");
    let (_, _, other_csrf) = cookie_login(&site, "B-101").await;
    let (s, _) = with_cookie(
        &site,
        Method::POST,
        "/v1/scans",
        &token,
        Some(&other_csrf),
        Some(scan.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // With the page's token it goes through, attributed to the person.
    let (s, v) = with_cookie(
        &site,
        Method::POST,
        "/v1/scans",
        &token,
        Some(&csrf),
        Some(scan),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["feedback"], "good", "{v}");
    // Bearer requests need no CSRF token, as before.
    let (s, v) = site
        .call(
            Method::POST,
            "/v1/scans",
            &token,
            Some(json!({"device_id": "hh-pack", "data": "CMD:LOGOUT"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // An API key in the cookie is no session.
    let (s, _) = with_cookie(&site, Method::GET, "/v1/orders", ADMIN, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Logging out needs the token too, then ends the session and drops the cookie.
    let (s, _) = with_cookie(&site, Method::DELETE, "/ui/session", &token, None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let resp = site
        .http
        .delete(format!("{}/ui/session", site.base))
        .header(COOKIE, format!("wms_session={token}"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (s, _) = with_cookie(&site, Method::GET, "/v1/orders", &token, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logins_from_another_origin_are_refused_and_pages_lead_to_the_login_without_a_session() {
    let site = site::start().await;
    let resp = site
        .http
        .post(format!("{}/ui/session", site.base))
        .header("Origin", "http://evil.example")
        .json(&json!({"badge": "B-102", "pin": PIN}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let wrong = site
        .http
        .post(format!("{}/ui/session", site.base))
        .json(&json!({"badge": "B-102", "pin": "0000"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for path in [
        "/ui/station/pack-1",
        "/ui/register/pos-1",
        "/ui/customer/pos-1",
        "/ui/supervisor",
        "/ui/",
    ] {
        let resp = no_redirects
            .get(format!("{}{path}", site.base))
            .header(COOKIE, "wms_session=not-a-session")
            .send()
            .await
            .expect("page");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        let to = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(to.starts_with("/ui/login?next=%2Fui%2F"), "{path} → {to}");
    }
    let root = no_redirects
        .get(format!("{}/", site.base))
        .send()
        .await
        .expect("root");
    assert_eq!(
        root.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/ui/")
    );
    // A packer has no register; a cashier no supervisor page.
    let (_, packer, _) = cookie_login(&site, "B-102").await;
    let resp = no_redirects
        .get(format!("{}/ui/register/pos-1", site.base))
        .header(COOKIE, format!("wms_session={packer}"))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.expect("html").contains("needs the"));
}

#[tokio::test]
async fn html_in_a_customer_name_is_escaped_in_the_register_and_customer_pages() {
    let site = site::start().await;
    let cashier = site.token("B-200").await;
    site.call(
        Method::POST,
        "/v1/pos/registers/pos-1/sessions",
        &cashier,
        Some(json!({"opening_float": 5000})),
    )
    .await;
    let (s, customer) = site
        .call(
            Method::POST,
            "/v1/pos/customers",
            &cashier,
            Some(json!({"name": "<script>alert(1)</script>Eve", "phone": "555-0199"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{customer}");
    let (s, sale) = site
        .call(
            Method::POST,
            "/v1/pos/sales",
            &cashier,
            Some(json!({"register_id": "pos-1", "customer_id": customer["id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sale}");
    let (_, token, _) = cookie_login(&site, "B-200").await;
    for path in [
        "/ui/register/pos-1?part=sale",
        "/ui/register/pos-1?part=customers&q=555-0199",
        "/ui/register/pos-1",
    ] {
        let html = site
            .http
            .get(format!("{}{path}", site.base))
            .header(COOKIE, format!("wms_session={token}"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;Eve"),
            "{path}: {html}"
        );
        assert!(!html.contains("<script>alert(1)"), "{path}");
    }
}
