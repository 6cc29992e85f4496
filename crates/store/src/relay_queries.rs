//! The relay's queries (`EventRelayStore`), written once for both dialects. Numbering runs in a
//! transaction that replicas take in turn (PostgreSQL: an advisory transaction lock; SQLite has one
//! writer), and commits before anything is published: an event's number never changes once it
//! may have been seen, so publishing it again after a crash is recognised as a repeat.

macro_rules! impl_relay_store {
    ($store:ty, $sql:path) => {
        const _: () = {
            use crate::StoreError;
            use crate::agent_queries::EventRow;
            use crate::events::Event;
            use crate::traits::EventRelayStore;
            use async_trait::async_trait;
            use sqlx::Connection as _;
            use $sql as sql;

            #[async_trait]
            impl EventRelayStore for $store {
                async fn sequence_events(&self, floor: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("sequence_events");
                    // the common answer, without a transaction, a lock or (SQLite) the one writer
                    let waiting: bool = sqlx::query_scalar(sql::ANY_UNPUBLISHED)
                        .fetch_one(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    if !waiting {
                        return Ok(Vec::new());
                    }
                    let mut conn = self.writer().await?;
                    let mut tx = conn.begin().await.map_err(Self::error)?;
                    sqlx::query(sql::LOCK_RELAY).execute(&mut *tx).await.map_err(Self::error)?;
                    let next: i64 = sqlx::query_scalar(sql::NUMBER_FROM)
                        .bind(floor)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    sqlx::query(sql::NUMBER_EVENTS)
                        .bind(i64::from(limit))
                        .bind(next)
                        .execute(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    let rows = sqlx::query_as::<_, EventRow>(sql::NUMBERED_UNPUBLISHED)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    tx.commit().await.map_err(Self::error)?;
                    Ok(rows.into_iter().map(Event::from).collect())
                }

                async fn mark_published(&self, through: i64) -> Result<bool, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("mark_published");
                    sqlx::query(sql::MARK_PUBLISHED)
                        .bind(through)
                        .execute(&mut *self.writer().await?)
                        .await
                        .map(|done| done.rows_affected() > 0)
                        .map_err(Self::error)
                }

                async fn topic_events(&self, topic: &str, limit: u32) -> Result<Vec<Event>, StoreError> {
                    let _timer = crate::timing::QueryTimer::start("topic_events");
                    let rows = sqlx::query_as::<_, EventRow>(sql::TOPIC_EVENTS)
                        .bind(topic)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err(Self::error)?;
                    Ok(rows.into_iter().map(Event::from).collect())
                }
            }
        };
    };
}

pub(crate) use impl_relay_store;
