//! `/admin/keys...`: the signing key set, rotation and emergency revocation. Mounted by
//! `admin::router`, behind the admin secret like every `/admin` route.

use axum::extract::{Path, State};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::timestamp;

/// The key routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
        .routes(routes!(revoke_key))
}

/// One key of the key set, as `tessera keys list` shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminKey)]
struct AdminKeyBody {
    /// The RFC 7638 thumbprint.
    kid: String,
    /// `published` (not signing yet), `active` (signing), `retired` (still published to
    /// verify older tokens), `expired`, or `revoked` (out of the JWKS for good, its private
    /// key erased).
    #[schema(example = "active")]
    state: &'static str,
    /// Where the key came from (generated or imported).
    origin: String,
    /// How the private key is stored (AES-256-GCM or unencrypted).
    encryption: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When it starts (or started) signing.
    #[schema(format = DateTime)]
    activates_at: String,
    /// When it stopped signing.
    #[schema(required = true, format = DateTime)]
    retires_at: Option<String>,
    /// When it leaves the JWKS and is deleted.
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
    /// When it was revoked.
    #[schema(required = true, format = DateTime)]
    revoked_at: Option<String>,
}

/// The key set, oldest activation first, then the revoked keys.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminKeys)]
struct KeysBody {
    keys: Vec<AdminKeyBody>,
}

#[utoipa::path(
    get,
    path = "/admin/keys",
    operation_id = "adminListKeys",
    tag = "admin",
    summary = "The signing key set",
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Every key with its state.", body = KeysBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn list_keys(State(state): State<AppState>) -> Json<KeysBody> {
    let now = state.clock.now();
    let set = state.tokens.keys().snapshot();
    let active = set.signing_key(now).map(|k| k.kid.clone());
    let optional = |t: Option<OffsetDateTime>| t.map(timestamp);
    let keys = set
        .keys
        .iter()
        .map(|k| AdminKeyBody {
            kid: k.kid.clone(),
            state: k.state(now, active.as_deref() == Some(k.kid.as_str())),
            origin: k.record.origin.clone(),
            encryption: k.record.encryption.clone(),
            created_at: timestamp(k.record.created_at),
            activates_at: timestamp(k.record.activates_at),
            retires_at: optional(k.record.retires_at),
            expires_at: optional(k.record.expires_at),
            revoked_at: None,
        })
        .chain(set.revoked.iter().map(|r| AdminKeyBody {
            kid: r.kid.clone(),
            state: "revoked",
            origin: r.origin.clone(),
            encryption: r.encryption.clone(),
            created_at: timestamp(r.created_at),
            activates_at: timestamp(r.activates_at),
            retires_at: optional(r.retires_at),
            expires_at: optional(r.expires_at),
            revoked_at: optional(r.revoked_at),
        }))
        .collect();
    Json(KeysBody { keys })
}

/// The key a rotation published.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RotationBody {
    kid: String,
    /// When it starts signing (`TESSERA_KEY_PUBLISH_LEAD` from now).
    #[schema(format = DateTime)]
    activates_at: String,
}

#[utoipa::path(
    post,
    path = "/admin/keys/rotate",
    operation_id = "adminRotateKeys",
    tag = "admin",
    summary = "Publish a new signing key",
    description = "The new key is in the JWKS at once and signs `TESSERA_KEY_PUBLISH_LEAD` \
        later.",
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The new key.", body = RotationBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 409, description = "`rotation-pending`: a published key has not started signing yet (one rotation at a time).", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn rotate_keys(
    State(state): State<AppState>,
    Client(actor): Client,
) -> Result<Json<RotationBody>, ApiError> {
    let rotation = state.admin.rotate_keys(&actor).await?;
    Ok(Json(RotationBody {
        kid: rotation.kid,
        activates_at: timestamp(rotation.activates_at),
    }))
}

/// A revoked key and the key that signs from now on.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RevocationBody {
    kid: String,
    /// When it was revoked (the first time, for a key revoked before).
    #[schema(format = DateTime)]
    revoked_at: String,
    /// The key that signs from now on: a new one, published and signing at once, when the
    /// revoked key was the one signing.
    #[schema(required = true)]
    signing_kid: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/keys/{kid}/revoke",
    operation_id = "adminRevokeKey",
    tag = "admin",
    summary = "Revoke a signing key at once (a leaked key)",
    description = "The key leaves the JWKS and Tessera's own verification at once (other \
        replicas within a few seconds), its private key is erased and it never signs or \
        comes back; tokens it signed are refused with 401 `invalid-token`, and clients get \
        new ones through refresh. If it was the key signing, a new key is published and \
        signs at once (no publish lead: verifiers refetch the JWKS on its unknown kid). \
        Verifiers that cached the JWKS keep the revoked key until their cache expires \
        (`TESSERA_JWKS_MAX_AGE`). Recorded as a `signing-key-revoked` security event. \
        Idempotent: revoking a revoked key changes nothing and answers the same.",
    params(("kid" = String, Path, description = "The key's `kid` (RFC 7638 thumbprint).")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The key is revoked.", body = RevocationBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`key-not-found`: no key with this kid in the key set.",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_key(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(kid): Path<String>,
) -> Result<Json<RevocationBody>, ApiError> {
    let revocation = state.admin.revoke_key(&kid, &actor).await?;
    Ok(Json(RevocationBody {
        kid: revocation.kid,
        revoked_at: timestamp(revocation.revoked_at),
        signing_kid: revocation.signing_kid,
    }))
}
