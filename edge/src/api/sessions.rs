//! Floor users' sessions: badge + PIN → a bearer token for the register app and the station
//! screens (pos-api.md "Register sessions and people"), and the supervisor approvals that
//! requests carry as `{"badge", "pin"}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Caller, Principal};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::Body;
use super::AppState;
use crate::domain::role::Role;
use crate::domain::rules;
use crate::domain::time;
use crate::store::base::{audit, sessions};
use crate::store::workflow::people::{self, Person};
use crate::store::{Ctx, Origin};

/// How long a session token lives.
pub const SESSION_HOURS: i64 = 12;

/// Badge and PIN, typed or scanned.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The badge as the scanner reads it (without `EMP:`); surrounding white space is ignored.
    #[schema(value_type = BadgeText)]
    pub badge: String,
    /// The PIN as typed; a wrong one is a 401.
    #[schema(value_type = PinText)]
    pub pin: String,
}

/// What a typed or scanned badge may be: 1 to 64 printable characters, not all white space.
pub const BADGE: rules::Text = rules::line(1, 64).visible();

/// What a typed PIN may be: at most 64 printable characters (a wrong one is refused as wrong).
pub const PIN_TYPED: rules::Text = rules::line(0, 64);

/// [`BADGE`] in the document.
pub struct BadgeText;

impl utoipa::PartialSchema for BadgeText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        BADGE.schema(
            "A badge as typed or scanned: 1 to 64 printable characters, not all white space.",
        )
    }
}

impl ToSchema for BadgeText {}

/// [`PIN_TYPED`] in the document.
pub struct PinText;

impl utoipa::PartialSchema for PinText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        PIN_TYPED.schema("A PIN as typed: at most 64 printable characters.")
    }
}

impl ToSchema for PinText {}

impl Credentials {
    fn check(&self) -> Result<(), ApiError> {
        BADGE.check_field("badge", &self.badge)?;
        PIN_TYPED.check_field("pin", &self.pin)?;
        Ok(())
    }
}

/// The user a session belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionUserOut {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub tenant_id: Option<String>,
}

/// A new session: the token is shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewSession {
    pub token: String,
    pub user: SessionUserOut,
    pub expires_at: String,
}

/// Log in with badge + PIN.
///
/// Five wrong PINs for one badge within 15 minutes lock it for 15 minutes: the fifth is still
/// 401, every attempt during the lock is 429 with `Retry-After`, even with the right PIN.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = Credentials,
    responses((status = 201, body = NewSession), (status = 401, description = "authentication_error: an unknown badge or a wrong PIN", body = ErrorBody), (status = 429, description = "the badge is locked after five wrong PINs", body = ErrorBody), (status = 503, description = "server_error: the store is unavailable", body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    Body(input): Body<Credentials>,
) -> ApiResult<(StatusCode, Json<NewSession>)> {
    input.check()?;
    let origin = Origin {
        request_id: super::error::current_request_id(),
        ..Origin::default()
    };
    let token = sessions::new_token();
    let t = token.clone();
    let (person, expires_at) = people::check_badge_pin(
        &st.store,
        &st.site_id,
        origin,
        input.badge.trim(),
        &input.pin,
        "session.login",
        move |cx: &Ctx<'_>, p: &Person| {
            let expires = sessions::create(
                cx.conn,
                &t,
                &p.user_id,
                Utc::now(),
                Duration::hours(SESSION_HOURS),
            )?;
            let origin = Origin {
                actor: crate::domain::Actor {
                    user: Some(p.user_id.clone()),
                    ..cx.origin.actor.clone()
                },
                request_id: cx.origin.request_id.clone(),
            };
            // A login is security-relevant: it travels upstream (sync-api.md).
            audit::record_upstream(
                cx.conn,
                cx.site,
                &origin,
                cx.now,
                "session.login",
                &format!("user:{}", p.user_id),
                &json!({"session": {"old": null, "new": {"expires_at": expires}}}),
            )?;
            Ok((p.clone(), expires))
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewSession {
            token,
            user: SessionUserOut {
                id: person.user_id,
                name: person.name,
                roles: person.roles,
                tenant_id: person.tenant_id,
            },
            expires_at,
        }),
    ))
}

/// Log out: the caller's session token stops working.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "the session ended"), (status = 403, description = "an API key has no session to end", body = ErrorBody)))]
pub async fn logout(caller: Caller, State(st): State<AppState>) -> ApiResult<StatusCode> {
    let Principal::User(user) = &caller.principal else {
        return Err(ApiError::forbidden(
            "an API key has no session to end; log out with a session token",
        ));
    };
    let (hash, origin) = (user.token_sha256.clone(), caller.origin());
    let uid = user.user_id.clone();
    st.store
        .write(move |c| {
            let now = time::now();
            if sessions::end(c, &hash, &now)? {
                audit::record(
                    c,
                    &origin,
                    &now,
                    "session.logout",
                    &format!("user:{uid}"),
                    &json!({"session": {"old": "open", "new": "ended"}}),
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A supervisor's approval carried by a request (`"approval": {"badge", "pin"}`).
pub type Approval = Credentials;

/// Who approves a request that needs a supervisor: the caller, when they are one, else the
/// `approval` they carry (checked with the lockout, audited when wrong). `None` when no
/// supervisor stands behind the request; the caller answers 403 naming the need.
pub async fn approver(
    st: &AppState,
    caller: &Caller,
    approval: Option<&Approval>,
) -> ApiResult<Option<Person>> {
    if let Principal::User(u) = &caller.principal {
        if u.roles.iter().any(|r| r.satisfies(Role::Supervisor)) {
            return Ok(Some(Person {
                user_id: u.user_id.clone(),
                name: u.name.clone(),
                roles: u.roles.clone(),
                tenant_id: u.tenant_id.clone(),
                badge: String::new(),
            }));
        }
    }
    let Some(a) = approval else {
        return Ok(None);
    };
    a.check()?;
    let person = people::check_badge_pin(
        &st.store,
        &st.site_id,
        caller.origin(),
        a.badge.trim(),
        &a.pin,
        "pos.approval",
        |_, p| Ok(p.clone()),
    )
    .await?;
    if !person.has(Role::Supervisor) {
        return Err(ApiError::forbidden(format!(
            "user {} is not a supervisor and cannot approve this",
            person.user_id
        )));
    }
    Ok(Some(person))
}
