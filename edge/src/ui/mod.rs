//! The station screens (edge-api.md "Station screens"): login, station, register, customer
//! display and supervisor pages, served by the node under `/ui/`.
//!
//! Pages are rendered on the server with `maud` (every value escaped by construction) from the
//! node's own JSON API, called in-process with the viewer's session token, so a page shows exactly
//! what that person may read and nothing the API would refuse them. Each page is a shell plus named
//! parts (`?part=<name>`) that the page's script fetches again when an event on `/v1/events` says
//! they changed, and whenever the event stream reconnects (a restarted node). Changes go from the
//! script straight to the JSON API with the session cookie and the page's CSRF token
//! (`api::auth`). The one stylesheet and the one script are embedded in the binary; nothing is
//! loaded from another origin, which the Content-Security-Policy on every page also enforces.

mod assets;
mod customer;
mod home;
mod login;
mod money;
mod register;
mod station;
mod supervisor;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

use crate::api::auth::{self, Principal};
use crate::api::AppState;
use crate::domain::role::Role;
use crate::store::base::sessions::SessionUser;

/// What the screens share: the node's state and its JSON API as a service to call in-process.
#[derive(Clone)]
pub struct Ui {
    st: AppState,
    api: Router,
}

/// The screens' routes; `api` is the node's API router, which pages read through.
pub fn routes(st: AppState, api: Router) -> Router {
    let ui = Ui { st, api };
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(home::page))
        .route("/ui/login", get(login::page))
        .route(
            "/ui/session",
            axum::routing::post(login::create).delete(login::end),
        )
        .route("/ui/station/{id}", get(station::page))
        .route("/ui/register/{id}", get(register::page))
        .route("/ui/customer/{id}", get(customer::page))
        .route("/ui/supervisor", get(supervisor::page))
        .route("/ui/assets/{name}", get(assets::serve))
        .layer(middleware::from_fn(security_headers))
        .with_state(ui)
}

/// No page may load anything from another origin, be framed, or be cached with a person's data.
async fn security_headers(req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/ui/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; \
             base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The person looking at a page, from the session cookie.
pub(crate) struct Viewer {
    pub user: std::sync::Arc<SessionUser>,
    pub token: String,
}

impl Viewer {
    /// The viewer of a request, or the login page (with the way back) when there is none.
    async fn of(ui: &Ui, headers: &HeaderMap, back: &str) -> Result<Viewer, Response> {
        let to_login =
            || Redirect::to(&format!("/ui/login?next={}", encode_component(back))).into_response();
        let Some(token) = auth::session_cookie(headers) else {
            return Err(to_login());
        };
        match auth::authenticate(&ui.st, token).await {
            Ok(Principal::User(user)) => Ok(Viewer {
                user,
                token: token.to_string(),
            }),
            _ => Err(to_login()),
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.user.roles.iter().any(|r| r.satisfies(role))
    }

    fn csrf(&self) -> String {
        auth::csrf_token(&self.token)
    }

    /// A page this viewer's roles do not open.
    fn refused(&self, what: &str, role: Role) -> Response {
        let body = html! {
            main.narrow {
                h1 { "Not for this login" }
                p.notice.bad { (what) " needs the " strong { (role.as_str()) } " role; "
                    (self.user.name) " is logged in as " (roles_text(&self.user.roles)) "." }
                p { a href="/ui/" { "Back to the screens you can open" } }
            }
        };
        (
            StatusCode::FORBIDDEN,
            layout(self, &Shell::new("Not for this login", "refused"), body),
        )
            .into_response()
    }
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What went wrong reading the API for a part of a page.
#[derive(Debug)]
pub(crate) struct Fail {
    pub message: String,
    /// The route does not exist on this node (an older or partial build): the page says so.
    pub missing: bool,
}

impl Ui {
    /// `GET path` on the node's JSON API with the viewer's session, in-process.
    pub(crate) async fn get(&self, viewer: &Viewer, path: &str) -> Result<Value, Fail> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", viewer.token))
            .body(Body::empty())
            .map_err(|e| Fail {
                message: format!("bad request path {path}: {e}"),
                missing: false,
            })?;
        let resp = match tower::Service::call(&mut self.api.clone(), req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 8 * 1024 * 1024)
            .await
            .map_err(|e| Fail {
                message: format!("reading the answer: {e}"),
                missing: false,
            })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return body.ok_or(Fail {
                message: "the answer was not JSON".into(),
                missing: false,
            });
        }
        let message = body
            .as_ref()
            .and_then(|b| b["error"]["message"].as_str())
            .map(str::to_string);
        // A route the router does not know answers without the API's error object.
        let missing = matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        ) && (message.is_none() || status != StatusCode::NOT_FOUND);
        Err(Fail {
            message: message.unwrap_or_else(|| format!("the node answered {status}")),
            missing,
        })
    }
}

/// Which part of a page a request asks for (`?part=name`), and its other query parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct PartQuery {
    pub part: Option<String>,
    pub q: Option<String>,
    pub device: Option<String>,
    pub session: Option<String>,
}

/// A part alone, for the script to put in place.
pub(crate) fn fragment(m: Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// What a page's shell needs to know besides its body.
pub(crate) struct Shell<'a> {
    pub title: &'a str,
    pub page: &'a str,
    /// Event types the page follows (`/v1/events?types=`), empty for none.
    pub events: &'a str,
    /// Seconds without a touch or key press before the page logs out (0: never).
    pub idle_s: u32,
    /// `data-*` attributes for the script: station, register, device, currency digits.
    pub data: Vec<(&'static str, String)>,
}

impl<'a> Shell<'a> {
    pub fn new(title: &'a str, page: &'a str) -> Self {
        Shell {
            title,
            page,
            events: "",
            idle_s: DEFAULT_IDLE_S,
            data: Vec::new(),
        }
    }
}

/// Idle logout of a screen that does not say otherwise.
pub(crate) const DEFAULT_IDLE_S: u32 = 15 * 60;

/// The page around a body: header with who is logged in, the live indicator and log out.
pub(crate) fn layout(viewer: &Viewer, shell: &Shell<'_>, body: Markup) -> Response {
    let data: String = shell
        .data
        .iter()
        .map(|(k, v)| format!(" data-{k}=\"{}\"", escape_attr(v)))
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(viewer.csrf());
                title { (shell.title) " · wms-edge" }
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::js_url()) defer {}
            }
            (PreEscaped(format!(
                "<body data-page=\"{}\" data-events=\"{}\" data-idle-s=\"{}\"{data}>",
                escape_attr(shell.page),
                escape_attr(shell.events),
                shell.idle_s
            )))
            header.bar {
                a.brand href="/ui/" { "wms-edge" }
                span.title { (shell.title) }
                @if !shell.events.is_empty() {
                    span.live data-testid="live" data-live="connecting" { "connecting" }
                }
                span.who { (viewer.user.name) " · " (roles_text(&viewer.user.roles)) }
                button.logout type="button" data-action="logout" { "Log out" }
            }
            (body)
            (PreEscaped("</body>"))
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.into_string(),
    )
        .into_response()
}

/// A part whose data could not be read: the reason, never a blank.
pub(crate) fn unavailable(what: &str, f: &Fail) -> Markup {
    html! {
        @if f.missing {
            p.notice data-unavailable="true" { (what) " is not available on this node yet." }
        } @else {
            p.notice.bad { (what) ": " (f.message) }
        }
    }
}

/// Text made safe inside a double-quoted attribute.
pub(crate) fn escape_attr(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one URL component.
pub(crate) fn encode_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A string field of a JSON value, or "".
pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The part of an RFC 3339 time a person reads on a floor screen: `HH:MM:SS` (UTC), or the
/// date too when it is not today.
pub(crate) fn short_time(t: &str) -> String {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(hms)) if d == today => hms.to_string(),
        (Some(d), Some(hms)) => format!("{d} {hms}"),
        _ => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_time_keeps_the_date_only_when_it_is_not_today() {
        assert_eq!(
            short_time("2020-01-02T03:04:05.678Z"),
            "2020-01-02 03:04:05"
        );
        let now = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S.000Z")
            .to_string();
        assert_eq!(short_time(&now).len(), 8);
        assert_eq!(short_time("junk"), "junk");
    }

    #[test]
    fn attributes_cannot_be_broken_out_of() {
        assert_eq!(
            escape_attr("a\"><script>'&"),
            "a&quot;&gt;&lt;script&gt;&#39;&amp;"
        );
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(
            encode_component("/ui/station/a b?x=1"),
            "%2Fui%2Fstation%2Fa+b%3Fx%3D1"
        );
    }
}
