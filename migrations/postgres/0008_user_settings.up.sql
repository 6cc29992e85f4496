-- Per-user settings of the web frontend (docs/FRONTEND.md). API keys are sealed by the service
-- (AES-256-GCM, `SETTINGS_ENCRYPTION_KEY`) before they reach this table: it never holds them in
-- clear. One row per user, read and written by primary key only.
create table user_settings (
    user_id           uuid primary key references users (id) on delete cascade,
    llm_provider      text not null check (char_length(llm_provider) <= 50),
    llm_model         text not null check (char_length(llm_model) <= 100),
    gnn_enabled       boolean not null,
    debug_logs        boolean not null,
    auto_suggest      boolean not null,
    openai_api_key    bytea,
    anthropic_api_key bytea,
    version           bigint not null,
    updated_at        timestamptz not null
);
