//! Users, SQLite flavour.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{
    StoreError, StoreResult, UserCursor, UserRecord, UserStore, UserUpdate, like_pattern, to_micros,
};

pub(super) fn user_from_row(row: &SqliteRow) -> sqlx::Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        email: row.try_get("email")?,
        email_verified: row.try_get("email_verified")?,
        phone_number: row.try_get("phone_number")?,
        phone_number_verified: row.try_get("phone_number_verified")?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: optional_time_at(row, "password_changed_at")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        locale: row.try_get("locale")?,
        default_role: row.try_get("default_role")?,
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        is_anonymous: row.try_get("is_anonymous")?,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata")?.0,
        disabled: row.try_get("disabled")?,
        active_mfa_type: row.try_get("active_mfa_type")?,
    })
}

/// Inserts a user row (alone, or inside a transaction that adds more).
pub(super) async fn insert_user_row<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    user: &UserRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (id, created_at, updated_at, email, email_verified, phone_number,
             phone_number_verified, password_hash, password_changed_at, display_name,
             avatar_url, locale, default_role, roles, is_anonymous, metadata, disabled,
             active_mfa_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .bind(user.id)
    .bind(to_micros(user.created_at))
    .bind(to_micros(user.updated_at))
    .bind(&user.email)
    .bind(user.email_verified)
    .bind(&user.phone_number)
    .bind(user.phone_number_verified)
    .bind(&user.password_hash)
    .bind(user.password_changed_at.map(to_micros))
    .bind(&user.display_name)
    .bind(&user.avatar_url)
    .bind(&user.locale)
    .bind(&user.default_role)
    .bind(Json(&user.roles))
    .bind(user.is_anonymous)
    .bind(Json(&user.metadata))
    .bind(user.disabled)
    .bind(&user.active_mfa_type)
    .execute(executor)
    .await?;
    Ok(())
}

/// SQLite names the column, not the index, in a unique violation: report the index as
/// Postgres does, so the domain sees one name.
pub(super) fn email_conflict(err: sqlx::Error) -> StoreError {
    match StoreError::from(err) {
        StoreError::Conflict(_) => StoreError::Conflict("users_email_key".into()),
        other => other,
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        insert_user_row(&self.pool, user)
            .await
            .map_err(email_conflict)?;
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        // The column is COLLATE NOCASE, so this comparison ignores ASCII case.
        let row = sqlx::query("SELECT * FROM users WHERE email = ?1")
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
            "UPDATE users SET password_hash = ?3, updated_at = ?4
             WHERE id = ?1 AND password_hash = ?2",
        )
        .bind(user_id)
        .bind(old)
        .bind(hash)
        .bind(to_micros(now))
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
            "UPDATE users SET updated_at = ?2,
                 email = COALESCE(?3, email),
                 email_verified = COALESCE(?4, email_verified),
                 password_hash = CASE WHEN ?5 THEN ?6 ELSE password_hash END,
                 password_changed_at = COALESCE(?7, password_changed_at),
                 display_name = COALESCE(?8, display_name),
                 avatar_url = COALESCE(?9, avatar_url),
                 locale = COALESCE(?10, locale),
                 default_role = COALESCE(?11, default_role),
                 roles = COALESCE(?12, roles),
                 is_anonymous = COALESCE(?13, is_anonymous),
                 metadata = COALESCE(?14, metadata)
             WHERE id = ?1",
        )
        .bind(id)
        .bind(to_micros(now))
        .bind(&update.email)
        .bind(update.email_verified)
        .bind(update.password_hash.is_some())
        .bind(update.password_hash.clone().flatten())
        .bind(update.password_changed_at.map(to_micros))
        .bind(&update.display_name)
        .bind(&update.avatar_url)
        .bind(&update.locale)
        .bind(&update.default_role)
        .bind(update.roles.as_ref().map(Json))
        .bind(update.is_anonymous)
        .bind(update.metadata.as_ref().map(Json))
        .execute(&self.pool)
        .await
        .map_err(email_conflict)?;
        self.changes.announce(crate::store::Change::User(id));
        Ok(())
    }

    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(user_id)
            .bind(disabled)
            .bind(to_micros(now))
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
        // LIKE is case-insensitive for ASCII in SQLite.
        let rows = sqlx::query(
            "SELECT * FROM users
             WHERE (?1 IS NULL OR (created_at, id) > (?1, ?2))
               AND (?3 IS NULL OR email LIKE ?3 ESCAPE '\\' OR display_name LIKE ?3 ESCAPE '\\')
             ORDER BY created_at, id LIMIT ?4",
        )
        .bind(after.map(|a| to_micros(a.0)))
        .bind(after.map(|a| a.1))
        .bind(search.map(like_pattern))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(user_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM security_events WHERE user_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?1")
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
