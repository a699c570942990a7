//! What the OpenAPI document promises beyond each handler's own annotation, derived from what the
//! operation declares — so a new endpoint inherits it and nobody maintains a list by hand:
//!
//! - an operation with `security` accepts the bearer credential or the station screens' session
//!   cookie, takes the optional `X-Device-Id` header, and can answer 401 and 403 (and 400 for a
//!   malformed `X-Device-Id`, 503 when the store cannot be read to look the credential up);
//! - a JSON request body can be answered 400 (not JSON), 413 (too large), 415 (not JSON by its
//!   `Content-Type`) and 422 (the wrong shape, or a rule it breaks, named in `details`);
//! - query parameters can be answered 422, path parameters 400 (not valid percent-encoded UTF-8);
//!   an operation that is not a GET can answer 503 when the data disk is full (nothing is saved);
//!   every operation can answer 500;
//! - every answer carries `X-Request-Id`, a 429 also `Retry-After`, and every error is the one
//!   error object, with an example.
//!
//! The node checks itself against the result: in debug builds (every test) an answer whose status
//! the document does not list for its operation is turned into a 500 naming the omission
//! ([`Documented`]), so a test reaching such a path fails.

use std::collections::{BTreeMap, HashMap};

use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::extract::MAX_BODY;

/// The operation extension that marks a request body the handler reads as raw bytes (a signed
/// webhook): it is not parsed as JSON, so none of the JSON failures apply. Removed from the
/// document once read.
pub const RAW_BODY: &str = "x-raw-body";

/// The header a station or device names itself in, for attribution.
pub const DEVICE_HEADER: &str = "X-Device-Id";

/// What `X-Device-Id` may hold.
pub const DEVICE_ID_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

const ERROR_BODY: &str = "#/components/schemas/ErrorBody";

/// The error object's codes, as serialized.
const ERROR_CODES: [&str; 8] = [
    "authentication_error",
    "authorization_error",
    "validation_error",
    "not_found",
    "conflict",
    "rate_limit_exceeded",
    "device_unavailable",
    "server_error",
];

/// One reason an operation may answer `status`.
struct Reason {
    status: u16,
    code: &'static str,
    text: &'static str,
    example: &'static str,
}

const AUTH: &[Reason] = &[
    Reason {
        status: 400,
        code: "validation_error",
        text: "a malformed X-Device-Id header",
        example: "X-Device-Id must be 1-64 letters, digits, '-', '_' or '.'",
    },
    Reason {
        status: 401,
        code: "authentication_error",
        text: "no credential, or an unknown API key or session token",
        example: "missing Authorization: Bearer <key>",
    },
    Reason {
        status: 403,
        code: "authorization_error",
        text: "a credential without the role or tenant this needs (or, with the session cookie, a change without the page's X-CSRF-Token)",
        example: "this endpoint needs the admin role; key \"ops\" has supervisor",
    },
    Reason {
        status: 503,
        code: "server_error",
        text: "the store cannot be read (the credential cannot be looked up)",
        example: "the store is unavailable",
    },
];

const JSON_BODY: &[Reason] = &[
    Reason {
        status: 400,
        code: "validation_error",
        text: "a body that is not JSON, or none",
        example: "malformed JSON: expected value at line 1 column 1",
    },
    Reason {
        status: 413,
        code: "validation_error",
        text: "a body larger than 1 MiB",
        example: "body larger than 1048576 bytes",
    },
    Reason {
        status: 415,
        code: "validation_error",
        text: "a Content-Type other than JSON",
        example: "expected Content-Type application/json, got text/plain",
    },
    Reason {
        status: 422,
        code: "validation_error",
        text:
            "a body of the wrong shape, or one that breaks a rule (the field is named in details)",
        example: "name: must not be empty",
    },
];

const QUERY: Reason = Reason {
    status: 422,
    code: "validation_error",
    text: "a query parameter that is unknown, of the wrong type or out of range",
    example: "limit: must be between 1 and 200",
};

const PATH: Reason = Reason {
    status: 400,
    code: "validation_error",
    text: "a path parameter that is not valid percent-encoded UTF-8",
    example: "bad path parameter: Invalid UTF-8 in `id`",
};

const STORAGE_FULL: Reason = Reason {
    status: 503,
    code: "server_error",
    text: "the data disk is full: nothing was saved (it clears once space returns)",
    example: "storage full: the node's disk has no room, nothing was saved; free space on the data disk and try again",
};

const INTERNAL: Reason = Reason {
    status: 500,
    code: "server_error",
    text: "an internal error (the node's log says more)",
    example: "internal error; see the node's log",
};

/// The default reason of a status an annotation lists without a description.
fn default_reason(status: u16) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match status {
        400 => ("validation_error", "a malformed request", "malformed JSON: the body is empty"),
        401 => ("authentication_error", "wrong or missing credentials", "missing Authorization: Bearer <key>"),
        403 => ("authorization_error", "the caller may not do this", "this endpoint needs the supervisor role; key \"floor\" has picker"),
        404 => ("not_found", "the resource named in the path does not exist (or belongs to another tenant)", "not found"),
        409 => ("conflict", "the current state forbids it", "order DEMO-1001 is shipped; too late to cancel"),
        422 => ("validation_error", "a value breaks a rule, or names something the site does not know (the field is named in details)", "sku: unknown sku NOPE for tenant acme"),
        429 => ("rate_limit_exceeded", "too many attempts: wait for Retry-After seconds", "badge 1003 is locked for 900 s after 5 wrong PINs"),
        503 => ("device_unavailable", "a device or the central cannot be reached now", "scale scale-1 is offline"),
        _ => return None,
    })
}

fn error_example(status: u16, code: &str, message: &str) -> Value {
    let details = if status == 422 {
        let (field, msg) = message.split_once(": ").unwrap_or(("body", message));
        json!([{"field": field, "message": msg}])
    } else {
        json!([])
    };
    json!({"error": {"code": code, "message": message, "details": details, "request_id": "req_0k3m9x2v7q1w5e8r4t6y"}})
}

fn request_id_header() -> Value {
    json!({
        "description": "The request's id: the client's X-Request-Id when well-formed, else one the node made; error objects carry it too.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
    })
}

fn add_reason(responses: &mut Map<String, Value>, r: &Reason) {
    let key = r.status.to_string();
    let line = format!("{}: {}", r.code, r.text);
    match responses.get_mut(&key) {
        Some(resp) => {
            let desc = resp["description"].as_str().unwrap_or_default().to_string();
            if !desc.contains(r.text) {
                resp["description"] = Value::from(if desc.is_empty() {
                    line
                } else {
                    format!("{desc}; {line}")
                });
            }
        }
        None => {
            responses.insert(
                key,
                json!({
                    "description": line,
                    "content": {"application/json": {
                        "schema": {"$ref": ERROR_BODY},
                        "example": error_example(r.status, r.code, r.example),
                    }}
                }),
            );
        }
    }
}

/// Fills what each response needs that no annotation says: a description for a bare status,
/// the error object's example, `X-Request-Id`, and `Retry-After` on a 429.
fn complete_response(status: &str, resp: &mut Value) {
    let code = status.parse::<u16>().unwrap_or(0);
    if let Some((err, text, example)) = default_reason(code) {
        let desc = resp["description"].as_str().unwrap_or_default();
        if desc.is_empty() {
            resp["description"] = Value::from(format!("{err}: {text}"));
        } else if !ERROR_CODES
            .iter()
            .any(|c| desc.starts_with(&format!("{c}: ")))
        {
            resp["description"] = Value::from(format!("{err}: {desc}"));
        }
        if let Some(content) = resp
            .pointer_mut("/content/application~1json")
            .and_then(Value::as_object_mut)
        {
            if content.get("schema").and_then(|s| s.get("$ref")) == Some(&json!(ERROR_BODY))
                && !content.contains_key("example")
            {
                content.insert("example".into(), error_example(code, err, example));
            }
        }
    }
    if resp["description"].as_str().unwrap_or_default().is_empty() {
        resp["description"] = Value::from(
            StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("response"),
        );
    }
    let headers = resp
        .as_object_mut()
        .map(|o| o.entry("headers").or_insert_with(|| json!({})));
    if let Some(headers) = headers.and_then(Value::as_object_mut) {
        headers.insert("X-Request-Id".into(), request_id_header());
        if code == 429 {
            headers.insert(
                "Retry-After".into(),
                json!({"description": "Seconds until another attempt may succeed.",
                       "required": true,
                       "schema": {"type": "integer", "minimum": 1}}),
            );
        }
    }
}

fn device_header() -> Value {
    json!({
        "name": DEVICE_HEADER,
        "in": "header",
        "required": false,
        "description": "The station or device the request acts for; recorded in the audit log.",
        "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN}
    })
}

/// Applies the conventions to every operation of `doc` (a serialized OpenAPI document).
pub fn apply(doc: &mut Value) {
    let schemes = doc
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .map(|c| c.entry("securitySchemes").or_insert_with(|| json!({})));
    if let Some(s) = schemes.and_then(Value::as_object_mut) {
        s.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer",
                   "description": "An API key (config file or `wms-edge keys create`) or a floor user's session token (POST /v1/sessions)."}),
        );
        s.insert(
            "session_cookie".into(),
            json!({"type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE,
                   "description": "The station screens' session: the token of POST /v1/sessions in an HttpOnly, SameSite=Strict cookie. A request that changes something with it must also send the page's X-CSRF-Token header."}),
        );
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            apply_operation(method, op);
        }
    }
}

fn apply_operation(method: &str, op: &mut Value) {
    let Some(o) = op.as_object_mut() else { return };
    let secured = o
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.as_object().is_some_and(|m| !m.is_empty()))
        });
    let raw_body = o.remove(RAW_BODY).is_some();
    let json_body = o.contains_key("requestBody") && !raw_body;
    let params: Vec<Value> = o
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |place: &str| params.iter().any(|p| p["in"] == place);
    if secured {
        o.insert(
            "security".into(),
            json!([{"bearer": []}, {"session_cookie": []}]),
        );
        let list = o.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            if !list.iter().any(|p| p["name"] == DEVICE_HEADER) {
                list.push(device_header());
            }
        }
    }
    let responses = o.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    if secured {
        AUTH.iter().for_each(|r| add_reason(responses, r));
    }
    if json_body {
        JSON_BODY.iter().for_each(|r| add_reason(responses, r));
    }
    if has("query") {
        add_reason(responses, &QUERY);
    }
    if has("path") {
        add_reason(responses, &PATH);
    }
    if method != "get" {
        add_reason(responses, &STORAGE_FULL);
    }
    add_reason(responses, &INTERNAL);
    for (status, resp) in responses.iter_mut() {
        complete_response(status, resp);
    }
}

/// The document as the node serves it, with the statuses it lists: built once per node.
#[derive(Debug)]
pub struct Published {
    pub json: String,
    pub documented: Documented,
}

impl Published {
    pub fn new() -> Self {
        let doc = super::openapi_document();
        Published {
            json: serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
            documented: Documented::from_document(&doc),
        }
    }
}

impl Default for Published {
    fn default() -> Self {
        Self::new()
    }
}

/// The statuses the document lists per operation, by method and path template.
#[derive(Debug, Default, Clone)]
pub struct Documented(HashMap<(Method, String), Vec<u16>>);

impl Documented {
    pub fn from_document(doc: &Value) -> Self {
        let mut map = HashMap::new();
        let paths = doc.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let statuses = op["responses"]
                    .as_object()
                    .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
                    .unwrap_or_default();
                map.insert((m, path.clone()), statuses);
            }
        }
        Documented(map)
    }

    /// `None` for a route the document does not describe (the document itself); else whether
    /// `status` is listed for the operation.
    pub fn allows(&self, method: &Method, path: &str, status: u16) -> Option<bool> {
        self.0
            .get(&(method.clone(), path.to_string()))
            .map(|s| s.contains(&status))
    }

    /// Every operation with its statuses, sorted (for tests).
    pub fn operations(&self) -> BTreeMap<(String, String), Vec<u16>> {
        self.0
            .iter()
            .map(|((m, p), s)| ((m.to_string(), p.clone()), s.clone()))
            .collect()
    }
}

// The 413 reason above names the limit.
const _: () = assert!(MAX_BODY == 1024 * 1024);

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(op: Value) -> Value {
        json!({"components": {"schemas": {}}, "paths": {"/v1/x/{id}": {"post": op}}})
    }

    #[test]
    fn every_reference_of_the_served_document_resolves() {
        let doc = super::super::openapi_document();
        let mut refs = Vec::new();
        fn walk(v: &Value, refs: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        refs.push(r.clone());
                    }
                    m.values().for_each(|v| walk(v, refs));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
                _ => {}
            }
        }
        walk(&doc, &mut refs);
        assert!(refs.len() > 100, "{}", refs.len());
        let dangling: Vec<&String> = refs
            .iter()
            .filter(|r| r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none())
            .collect();
        assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    }

    #[test]
    fn the_codes_are_the_error_objects_codes() {
        use super::super::error::ErrorCode as C;
        let all = [
            C::AuthenticationError,
            C::AuthorizationError,
            C::ValidationError,
            C::NotFound,
            C::Conflict,
            C::RateLimitExceeded,
            C::DeviceUnavailable,
            C::ServerError,
        ];
        let names: Vec<Value> = all.iter().map(|c| json!(c)).collect();
        assert_eq!(names, ERROR_CODES.map(Value::from));
    }

    #[test]
    fn what_an_operation_declares_decides_its_failures() {
        let mut d = doc(json!({
            "security": [{"bearer": []}],
            "parameters": [{"name": "id", "in": "path", "required": true},
                           {"name": "limit", "in": "query", "required": false}],
            "requestBody": {"content": {"application/json": {}}},
            "responses": {"200": {"description": "ok"}, "404": {"description": ""}}
        }));
        apply(&mut d);
        let docs = Documented::from_document(&d);
        let statuses = &docs.operations()[&("POST".to_string(), "/v1/x/{id}".to_string())];
        assert_eq!(
            statuses,
            &[200, 400, 401, 403, 404, 413, 415, 422, 500, 503]
        );
        let op = &d["paths"]["/v1/x/{id}"]["post"];
        assert_eq!(
            op["security"],
            json!([{"bearer": []}, {"session_cookie": []}])
        );
        assert!(op["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == DEVICE_HEADER)));
        assert!(op["responses"]["404"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("not_found")));
        assert!(op["responses"]["400"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("X-Device-Id") && d.contains("not JSON")));
        for (_, r) in op["responses"].as_object().expect("responses") {
            assert!(r["headers"]["X-Request-Id"].is_object(), "{r}");
        }
        assert_eq!(docs.allows(&Method::POST, "/v1/x/{id}", 404), Some(true));
        assert_eq!(docs.allows(&Method::POST, "/v1/x/{id}", 409), Some(false));
        assert_eq!(docs.allows(&Method::GET, "/v1/x/{id}", 200), None);
    }

    #[test]
    fn a_raw_body_and_a_public_operation_get_neither_json_nor_auth_failures() {
        let mut d = doc(json!({
            RAW_BODY: true,
            "requestBody": {"content": {"application/json": {}}},
            "responses": {"204": {"description": "ok"}}
        }));
        apply(&mut d);
        let op = &d["paths"]["/v1/x/{id}"]["post"];
        assert!(op.get(RAW_BODY).is_none());
        let statuses: Vec<&String> = op["responses"].as_object().expect("r").keys().collect();
        assert_eq!(statuses, ["204", "500", "503"]);
        assert!(op.get("security").is_none());
    }
}
