//! `SettingsStore`, written once for both dialects: each backend module supplies `settings_sql`.

macro_rules! impl_settings_store {
    ($store:ty, $sql:path) => {
        const _: () = {
            use crate::StoreError;
            use crate::settings::UserSettings;
            use crate::traits::SettingsStore;
            use async_trait::async_trait;
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $sql as sql;

            #[derive(Debug, sqlx::FromRow)]
            struct SettingsRow {
                user_id: Uuid,
                llm_provider: String,
                llm_model: String,
                gnn_enabled: bool,
                debug_logs: bool,
                auto_suggest: bool,
                openai_api_key: Option<Vec<u8>>,
                anthropic_api_key: Option<Vec<u8>>,
                version: i64,
                updated_at: OffsetDateTime,
            }

            impl From<SettingsRow> for UserSettings {
                fn from(row: SettingsRow) -> Self {
                    UserSettings {
                        user_id: row.user_id,
                        llm_provider: row.llm_provider,
                        llm_model: row.llm_model,
                        gnn_enabled: row.gnn_enabled,
                        debug_logs: row.debug_logs,
                        auto_suggest: row.auto_suggest,
                        openai_api_key: row.openai_api_key,
                        anthropic_api_key: row.anthropic_api_key,
                        version: row.version,
                        updated_at: row.updated_at,
                    }
                }
            }

            #[async_trait]
            impl SettingsStore for $store {
                async fn user_settings(&self, user_id: Uuid) -> Result<Option<UserSettings>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("user_settings");
                    let row = sqlx::query_as::<_, SettingsRow>(sql::USER_SETTINGS)
                        .bind(user_id)
                        .fetch_optional(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(row.map(UserSettings::from))
                }

                async fn put_user_settings(
                    &self,
                    settings: &UserSettings,
                    expected_version: Option<i64>,
                ) -> Result<UserSettings, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("put_user_settings");
                    let now = OffsetDateTime::now_utc();
                    let query = match expected_version {
                        None => sqlx::query_as::<_, SettingsRow>(sql::INSERT_USER_SETTINGS),
                        Some(_) => sqlx::query_as::<_, SettingsRow>(sql::UPDATE_USER_SETTINGS),
                    };
                    let row = query
                        .bind(settings.user_id)
                        .bind(&settings.llm_provider)
                        .bind(&settings.llm_model)
                        .bind(settings.gnn_enabled)
                        .bind(settings.debug_logs)
                        .bind(settings.auto_suggest)
                        .bind(settings.openai_api_key.as_deref())
                        .bind(settings.anthropic_api_key.as_deref())
                        .bind(now)
                        .bind(expected_version.unwrap_or(0))
                        .fetch_optional(&mut *self.writer().await?)
                        .await
                        .map_err(Self::error)?;
                    // no row: the first write lost an insert race, or a later one a version race
                    row.map(UserSettings::from).ok_or(StoreError::VersionMismatch)
                }
            }
        };
    };
}

pub(crate) use impl_settings_store;
