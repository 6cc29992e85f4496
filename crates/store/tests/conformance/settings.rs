//! Per-user settings: one row per user, versioned writes, sealed keys kept as bytes, gone with
//! the user; and the agent totals behind the frontend's metrics footer.
use super::agents::{event, new_agent, owner, step};
use freeagentics_store::*;
use time::OffsetDateTime;

fn settings(user_id: uuid::Uuid, provider: &str) -> UserSettings {
    UserSettings {
        user_id,
        llm_provider: provider.to_owned(),
        llm_model: "gpt-4o-mini".to_owned(),
        gnn_enabled: true,
        debug_logs: false,
        auto_suggest: true,
        openai_api_key: Some(vec![0, 1, 2, 255]),
        anthropic_api_key: None,
        version: 0,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

pub(crate) async fn settings_are_versioned_per_user(store: &dyn Store) {
    let user = owner(store, "grace").await;
    assert_eq!(store.user_settings(user).await.unwrap(), None, "nothing before the first write");

    let first = store.put_user_settings(&settings(user, "openai"), None).await.unwrap();
    assert_eq!((first.version, first.llm_provider.as_str()), (1, "openai"));
    assert_eq!(first.openai_api_key.as_deref(), Some(&[0, 1, 2, 255][..]), "bytes kept exactly");
    assert!(first.updated_at > OffsetDateTime::UNIX_EPOCH, "the store stamps the write");
    assert_eq!(store.user_settings(user).await.unwrap().as_ref(), Some(&first));
    // a second "first write" lost the race
    assert!(matches!(
        store.put_user_settings(&settings(user, "anthropic"), None).await,
        Err(StoreError::VersionMismatch)
    ));

    let mut change = first.clone();
    change.llm_provider = "anthropic".to_owned();
    change.openai_api_key = None;
    change.anthropic_api_key = Some(vec![9; 40]);
    let second = store.put_user_settings(&change, Some(1)).await.unwrap();
    assert_eq!(second.version, 2);
    assert_eq!((second.openai_api_key, second.anthropic_api_key.map(|k| k.len())), (None, Some(40)));
    // a write over a version someone else replaced is refused, not merged
    assert!(matches!(store.put_user_settings(&change, Some(1)).await, Err(StoreError::VersionMismatch)));

    let other = owner(store, "linus").await;
    assert_eq!(store.user_settings(other).await.unwrap(), None, "settings are per user");
    // over the length limits: refused by the schema, not truncated
    let mut long = settings(other, "openai");
    long.llm_model = "m".repeat(101);
    assert!(store.put_user_settings(&long, None).await.is_err());
    assert_eq!(store.user_settings(other).await.unwrap(), None);
}

pub(crate) async fn agent_totals_sum_steps_and_average_free_energy(store: &dyn Store) {
    assert_eq!(store.agent_totals().await.unwrap(), AgentTotals { steps: 0, mean_last_free_energy: None });
    let owner = owner(store, "totals").await;
    let idle = store.create_agent(new_agent(owner, "Idle", "basic-explorer"), &event("agent.created")).await.unwrap();
    let mut busy =
        store.create_agent(new_agent(owner, "Busy", "basic-explorer"), &event("agent.created")).await.unwrap();
    for n in 1..=3 {
        busy = store.record_step(step(&busy, n), &event("agent.stepped")).await.unwrap();
    }
    let totals = store.agent_totals().await.unwrap();
    assert_eq!(totals.steps, 3);
    // only the agent that stepped has a free energy: the idle one does not pull the mean to 0
    assert_eq!(totals.mean_last_free_energy, busy.last_free_energy);
    assert_eq!(idle.last_free_energy, None);
}
