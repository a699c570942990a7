//! Extractors that turn every malformed input into the API error object: JSON bodies (syntax → 400,
//! wrong type, unknown field or enum value → 422 naming the field), query strings and path
//! parameters. Axum's own rejections would answer in plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};
use crate::error::FieldError;

/// The largest JSON body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON request body.
pub struct Body<T>(pub T);

/// Parse a JSON body, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body (trailing characters included): that is a 400 whatever
    // the shape would have been.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::bad_request(format!("malformed JSON: {e}")));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let first = serde_path_to_error::deserialize(de);
    // JSON has one kind of number: `2.0` is the integer 2 to a JSON Schema (and to a client
    // that wrote it so), while serde refuses it for an integer field. Only a refused body pays
    // for the second reading.
    let parsed = match first {
        Ok(v) => Ok(v),
        Err(e) => match whole_floats_as_integers(bytes) {
            Some(value) => serde_path_to_error::deserialize(value).map_err(|_| e),
            None => Err(e),
        },
    };
    parsed.map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        let msg = e.into_inner().to_string();
        // serde's message ends with " at line x column y": keep the message itself.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationError,
            format!("{field}: {msg}"),
        )
        .with_details(vec![FieldError::new(field, msg)])
    })
}

/// The body with every whole-valued float (within the integers an `f64` holds exactly) written
/// as an integer; `None` when it has none.
fn whole_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    fn fix(v: &mut Value) -> bool {
        match v {
            Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                    // Exact: |f| <= 2^53 is a whole number an i64 holds.
                    *v = Value::from(f as i64);
                    true
                }
                _ => false,
            },
            // Every element is visited, changed or not.
            Value::Array(a) => {
                let mut changed = false;
                for v in a {
                    changed |= fix(v);
                }
                changed
            }
            Value::Object(m) => {
                let mut changed = false;
                for v in m.values_mut() {
                    changed |= fix(v);
                }
                changed
            }
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    fix(&mut value).then_some(value)
}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !(mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::ValidationError,
                    format!("expected Content-Type application/json, got {mime}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_rejection(e.status(), &e))?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("malformed JSON: the body is empty"));
        }
        parse_json(&bytes).map(Body)
    }
}

/// A body read as bytes, unparsed (a signed webhook), with the same error shape for one that is
/// too large or cannot be read.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| body_rejection(e.status(), &e))
    }
}

fn body_rejection(status: StatusCode, e: &dyn std::fmt::Display) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            ErrorCode::ValidationError,
            format!("body larger than {MAX_BODY} bytes"),
        )
    } else {
        ApiError::bad_request(format!("could not read the body: {e}"))
    }
}

/// A query string, parsed with the same error shape.
pub struct Q<T>(pub T);

impl<S, T> FromRequestParts<S> for Q<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(Q).map_err(|e| {
            let field = e.path().to_string();
            let msg = e.into_inner().to_string();
            let field = if field == "." {
                "query".to_string()
            } else {
                field
            };
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationError,
                format!("{field}: {msg}"),
            )
            .with_details(vec![FieldError::new(field, msg)])
        })
    }
}

/// Path parameters, parsed with the same error shape.
pub struct P<T>(pub T);

impl<S, T> FromRequestParts<S> for P<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e| ApiError::bad_request(format!("bad path parameter: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        sku: String,
        delta: i64,
        lot: Option<String>,
    }

    #[test]
    fn errors_name_the_field_and_the_status() {
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": "x"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.details[0].field, "delta");
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": 1, "colour": 2}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message.contains("colour"), "{}", e.message);
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": 1"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": 1} {}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_whole_float_is_an_integer_and_a_fraction_is_not() {
        let s = parse_json::<Sample>(br#"{"sku": "A", "delta": -2300.0}"#).expect("whole");
        assert_eq!(s.delta, -2300);
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": 2.5}"#).unwrap_err();
        assert_eq!(e.details[0].field, "delta");
        let e = parse_json::<Sample>(br#"{"sku": "A", "delta": 1e300}"#).unwrap_err();
        assert_eq!(e.details[0].field, "delta");
        let e = parse_json::<Sample>(br#"{"sku": 1.0, "delta": 1.0}"#).unwrap_err();
        assert_eq!(
            e.details[0].field, "sku",
            "the first reading's error is kept"
        );
    }

    proptest! {
        /// Whatever bytes arrive, the parser answers with a value or a 400/422 — never a panic,
        /// never another status.
        #[test]
        fn any_body_is_parsed_or_refused_with_400_or_422(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Err(e) = parse_json::<Sample>(&bytes) {
                prop_assert!(e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::UNPROCESSABLE_ENTITY);
                prop_assert_eq!(e.code, ErrorCode::ValidationError);
            }
        }

        #[test]
        fn json_shaped_bodies_are_refused_with_the_right_class(
            sku in prop_oneof![Just("\"A\"".to_string()), Just("1".to_string()), Just("null".to_string()), Just("[]".to_string())],
            delta in prop_oneof![Just("1".to_string()), Just("\"1\"".to_string()), Just("1.5".to_string()), Just("{}".to_string())],
            extra in prop::option::of("[a-z]{1,8}"),
        ) {
            let extra = extra.map(|k| format!(", \"x{k}\": 0")).unwrap_or_default();
            let body = format!("{{\"sku\": {sku}, \"delta\": {delta}{extra}}}");
            let ok = sku == "\"A\"" && delta == "1" && extra.is_empty();
            match parse_json::<Sample>(body.as_bytes()) {
                Ok(_) => prop_assert!(ok, "accepted {}", body),
                Err(e) => {
                    prop_assert!(!ok);
                    prop_assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", body);
                }
            }
        }
    }
}
