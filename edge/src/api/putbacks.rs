//! Totes waiting for put-back (supervisor): what cancelled and partially shipped orders left in
//! totes, with how long it has waited, so nothing sits forgotten.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::ApiResult;
use super::extract::Q;
use super::page::{self, Page, PageJson};
use super::AppState;
use crate::domain::role::Role;
use crate::domain::time;
use crate::store::workflow::putbacks::{self, PutbackTote};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutbackQuery {
    pub tenant_id: Option<String>,
    /// `pagination.next_cursor` of the page before; opaque.
    pub cursor: Option<String>,
    #[param(value_type = Option<super::page::Limit>)]
    pub limit: Option<usize>,
}

/// Totes with units to put back, oldest first: per tote its age and, per order line and lot, the
/// units and the shelf they came from.
#[utoipa::path(get, path = "/v1/putbacks", tag = "orders", params(PutbackQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<PutbackTote>)))]
pub async fn list_putbacks(
    caller: Caller,
    State(st): State<AppState>,
    Q(q): Q<PutbackQuery>,
) -> ApiResult<PageJson> {
    caller.require(Role::Supervisor)?;
    let limit = page::limit(q.limit)?;
    let tenant = caller.tenant_filter(q.tenant_id)?;
    let after: Option<(String, String)> = page::decode(q.cursor.as_deref())?;
    let now = time::now();
    Ok(page::read(
        &st.store,
        limit,
        move |c| {
            let mut totes = putbacks::list(c, tenant.as_deref(), &now)?;
            if let Some((since, tote)) = after {
                totes.retain(|t| {
                    (t.since.as_str(), t.tote.as_str()) > (since.as_str(), tote.as_str())
                });
            }
            totes.truncate(limit + 1);
            Ok(totes)
        },
        |t: &PutbackTote| (t.since.clone(), t.tote.clone()),
    )
    .await?)
}
