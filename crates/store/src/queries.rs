//! The one implementation of the store traits, instantiated per backend. Only the SQL text differs
//! between PostgreSQL and SQLite (placeholders, casts, case-insensitive matching), so each backend
//! module supplies a `sql` module with the same constant names and this macro supplies the logic.
macro_rules! impl_store_traits {
    ($store:ty, $sql:path) => {
        const _: () = {
            use crate::StoreError;
            use crate::model::*;
            use crate::rows::{AuditRow, RefreshTokenRow, UserRow};
            use crate::traits::{AuditStore, TokenStore, UserStore};
            use async_trait::async_trait;
            use freeagentics_core::{User, new_id};
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $sql as sql;

            #[async_trait]
            impl UserStore for $store {
                #[tracing::instrument(skip_all, err(level = "debug"))]
                async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("create_user");
                    let now = OffsetDateTime::now_utc();
                    sqlx::query_as::<_, UserRow>(sql::INSERT_USER)
                        .bind(new_id())
                        .bind(&new.username)
                        .bind(freeagentics_core::account::normalize_email(&new.email))
                        .bind(&new.password_hash)
                        .bind(new.role.as_str())
                        .bind(now)
                        .fetch_one(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?
                        .try_into()
                }

                #[tracing::instrument(skip_all, err(level = "debug"))]
                async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("user_by_id");
                    sqlx::query_as::<_, UserRow>(sql::USER_BY_ID)
                        .bind(id)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .try_into()
                }

                #[tracing::instrument(skip_all, err(level = "debug"))]
                async fn user_by_login(&self, username_or_email: &str) -> Result<User, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("user_by_login");
                    sqlx::query_as::<_, UserRow>(sql::USER_BY_LOGIN)
                        .bind(username_or_email.trim())
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?
                        .try_into()
                }

                #[tracing::instrument(skip_all, err(level = "debug"))]
                async fn list_users(&self, query: &UserQuery) -> Result<Page<User>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_users");
                    let rows = sqlx::query_as::<_, UserRow>(sql::LIST_USERS)
                        .bind(query.role.map(|r| r.as_str()))
                        .bind(query.is_active)
                        .bind(query.after.map(|c| c.0))
                        .bind(i64::from(query.limit) + 1)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(Page::from_rows(crate::rows::users(rows)?, query.limit, |u| u.id))
                }

                #[tracing::instrument(skip_all, err(level = "debug"))]
                async fn update_user(
                    &self,
                    id: Uuid,
                    expected_version: Option<i64>,
                    change: UserChange,
                ) -> Result<User, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("update_user");
                    let updated = sqlx::query_as::<_, UserRow>(sql::UPDATE_USER)
                        .bind(id)
                        .bind(change.role.map(|r| r.as_str()))
                        .bind(change.is_active)
                        .bind(change.password_hash)
                        .bind(change.tokens_valid_after)
                        .bind(OffsetDateTime::now_utc())
                        .bind(expected_version)
                        .fetch_optional(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?;
                    match updated {
                        Some(row) => row.try_into(),
                        // Nothing matched: tell a stale version apart from a missing row.
                        None => match self.user_by_id(id).await {
                            Ok(_) => Err(StoreError::VersionMismatch),
                            Err(e) => Err(e),
                        },
                    }
                }

                async fn count_admins(&self) -> Result<i64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("count_admins");
                    sqlx::query_scalar::<_, i64>(sql::COUNT_ADMINS)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)
                }
            }

            #[async_trait]
            impl TokenStore for $store {
                async fn insert_refresh_token(&self, new: NewRefreshToken) -> Result<RefreshToken, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("insert_refresh_token");
                    sqlx::query_as::<_, RefreshTokenRow>(sql::INSERT_REFRESH_TOKEN)
                        .bind(new_id())
                        .bind(new.user_id)
                        .bind(new.family_id)
                        .bind(&new.token_hash)
                        .bind(OffsetDateTime::now_utc())
                        .bind(new.expires_at)
                        .fetch_one(&mut *self.writer().await?)
                        .await
                        .map(RefreshToken::from)
                        .map_err(Self::error)
                }

                async fn refresh_token_by_hash(&self, token_hash: &str) -> Result<RefreshToken, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("refresh_token_by_hash");
                    // The writer: a rotation that just committed must be visible to the next lookup.
                    sqlx::query_as::<_, RefreshTokenRow>(sql::REFRESH_TOKEN_BY_HASH)
                        .bind(token_hash)
                        .fetch_one(&mut *self.writer().await?)
                        .await
                        .map(RefreshToken::from)
                        .map_err(Self::error)
                }

                async fn mark_rotated(&self, id: Uuid, at: OffsetDateTime) -> Result<bool, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("mark_rotated");
                    let done = sqlx::query(sql::MARK_ROTATED)
                        .bind(id)
                        .bind(at)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn revoke_family(&self, family_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("revoke_family");
                    sqlx::query(sql::REVOKE_FAMILY)
                        .bind(family_id)
                        .bind(at)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(Self::error)
                }

                async fn revoke_user_tokens(&self, user_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("revoke_user_tokens");
                    sqlx::query(sql::REVOKE_USER_TOKENS)
                        .bind(user_id)
                        .bind(at)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(Self::error)
                }

                async fn delete_expired_refresh_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("delete_expired_refresh_tokens");
                    sqlx::query(sql::DELETE_EXPIRED_REFRESH_TOKENS)
                        .bind(before)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected())
                        .map_err(Self::error)
                }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn insert_audit_event(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("insert_audit_event");
                    sqlx::query_as::<_, AuditRow>(sql::INSERT_AUDIT_EVENT)
                        .bind(new_id())
                        .bind(&event.kind)
                        .bind(event.user_id)
                        .bind(event.actor_id)
                        .bind(&event.ip)
                        .bind(sqlx::types::Json(&event.detail))
                        .bind(OffsetDateTime::now_utc())
                        .fetch_one(&mut *self.writer().await?)
                        .await
                        .map(AuditEvent::from)
                        .map_err(Self::error)
                }

                async fn list_audit_events(
                    &self,
                    kind: Option<&str>,
                    user_id: Option<Uuid>,
                    limit: u32,
                    after: Option<Cursor>,
                ) -> Result<Page<AuditEvent>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("list_audit_events");
                    let rows = sqlx::query_as::<_, AuditRow>(sql::LIST_AUDIT_EVENTS)
                        .bind(kind)
                        .bind(user_id)
                        .bind(after.map(|c| c.0))
                        .bind(i64::from(limit) + 1)
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    let events = rows.into_iter().map(AuditEvent::from).collect();
                    Ok(Page::from_rows(events, limit, |e| e.id))
                }
            }
        };
    };
}

pub(crate) use impl_store_traits;
