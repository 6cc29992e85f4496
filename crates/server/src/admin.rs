//! The first administrator: `freeagentics users create-admin`, or `ADMIN_*` at first start.
use freeagentics_api::auth::PasswordHasher;
use freeagentics_core::Role;
use freeagentics_core::account::validate_new_account;
use freeagentics_store::{NewUser, Store, StoreError};

/// Creates an admin account after validating every field like registration does.
pub async fn create_admin(
    store: &dyn Store,
    username: &str,
    email: &str,
    password: String,
) -> anyhow::Result<uuid::Uuid> {
    let problems: Vec<String> = validate_new_account(username, email, &password)
        .into_vec()
        .into_iter()
        .map(|e| format!("{} {}", e.field, e.message))
        .collect();
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
    let password_hash = PasswordHasher::new(1).hash(password).await.map_err(anyhow::Error::msg)?;
    let new = NewUser { username: username.to_owned(), email: email.to_owned(), password_hash, role: Role::Admin };
    match store.create_user(new).await {
        Ok(user) => {
            let event = freeagentics_store::NewAuditEvent {
                kind: "user_created".to_owned(),
                user_id: Some(user.id),
                actor_id: None,
                ip: None,
                detail: serde_json::json!({ "role": "admin", "via": "create-admin" }),
            };
            if let Err(e) = store.insert_audit_event(event).await {
                tracing::warn!(error = %e, "could not store the audit event for a new admin");
            }
            Ok(user.id)
        }
        Err(StoreError::Conflict { constraint }) => {
            anyhow::bail!("an account with this {} already exists", constraint.rsplit('.').next().unwrap_or("name"))
        }
        Err(e) => Err(e.into()),
    }
}

/// At start-up: when `ADMIN_*` are set and no active admin exists yet, create one.
pub async fn bootstrap(store: &dyn Store, username: &str, email: &str, password: String) -> anyhow::Result<()> {
    if store.count_admins().await? > 0 {
        return Ok(());
    }
    let id = create_admin(store, username, email, password).await?;
    tracing::info!(user_id = %id, username, "created the first admin from ADMIN_* settings");
    Ok(())
}
