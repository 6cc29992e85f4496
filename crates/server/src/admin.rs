//! The first administrator: `freeagentics users create-admin`, or `ADMIN_*` at first start.
use freeagentics_api::auth::PasswordHasher;
use freeagentics_core::Role;
use freeagentics_core::account::validate_new_account;
use freeagentics_store::{NewUser, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates an admin account after validating every field like registration does.
pub async fn create_admin(
    store: &dyn Store,
    username: &str,
    email: &str,
    password: String,
) -> Result<uuid::Uuid, AdminError> {
    let problems: Vec<String> = validate_new_account(username, email, &password)
        .into_vec()
        .into_iter()
        .map(|e| format!("{} {}", e.field, e.message))
        .collect();
    if !problems.is_empty() {
        return Err(AdminError::Invalid(problems.join("; ")));
    }
    let password_hash = PasswordHasher::new(1).hash(password).await.map_err(AdminError::Invalid)?;
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
            Err(AdminError::Exists(constraint.rsplit('.').next().unwrap_or("name").to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// At start-up: when `ADMIN_*` are set and no active admin exists yet, create one. Runs in the
/// background and retries while the database is unreachable, so start-up never depends on it;
/// several replicas racing to create the same admin is fine (the losers see it exists).
pub async fn bootstrap(
    store: std::sync::Arc<dyn Store>,
    username: String,
    email: String,
    password: secrecy::SecretString,
    cancel: tokio_util::sync::CancellationToken,
) {
    use secrecy::ExposeSecret as _;
    loop {
        let attempt = async {
            if store.count_admins().await? > 0 {
                return Ok(None);
            }
            create_admin(store.as_ref(), &username, &email, password.expose_secret().to_owned()).await.map(Some)
        };
        match attempt.await {
            Ok(Some(id)) => {
                tracing::info!(user_id = %id, username, "created the first admin from ADMIN_* settings");
                return;
            }
            Ok(None) => return,
            Err(AdminError::Exists(field)) => {
                tracing::warn!(field, "ADMIN_* names an existing account; no admin was created");
                return;
            }
            Err(AdminError::Invalid(problem)) => {
                tracing::error!(problem, "ADMIN_* settings are invalid; no admin was created");
                return;
            }
            Err(AdminError::Store(e)) => tracing::warn!(error = %e, "cannot create the admin yet; retrying"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}
