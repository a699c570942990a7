//! The screens' stylesheet and script, embedded at compile time from `edge/ui/` and served under
//! names that carry a hash of their content, so a browser may keep them for good and an upgraded
//! node is never shown with an old script.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../ui/app.css");
const JS: &str = include_str!("../../ui/app.js");

fn names() -> &'static (String, String) {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    NAMES.get_or_init(|| {
        let tag = |text: &str| hex::encode(&Sha256::digest(text.as_bytes())[..6]);
        (
            format!("app-{}.css", tag(CSS)),
            format!("app-{}.js", tag(JS)),
        )
    })
}

pub(crate) fn css_url() -> String {
    format!("/ui/assets/{}", names().0)
}

pub(crate) fn js_url() -> String {
    format!("/ui/assets/{}", names().1)
}

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (css, js) = names();
    let (body, mime) = if name == *css {
        (CSS, "text/css; charset=utf-8")
    } else if name == *js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}
