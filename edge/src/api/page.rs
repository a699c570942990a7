//! Cursor pagination: `?cursor=&limit=` (limit 1–200, default 50) and
//! `{"data": […], "pagination": {"next_cursor", "has_more"}}`. A cursor is the sort key of the last
//! row served, base64url-encoded JSON: opaque to clients, stable under inserts.

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::error::{Error, Result};
use crate::store::Store;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// `limit` in the document: what [`limit`] accepts.
pub struct Limit;

impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT as f64))
            .default(Some(serde_json::json!(DEFAULT_LIMIT)))
            .description(Some(format!(
                "How many rows a page holds: 1 to {MAX_LIMIT}, {DEFAULT_LIMIT} when not given."
            )))
            .into()
    }
}

impl ToSchema for Limit {}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// A list response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::unprocessable(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub fn decode<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::unprocessable("cursor", "not a cursor this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

pub fn encode<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// A whole list as one page (lists that are small by nature: a site's registers, tax rates).
pub fn whole<T>(rows: Vec<T>) -> Page<T> {
    Page {
        data: rows,
        pagination: Pagination {
            next_cursor: None,
            has_more: false,
        },
    }
}

/// The first `limit` of `limit + 1` fetched matches of a search: `has_more` says the query
/// matched more and should be narrowed (a search has no cursor).
pub fn first_matches<T>(mut rows: Vec<T>, limit: usize) -> Page<T> {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Page {
        data: rows,
        pagination: Pagination {
            next_cursor: None,
            has_more,
        },
    }
}

/// Build a page from `limit + 1` fetched rows.
pub fn build<T, K: Serialize>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Page<T> {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if has_more {
        rows.last().map(|r| encode(&key(r)))
    } else {
        None
    };
    Page {
        data: rows,
        pagination: Pagination {
            next_cursor,
            has_more,
        },
    }
}

/// A list response already serialized to JSON.
pub struct PageJson(Bytes);

impl IntoResponse for PageJson {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// Run a list query on a reader and serialize its page there too. The rows' strings are then
/// allocated, written out and freed on the one reader thread, and a single buffer crosses to the
/// runtime: cheaper than handing the runtime a `Vec` of rows to serialize and free, and it keeps
/// that work off the threads that serve connections.
pub async fn read<T, K>(
    store: &Store,
    limit: usize,
    query: impl FnOnce(&Connection) -> Result<Vec<T>> + Send + 'static,
    key: impl Fn(&T) -> K + Send + 'static,
) -> Result<PageJson>
where
    T: Serialize + Send + 'static,
    K: Serialize,
{
    store
        .read(move |c| {
            let page = build(query(c)?, limit, key);
            let mut out = Vec::with_capacity(64 + 160 * page.data.len());
            serde_json::to_writer(&mut out, &page)
                .map_err(|e| Error::Internal(format!("serialize page: {e}")))?;
            Ok(PageJson(Bytes::from(out)))
        })
        .await
}

/// A page written row by row as its query yields them, so the rows need not be owned or
/// collected first. The bytes are exactly those of serializing the [`Page`] that [`build`] makes.
pub struct PageWriter {
    out: Vec<u8>,
    limit: usize,
    served: usize,
    has_more: bool,
    /// JSON of the last served row's sort key, kept in one reused buffer.
    last_key: Vec<u8>,
}

impl PageWriter {
    pub fn new(limit: usize) -> Self {
        let mut out = Vec::with_capacity(64 + 160 * limit.min(MAX_LIMIT));
        out.extend_from_slice(b"{\"data\":[");
        Self {
            out,
            limit,
            served: 0,
            has_more: false,
            last_key: Vec::new(),
        }
    }

    /// Offer the next row; the query asks for `limit + 1` rows, and the one past the page only
    /// tells that there are more.
    pub fn row<T: Serialize, K: Serialize>(&mut self, row: &T, key: K) -> Result<()> {
        if self.served == self.limit {
            self.has_more = true;
            return Ok(());
        }
        if self.served > 0 {
            self.out.push(b',');
        }
        let bad = |e: serde_json::Error| Error::Internal(format!("serialize page: {e}"));
        serde_json::to_writer(&mut self.out, row).map_err(bad)?;
        self.last_key.clear();
        serde_json::to_writer(&mut self.last_key, &key).map_err(bad)?;
        self.served += 1;
        Ok(())
    }

    pub fn finish(mut self) -> PageJson {
        self.out
            .extend_from_slice(b"],\"pagination\":{\"next_cursor\":");
        if self.has_more && self.served > 0 {
            // Base64url needs no JSON escaping.
            self.out.push(b'"');
            self.out
                .extend_from_slice(URL_SAFE_NO_PAD.encode(&self.last_key).as_bytes());
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(b"null");
        }
        self.out.extend_from_slice(if self.has_more {
            b",\"has_more\":true}}"
        } else {
            b",\"has_more\":false}}"
        });
        PageJson(Bytes::from(self.out))
    }
}

/// Like [`read`], for a query that writes its rows into a [`PageWriter`] as it steps through
/// them (the hot lists, where copying every row's text out first showed in profiles).
pub async fn stream(
    store: &Store,
    limit: usize,
    query: impl FnOnce(&Connection, &mut PageWriter) -> Result<()> + Send + 'static,
) -> Result<PageJson> {
    store
        .read(move |c| {
            let mut page = PageWriter::new(limit);
            query(c, &mut page)?;
            Ok(page.finish())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Serialize)]
    struct Row {
        id: String,
        n: i64,
        note: Option<String>,
    }

    fn row() -> impl Strategy<Value = Row> {
        (".{0,12}", any::<i64>(), proptest::option::of(".{0,8}")).prop_map(|(id, n, note)| Row {
            id,
            n,
            note,
        })
    }

    proptest! {
        #[test]
        fn a_streamed_page_is_byte_for_byte_the_built_page(
            rows in proptest::collection::vec(row(), 0..12),
            limit in 1usize..10,
        ) {
            let fetched: Vec<Row> = rows.into_iter().take(limit + 1).collect();
            let mut w = PageWriter::new(limit);
            for r in &fetched {
                w.row(r, (&r.id, r.n)).expect("row");
            }
            let streamed = w.finish().0;
            let built = serde_json::to_vec(&build(fetched, limit, |r| (r.id.clone(), r.n)))
                .expect("json");
            prop_assert_eq!(
                String::from_utf8_lossy(&streamed),
                String::from_utf8_lossy(&built)
            );
        }
    }
}
