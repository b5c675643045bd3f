//! Users, Postgres flavour.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use crate::store::{StoreResult, UserCursor, UserRecord, UserStore, UserUpdate, like_pattern};

pub(super) fn user_from_row(row: &PgRow) -> sqlx::Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        email: row.try_get("email")?,
        email_verified: row.try_get("email_verified")?,
        phone_number: row.try_get("phone_number")?,
        phone_number_verified: row.try_get("phone_number_verified")?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        locale: row.try_get("locale")?,
        default_role: row.try_get("default_role")?,
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        is_anonymous: row.try_get("is_anonymous")?,
        metadata: row.try_get("metadata")?,
        disabled: row.try_get("disabled")?,
        active_mfa_type: row.try_get("active_mfa_type")?,
    })
}

/// Inserts a user row (alone, or inside a transaction that adds more).
pub(super) async fn insert_user_row<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    user: &UserRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (id, created_at, updated_at, email, email_verified, phone_number,
             phone_number_verified, password_hash, password_changed_at, display_name,
             avatar_url, locale, default_role, roles, is_anonymous, metadata, disabled,
             active_mfa_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(user.id)
    .bind(user.created_at)
    .bind(user.updated_at)
    .bind(&user.email)
    .bind(user.email_verified)
    .bind(&user.phone_number)
    .bind(user.phone_number_verified)
    .bind(&user.password_hash)
    .bind(user.password_changed_at)
    .bind(&user.display_name)
    .bind(&user.avatar_url)
    .bind(&user.locale)
    .bind(&user.default_role)
    .bind(Json(&user.roles))
    .bind(user.is_anonymous)
    .bind(&user.metadata)
    .bind(user.disabled)
    .bind(&user.active_mfa_type)
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        insert_user_row(&self.pool, user).await?;
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        old: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(user_id)
        .bind(old)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.changes.announce(crate::store::Change::User(user_id));
        }
        Ok(done.rows_affected() == 1)
    }

    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        // COALESCE keeps every column the update does not name; the password has its own
        // flag because removing it writes NULL.
        sqlx::query(
            "UPDATE users SET updated_at = $2,
                 email = COALESCE($3, email),
                 email_verified = COALESCE($4, email_verified),
                 password_hash = CASE WHEN $5 THEN $6 ELSE password_hash END,
                 password_changed_at = COALESCE($7, password_changed_at),
                 display_name = COALESCE($8, display_name),
                 avatar_url = COALESCE($9, avatar_url),
                 locale = COALESCE($10, locale),
                 default_role = COALESCE($11, default_role),
                 roles = COALESCE($12, roles),
                 is_anonymous = COALESCE($13, is_anonymous),
                 metadata = COALESCE($14, metadata)
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(&update.email)
        .bind(update.email_verified)
        .bind(update.password_hash.is_some())
        .bind(update.password_hash.clone().flatten())
        .bind(update.password_changed_at)
        .bind(&update.display_name)
        .bind(&update.avatar_url)
        .bind(&update.locale)
        .bind(&update.default_role)
        .bind(update.roles.as_ref().map(Json))
        .bind(update.is_anonymous)
        .bind(&update.metadata)
        .execute(&self.pool)
        .await?;
        self.changes.announce(crate::store::Change::User(id));
        Ok(())
    }

    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(disabled)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            self.changes.announce(crate::store::Change::User(user_id));
        }
        Ok(done.rows_affected() == 1)
    }

    async fn list_users(
        &self,
        after: Option<UserCursor>,
        search: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        let pattern = search.map(like_pattern);
        let rows = sqlx::query(
            "SELECT * FROM users
             WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2))
               AND ($3::text IS NULL OR email ILIKE $3 ESCAPE '\\' OR display_name ILIKE $3 ESCAPE '\\')
             ORDER BY created_at, id LIMIT $4",
        )
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(user_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM security_events WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Sessions, their refresh tokens, tickets, the TOTP secret and recovery codes go by
        // ON DELETE CASCADE.
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if deleted == 1 {
            self.changes.announce(crate::store::Change::User(id));
        }
        Ok(deleted == 1)
    }
}
