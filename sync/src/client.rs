//! The HTTP client of the edge sync API: signs every request, applies per-call timeouts, and
//! turns answers into typed results or a [`SyncError`] carrying what the retry policy needs.

use crate::backoff::{parse_ratelimit_reset, parse_retry_after};
use crate::error::SyncError;
use crate::sign::sign_request;
use crate::wire::{
    BatchResponse, ChangesPage, ErrorBody, IdBlock, IdBlockRequest, SiteStatusResponse,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::time::Duration;

/// Where and who: the site's credentials for the central.
#[derive(Clone)]
pub struct Credentials {
    /// e.g. `http://127.0.0.1:8700/v2` (no trailing slash needed).
    pub central_url: String,
    /// Site id (letters, digits, `.`, `_`, `-`).
    pub site_id: String,
    /// Bearer key.
    pub api_key: String,
    /// HMAC signing secret.
    pub signing_secret: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("central_url", &self.central_url)
            .field("site_id", &self.site_id)
            .finish_non_exhaustive()
    }
}

/// A signed client for one site.
#[derive(Clone, Debug)]
pub struct CentralClient {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
}

/// An HTTP answer that was received (any status).
pub(crate) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl CentralClient {
    /// Builds the client (rustls, no proxy lookups, connection pooling).
    pub fn new(creds: Credentials) -> Result<Self, SyncError> {
        if creds.site_id.is_empty()
            || !creds
                .site_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(SyncError::Config(format!(
                "invalid site id {:?}",
                creds.site_id
            )));
        }
        let base = creds.central_url.trim_end_matches('/').to_string();
        Url::parse(&base).map_err(|e| SyncError::Config(format!("central_url: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("wms-edge-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config(format!("http client: {e}")))?;
        Ok(CentralClient { http, base, creds })
    }

    /// The site this client speaks for.
    pub fn site_id(&self) -> &str {
        &self.creds.site_id
    }

    /// `edge/sites/{site}/` followed by `segments`, each percent-encoded as one path segment
    /// (gift-card codes and customer ids come from scanners and keyboards).
    pub(crate) fn url_of(&self, segments: &[&str]) -> Result<Url, SyncError> {
        let mut url = self.url("")?;
        url.path_segments_mut()
            .map_err(|()| SyncError::Config("central_url cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn url(&self, tail: &str) -> Result<Url, SyncError> {
        Url::parse(&format!(
            "{}/edge/sites/{}/{tail}",
            self.base, self.creds.site_id
        ))
        .map_err(|e| SyncError::Config(format!("url: {e}")))
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, SyncError> {
        let ts = Utc::now().timestamp();
        let sig = sign_request(&self.creds.signing_secret, ts, &body)?;
        let mut req = self
            .http
            .request(method, url)
            .timeout(timeout)
            .header(AUTHORIZATION, format!("Bearer {}", self.creds.api_key))
            .header("X-Timestamp", ts.to_string())
            .header("X-Signature", sig);
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let resp = req.send().await.map_err(|e| transport(e, timeout))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport(e, timeout))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// `POST /edge/sites/{site}/events` with a frozen batch body. Ok only for a 200 whose results
    /// parse; everything else is an error the pump classifies.
    pub async fn push(&self, body: Bytes, timeout: Duration) -> Result<BatchResponse, SyncError> {
        let a = self
            .call(Method::POST, self.url("events")?, body, timeout)
            .await?;
        ok_json(a)
    }

    /// `GET /edge/sites/{site}/status`.
    pub async fn site_status(&self, timeout: Duration) -> Result<SiteStatusResponse, SyncError> {
        let a = self
            .call(Method::GET, self.url("status")?, Bytes::new(), timeout)
            .await?;
        ok_json(a)
    }

    /// `GET /edge/sites/{site}/changes?cursor=&limit=&wait=`, with timeout `wait + grace`.
    pub async fn changes(
        &self,
        cursor: Option<&str>,
        limit: u32,
        wait_s: u32,
        grace: Duration,
    ) -> Result<ChangesPage, SyncError> {
        let mut url = self.url("changes")?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("wait", &wait_s.to_string());
        }
        let timeout = Duration::from_secs(u64::from(wait_s)) + grace;
        let a = self.call(Method::GET, url, Bytes::new(), timeout).await?;
        ok_json(a)
    }

    /// `POST /edge/sites/{site}/id-blocks` → 201 with the block.
    pub async fn request_id_block(
        &self,
        kind: &str,
        size: u64,
        timeout: Duration,
    ) -> Result<IdBlock, SyncError> {
        let body = serde_json::to_vec(&IdBlockRequest {
            kind: kind.to_string(),
            size,
        })
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
        let a = self
            .call(
                Method::POST,
                self.url("id-blocks")?,
                Bytes::from(body),
                timeout,
            )
            .await?;
        let block: IdBlock = ok_json(a)?;
        if block.kind != kind {
            return Err(SyncError::Protocol(format!(
                "asked for {kind} block, got {}",
                block.kind
            )));
        }
        Ok(block)
    }
}

fn transport(e: reqwest::Error, timeout: Duration) -> SyncError {
    if e.is_timeout() {
        SyncError::Timeout(timeout)
    } else {
        // Include the source chain: "error sending request" alone says little.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        SyncError::Connection(msg)
    }
}

pub(crate) fn ok_json<T: serde::de::DeserializeOwned>(a: Answer) -> Result<T, SyncError> {
    if a.status.is_success() {
        return serde_json::from_slice(&a.body)
            .map_err(|e| SyncError::Protocol(format!("{}: {e}", a.status)));
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&a.body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            format!("http_{}", a.status.as_u16()),
            String::from_utf8_lossy(&a.body[..a.body.len().min(200)]).into_owned(),
        ),
    };
    Err(SyncError::Http {
        status: a.status.as_u16(),
        code,
        message,
        retry_after: server_wait(&a.headers),
    })
}

/// The wait the server asked for: `Retry-After` wins over `X-RateLimit-Reset`; an epoch reset is
/// converted against the server's `Date` header when present.
fn server_wait(h: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let server_now = text("date")
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    if let Some(d) = text("retry-after").and_then(|v| parse_retry_after(v, server_now)) {
        return Some(d);
    }
    text("x-ratelimit-reset").and_then(|v| parse_ratelimit_reset(v, server_now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_wins() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("9"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(9)));
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("garbage"));
        assert_eq!(server_wait(&h), Some(Duration::from_secs(9)));
    }

    #[test]
    fn rejects_bad_site_ids() {
        let mk = |site: &str| {
            CentralClient::new(Credentials {
                central_url: "http://127.0.0.1:1/v2".into(),
                site_id: site.into(),
                api_key: "k".into(),
                signing_secret: b"s".to_vec(),
            })
        };
        assert!(mk("wh-east-1").is_ok());
        assert!(mk("../x").is_err());
        assert!(mk("").is_err());
    }
}
