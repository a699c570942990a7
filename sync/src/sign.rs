//! HMAC-SHA256 request signing (edge → central) and webhook verification (central → edge).

use crate::error::SyncError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> Result<HmacSha256, SyncError> {
    // HMAC accepts keys of any length; the error arm exists only because the API is generic.
    HmacSha256::new_from_slice(key).map_err(|_| SyncError::Config("unusable HMAC key".into()))
}

/// The `X-Signature` value for a request: lowercase hex HMAC-SHA256 over `<ts>.<raw body>`.
pub fn sign_request(secret: &[u8], timestamp: i64, body: &[u8]) -> Result<String, SyncError> {
    let mut m = mac(secret)?;
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Ok(hex::encode(m.finalize().into_bytes()))
}

/// Verifies an `X-Signature` for `<ts>.<body>` in constant time (used by the central simulator).
pub fn verify_request(secret: &[u8], timestamp: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(mut m) = mac(secret) else {
        return false;
    };
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m.verify_slice(&sig).is_ok()
}

/// Verifies the doorbell webhook's `X-Webhook-Signature` (hex HMAC-SHA256 of the raw body with
/// the site's webhook secret) in constant time. `None` (header absent) is a failure, so the
/// caller answers 401 for both cases.
pub fn verify_webhook(
    secret: &[u8],
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<(), SyncError> {
    let header = signature_header.ok_or(SyncError::BadSignature)?;
    let sig = hex::decode(header.trim()).map_err(|_| SyncError::BadSignature)?;
    let mut m = mac(secret)?;
    m.update(body);
    m.verify_slice(&sig).map_err(|_| SyncError::BadSignature)
}

/// Computes a webhook signature; used by the simulator and by tests of [`verify_webhook`].
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> Result<String, SyncError> {
    let mut m = mac(secret)?;
    m.update(body);
    Ok(hex::encode(m.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_signature_roundtrip_and_tamper() {
        let sig = sign_request(b"s3cret", 1_700_000_000, b"{\"events\":[]}").unwrap();
        assert_eq!(sig.len(), 64);
        assert!(sig
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(verify_request(
            b"s3cret",
            "1700000000",
            b"{\"events\":[]}",
            &sig
        ));
        assert!(!verify_request(
            b"s3cret",
            "1700000001",
            b"{\"events\":[]}",
            &sig
        ));
        assert!(!verify_request(
            b"other",
            "1700000000",
            b"{\"events\":[]}",
            &sig
        ));
        assert!(!verify_request(
            b"s3cret",
            "1700000000",
            b"{\"events\":[ ]}",
            &sig
        ));
        assert!(!verify_request(b"s3cret", "1700000000", b"x", "zz-not-hex"));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut m = mac(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_good_bad_missing() {
        let body = br#"{"type":"changes.available","site_id":"wh-east-1"}"#;
        let sig = sign_webhook(b"hook", body).unwrap();
        assert!(verify_webhook(b"hook", body, Some(&sig)).is_ok());
        assert!(verify_webhook(b"hook", body, Some(&sig.to_uppercase())).is_ok());
        assert!(verify_webhook(b"hook", body, None).is_err());
        assert!(verify_webhook(b"hook", body, Some("")).is_err());
        assert!(verify_webhook(b"hook", body, Some("abc")).is_err());
        assert!(verify_webhook(b"wrong", body, Some(&sig)).is_err());
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert!(verify_webhook(b"hook", &tampered, Some(&sig)).is_err());
        let short = &sig[..62];
        assert!(verify_webhook(b"hook", body, Some(short)).is_err());
    }
}
