//! One behavioural suite, run against every `Store` implementation: the SQLite file store and a
//! fresh PostgreSQL database. Both SQL dialects must pass the same assertions.
// Tests assert by unwrapping and report skips on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
use freeagentics_core::Role;
use freeagentics_store::*;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

#[path = "support/pgbouncer.rs"]
mod pgbouncer;
use pgbouncer::PgBouncer;

#[path = "conformance/agents.rs"]
mod agents;
#[path = "conformance/relay.rs"]
mod relay;
use agents::*;
#[path = "conformance/coalitions.rs"]
mod coalitions;
use coalitions::*;
use relay::*;
#[path = "conformance/settings.rs"]
mod settings;
use settings::*;

async fn sqlite() -> (SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("fa-store-{}", Uuid::now_v7().simple()));
    let options = SqliteOptions {
        path: dir.join("store.db"),
        read_connections: 4,
        acquire_timeout: Duration::from_secs(3),
        busy_timeout: Duration::from_secs(5),
    };
    let store = connect_sqlite(&options).await.unwrap();
    store.migrate_run().await.unwrap();
    (store, dir)
}

fn admin_url() -> String {
    freeagentics_test_support::database_admin_url()
}

/// The pool the suites run with.
fn pg_options(application_name: &str) -> PostgresOptions {
    PostgresOptions {
        pool_size: 4,
        max_overflow: 2,
        acquire_timeout: Duration::from_secs(3),
        statement_timeout: Duration::from_secs(10),
        max_lifetime: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        application_name: application_name.to_owned(),
    }
}

/// A fresh database; `None` outside CI when PostgreSQL is not running.
async fn postgres() -> Option<(PgStore, String)> {
    let admin = match sqlx::PgPool::connect(&format!("{}/postgres", admin_url())).await {
        Ok(pool) => pool,
        Err(e) => {
            freeagentics_test_support::available(false, "PostgreSQL", &e);
            return None;
        }
    };
    let name = format!("fa_store_{}", Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let options = pg_options("conformance");
    let store = connect_postgres(&format!("{}/{name}", admin_url()), &options).unwrap();
    store.migrate_run().await.unwrap();
    Some((store, name))
}

/// A fresh database migrated directly (migrations take a session-level advisory lock, which
/// transaction pooling cannot hold: production runs them with DATABASE_DIRECT_URL), then a store
/// that reaches it only through a PgBouncer in transaction mode.
async fn through_pgbouncer() -> Option<(PgStore, String, PgBouncer)> {
    let (direct, name) = postgres().await?;
    direct.close().await;
    // TEST_DATABASE_URL is postgres://user@host:port (trust authentication)
    let admin = admin_url();
    let server = admin.rsplit('@').next().unwrap_or("127.0.0.1:5432");
    let (host, port) = server.split_once(':').unwrap_or((server, "5432"));
    let bouncer = PgBouncer::start(host, port.parse().unwrap_or(5432))?;
    let options = pg_options("conformance-pgbouncer");
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}", bouncer.port);
    let store = connect_postgres(&url, &options).unwrap();
    Some((store, name, bouncer))
}

async fn drop_postgres(store: PgStore, name: String) {
    store.close().await;
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", admin_url())).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

/// Runs `$suite` on SQLite, PostgreSQL and PostgreSQL through PgBouncer in transaction mode.
macro_rules! conformance {
    ($($suite:ident),* $(,)?) => {
        $(
            mod $suite {
                conformance!(@direct $suite);

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pgbouncer() {
                    let Some((store, name, bouncer)) = super::through_pgbouncer().await else { return };
                    super::$suite(&store).await;
                    super::drop_postgres(store, name).await;
                    drop(bouncer);
                }
            }
        )*
    };
    // Suites that only run on direct connections: migrations take a session-level advisory lock,
    // which a transaction-mode pooler hands to whichever server connection is free (the unlock can
    // land on another one and the next lock then waits forever). Production migrates through
    // DATABASE_DIRECT_URL for this reason.
    (direct: $($suite:ident),* $(,)?) => {
        $(
            mod $suite {
                conformance!(@direct $suite);
            }
        )*
    };
    (@direct $suite:ident) => {
        use freeagentics_store::Store as _;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            let (store, dir) = super::sqlite().await;
            super::$suite(&store).await;
            store.close().await;
            let _ = std::fs::remove_dir_all(dir);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            let Some((store, name)) = super::postgres().await else { return };
            super::$suite(&store).await;
            super::drop_postgres(store, name).await;
        }
    };
}

conformance!(
    direct: migrations_revert_and_reapply,
    every_migration_reverts_and_reapplies,
    what_was_published_survives_reverting_the_relay_position
);

conformance!(
    users_round_trip,
    uniqueness_is_case_insensitive,
    listing_pages_newest_first_with_filters,
    updates_are_versioned,
    refresh_tokens_rotate_once,
    audit_events_list_and_filter,
    concurrent_writes_all_succeed,
    agents_round_trip_with_their_events,
    concurrent_creates_each_stand_alone,
    concurrent_steps_each_stand_alone,
    an_account_and_an_agent_read_in_one_query,
    agents_list_with_every_filter,
    steps_are_versioned_and_history_is_bounded,
    idempotency_keys_claim_replay_and_expire,
    coalitions_round_trip_with_their_events,
    membership_rules_and_leader_succession,
    objectives_cover_complete_and_disband,
    deleting_an_agent_leaves_its_coalitions_by_the_rules,
    formation_persists_all_or_nothing,
    concurrent_joins_never_overcommit,
    events_are_numbered_once_in_order_and_marked,
    numbers_stay_above_the_bus,
    settings_are_versioned_per_user,
    agent_totals_sum_steps_and_average_free_energy,
);

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{}@Example.com", name.to_lowercase()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role: Role::Observer,
    }
}

async fn users_round_trip(store: &dyn Store) {
    let created = store.create_user(new_user("Ada")).await.unwrap();
    assert_eq!(created.username, "Ada");
    assert_eq!(created.email, "ada@example.com", "emails are stored normalised");
    assert_eq!(created.role, Role::Observer);
    assert!(created.is_active);
    assert_eq!(created.version, 1);
    assert_eq!(created.id.get_version_num(), 7);
    assert_eq!(store.user_by_id(created.id).await.unwrap(), created);
    assert_eq!(store.user_by_login("ada").await.unwrap().id, created.id, "username, any case");
    assert_eq!(store.user_by_login("ADA@EXAMPLE.COM").await.unwrap().id, created.id, "email, any case");
    assert!(matches!(store.user_by_login("nobody").await, Err(StoreError::NotFound)));
    assert!(matches!(store.user_by_id(Uuid::now_v7()).await, Err(StoreError::NotFound)));
    assert_eq!(store.count_admins().await.unwrap(), 0);
}

async fn uniqueness_is_case_insensitive(store: &dyn Store) {
    store.create_user(new_user("grace")).await.unwrap();
    let mut same_name = new_user("GRACE");
    same_name.email = "other@example.com".to_owned();
    let error = store.create_user(same_name).await.unwrap_err();
    assert_eq!(error.conflict_field(), Some("username"), "{error:?}");
    let mut same_email = new_user("hopper");
    same_email.email = "GRACE@example.com".to_owned();
    let error = store.create_user(same_email).await.unwrap_err();
    assert_eq!(error.conflict_field(), Some("email"), "{error:?}");
}

async fn listing_pages_newest_first_with_filters(store: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut user = new_user(&format!("user{i}"));
        if i % 2 == 0 {
            user.role = Role::Researcher;
        }
        ids.push(store.create_user(user).await.unwrap().id);
    }
    let first = store.list_users(&UserQuery { limit: 2, ..UserQuery::default() }).await.unwrap();
    assert_eq!(first.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![ids[4], ids[3]]);
    let second = store.list_users(&UserQuery { limit: 2, after: first.next, ..UserQuery::default() }).await.unwrap();
    assert_eq!(second.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    let last = store.list_users(&UserQuery { limit: 2, after: second.next, ..UserQuery::default() }).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert!(last.next.is_none(), "no cursor after the last page");
    let researchers =
        store.list_users(&UserQuery { role: Some(Role::Researcher), limit: 10, ..UserQuery::default() }).await.unwrap();
    assert_eq!(researchers.items.len(), 3);
    store.update_user(ids[0], None, UserChange { is_active: Some(false), ..UserChange::default() }).await.unwrap();
    let inactive =
        store.list_users(&UserQuery { is_active: Some(false), limit: 10, ..UserQuery::default() }).await.unwrap();
    assert_eq!(inactive.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![ids[0]]);
    let cursor = first.next.unwrap();
    assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    assert_eq!(Cursor::decode("!!not-a-cursor"), None);
}

async fn updates_are_versioned(store: &dyn Store) {
    let user = store.create_user(new_user("linus")).await.unwrap();
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let promoted = store
        .update_user(
            user.id,
            Some(1),
            UserChange { role: Some(Role::Admin), tokens_valid_after: Some(later), ..UserChange::default() },
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(promoted.version, 2);
    assert!(promoted.is_active, "untouched fields keep their value");
    assert_eq!(promoted.tokens_valid_after.unix_timestamp(), later.unix_timestamp());
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let stale =
        store.update_user(user.id, Some(1), UserChange { is_active: Some(false), ..UserChange::default() }).await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch)), "{stale:?}");
    let missing = store.update_user(Uuid::now_v7(), None, UserChange::default()).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

async fn refresh_tokens_rotate_once(store: &dyn Store) {
    let user = store.create_user(new_user("token")).await.unwrap();
    let family = Uuid::now_v7();
    let expires = OffsetDateTime::now_utc() + time::Duration::days(7);
    let token = store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: family,
            token_hash: "h1".into(),
            expires_at: expires,
        })
        .await
        .unwrap();
    assert_eq!(store.refresh_token_by_hash("h1").await.unwrap(), token);
    let now = OffsetDateTime::now_utc();
    assert!(store.mark_rotated(token.id, now).await.unwrap(), "first use rotates");
    assert!(!store.mark_rotated(token.id, now).await.unwrap(), "second use is reuse");
    let next = store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: family,
            token_hash: "h2".into(),
            expires_at: expires,
        })
        .await
        .unwrap();
    assert_eq!(store.revoke_family(family, now).await.unwrap(), 2);
    assert!(store.refresh_token_by_hash("h2").await.unwrap().revoked_at.is_some());
    assert!(!store.mark_rotated(next.id, now).await.unwrap(), "revoked tokens cannot rotate");
    let duplicate = store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: family,
            token_hash: "h2".into(),
            expires_at: expires,
        })
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict { .. })));
    store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: Uuid::now_v7(),
            token_hash: "h3".into(),
            expires_at: expires,
        })
        .await
        .unwrap();
    assert_eq!(store.revoke_user_tokens(user.id, now).await.unwrap(), 1, "only the live token");
    store
        .insert_refresh_token(NewRefreshToken {
            user_id: user.id,
            family_id: Uuid::now_v7(),
            token_hash: "old".into(),
            expires_at: now - time::Duration::days(1),
        })
        .await
        .unwrap();
    assert_eq!(store.delete_expired_refresh_tokens(now).await.unwrap(), 1);
    assert!(matches!(store.refresh_token_by_hash("old").await, Err(StoreError::NotFound)));
}

async fn audit_events_list_and_filter(store: &dyn Store) {
    let user = store.create_user(new_user("audited")).await.unwrap();
    for kind in ["login_failure", "login_success", "logout"] {
        store
            .insert_audit_event(NewAuditEvent {
                kind: kind.to_owned(),
                user_id: Some(user.id),
                actor_id: None,
                ip: Some("203.0.113.7".to_owned()),
                detail: json!({"reason": "test"}),
            })
            .await
            .unwrap();
    }
    let all = store.list_audit_events(None, None, 10, None).await.unwrap();
    assert_eq!(
        all.items.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["logout", "login_success", "login_failure"]
    );
    assert_eq!(all.items[0].detail, json!({"reason": "test"}));
    let logins = store.list_audit_events(Some("login_success"), Some(user.id), 10, None).await.unwrap();
    assert_eq!(logins.items.len(), 1);
    let paged = store.list_audit_events(None, None, 2, None).await.unwrap();
    assert!(paged.next.is_some());
}

async fn migrations_revert_and_reapply(store: &dyn Store) {
    let status = store.migrate_status().await.unwrap();
    assert!(status.len() >= 3);
    assert!(status.iter().all(|m| m.state == MigrationState::Applied));
    let newest = status.last().unwrap().version;
    assert_eq!(store.migrate_revert().await.unwrap(), Some(newest));
    let status = store.migrate_status().await.unwrap();
    assert_eq!(status.last().unwrap().state, MigrationState::Pending);
    assert_eq!(status.iter().filter(|m| m.state == MigrationState::Pending).count(), 1, "exactly one reverted");
    assert_eq!(store.migrate_run().await.unwrap(), vec![newest]);
    assert!(store.migrate_run().await.unwrap().is_empty());
}

/// 40 concurrent writers: SQLite must queue them (no "database is locked"), Postgres must not
/// exhaust its small pool.
async fn concurrent_writes_all_succeed(store: &dyn Store) {
    let results =
        futures_util::future::join_all((0..40).map(|i| store.create_user(new_user(&format!("writer{i}"))))).await;
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let page = store.list_users(&UserQuery { limit: 100, ..UserQuery::default() }).await.unwrap();
    assert_eq!(page.items.len(), 40);
}

/// PostgreSQL commits creates that arrive together in shared transactions (`write_batch.rs`):
/// 64 at once take far fewer than 64 commits, and each agent's event is in its agent's commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commits_concurrent_creates_together() {
    let Some((store, name)) = postgres().await else { return };
    let owner = agents::owner(&store, "batched").await;
    let event = agents::event("agent.created");
    let creates = (0..64).map(|i| store.create_agent(agents::new_agent(owner, &format!("Agent {i}"), "x"), &event));
    let created: Vec<Agent> =
        futures_util::future::join_all(creates).await.into_iter().collect::<Result<_, _>>().unwrap();

    let db = sqlx::PgPool::connect(&format!("{}/{name}", admin_url())).await.unwrap();
    let ids: Vec<Uuid> = created.iter().map(|a| a.id).collect();
    let (agents, commits): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct xmin::text) from agents where id = any($1)")
            .bind(&ids)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(agents, 64);
    assert!(commits < 40, "64 concurrent creates took {commits} commits");
    let apart: i64 = sqlx::query_scalar(
        "select count(*) from agents a join events e on e.topic = 'agent:' || a.id where a.id = any($1) \
         and e.xmin::text <> a.xmin::text",
    )
    .bind(&ids)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(apart, 0, "every event commits with its agent");
    db.close().await;
    drop_postgres(store, name).await;
}

/// Migrations wait for their connection longer than a request would: a start-up under a 1 ms
/// `DATABASE_ACQUIRE_TIMEOUT_MS` (opening a connection takes longer) still migrates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_outwait_a_short_acquire_timeout() {
    let Some((store, name)) = postgres().await else { return };
    store.migrate_revert().await.unwrap();
    store.close().await;
    let options = PostgresOptions {
        pool_size: 1,
        max_overflow: 0,
        acquire_timeout: Duration::from_millis(1),
        ..pg_options("conformance-short-acquire")
    };
    let store = connect_postgres(&format!("{}/{name}", admin_url()), &options).unwrap();
    assert!(!store.migrate_run().await.unwrap().is_empty(), "the reverted migration is applied again");
    drop_postgres(store, name).await;
}
