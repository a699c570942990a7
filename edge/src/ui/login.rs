//! Logging in and out of the screens: badge (typed, or scanned by a keyboard-wedge scanner into
//! the badge field) and PIN become a floor user's session (`POST /v1/sessions`, with its lockout
//! and audit), whose token is handed to the browser only as an `HttpOnly`, `SameSite=Strict`
//! cookie that scripts cannot read.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, DOCTYPE};
use serde::Deserialize;
use serde_json::json;

use super::{assets, Ui};
use crate::api::auth::{self, Caller, Principal, SESSION_COOKIE};
use crate::api::error::ApiError;
use crate::api::extract::Body;
use crate::api::sessions::{self, Credentials, SESSION_HOURS};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    /// Why the person is here again: `idle` (logged out after a while unused) or `expired`.
    why: Option<String>,
}

/// Where to go after logging in: a screen of this node, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/ui/",
    }
}

pub(crate) async fn page(Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    let why = match q.why.as_deref() {
        Some("idle") => Some("You were logged out after a while without use."),
        Some("expired") => Some("Your session has ended. Log in again to carry on where you were."),
        _ => None,
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Log in · wms-edge" }
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::js_url()) defer {}
            }
            body data-page="login" {
                main.login {
                    h1 { "wms-edge" }
                    p.sub { "Scan your badge or type it, then your PIN." }
                    @if let Some(w) = why {
                        p.notice { (w) }
                    }
                    form #login data-next=(next) autocomplete="off" {
                        label for="badge" { "Badge" }
                        input #badge name="badge" data-testid="login-badge" autofocus
                            autocomplete="off" autocapitalize="off" spellcheck="false"
                            required maxlength="64";
                        label for="pin" { "PIN" }
                        input #pin name="pin" type="password" inputmode="numeric"
                            data-testid="login-pin" autocomplete="off" required maxlength="12";
                        p.error data-testid="login-error" role="alert" hidden {}
                        button type="submit" data-testid="login-submit" { "Log in" }
                    }
                }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// A login from another site's page would arrive with that site's `Origin`: refused, so nobody
/// can be logged in as someone else behind their back.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}

fn cookie(token: &str, max_age_s: i64) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}")
}

/// `POST /ui/session {"badge", "pin"}`: the session cookie, and who logged in.
pub(crate) async fn create(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Body(input): Body<Credentials>,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(ApiError::forbidden(
            "a login must come from this node's own page",
        ));
    }
    // A scanned badge arrives with the scan grammar's prefix.
    let input = Credentials {
        badge: input
            .badge
            .trim()
            .strip_prefix("EMP:")
            .unwrap_or(input.badge.trim())
            .to_string(),
        pin: input
            .pin
            .trim()
            .strip_prefix("PIN:")
            .unwrap_or(input.pin.trim())
            .to_string(),
    };
    let (_, Json(session)) = sessions::login(State(ui.st.clone()), Body(input)).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::SET_COOKIE,
            cookie(&session.token, SESSION_HOURS * 3600),
        )],
        Json(json!({"user": session.user, "expires_at": session.expires_at})),
    )
        .into_response())
}

/// `DELETE /ui/session`: ends the session (with the page's CSRF token) and drops the cookie.
pub(crate) async fn end(State(ui): State<Ui>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = auth::session_cookie(&headers) {
        if let Ok(Principal::User(user)) = auth::authenticate(&ui.st, token).await {
            if !auth::csrf_matches(&headers, token) {
                return Err(ApiError::forbidden(
                    "logging out with the session cookie needs the page's X-CSRF-Token header",
                ));
            }
            let caller = Caller {
                principal: Principal::User(user),
                device: None,
            };
            sessions::logout(caller, State(ui.st.clone())).await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie("", 0))],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_screens_of_this_node_are_where_a_login_leads() {
        assert_eq!(safe_next(Some("/ui/station/pack-1")), "/ui/station/pack-1");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui/");
        assert_eq!(safe_next(Some("//evil.example/ui/")), "/ui/");
        assert_eq!(safe_next(Some("/ui/\\evil")), "/ui/");
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn a_login_from_another_origin_is_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("10.0.0.5:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://10.0.0.5:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
