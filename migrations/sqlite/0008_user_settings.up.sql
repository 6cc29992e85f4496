-- Per-user settings of the web frontend (SQLite twin of migrations/postgres/0008).
create table user_settings (
    user_id           blob primary key not null references users (id) on delete cascade,
    llm_provider      text not null check (length(llm_provider) <= 50),
    llm_model         text not null check (length(llm_model) <= 100),
    gnn_enabled       integer not null,
    debug_logs        integer not null,
    auto_suggest      integer not null,
    openai_api_key    blob,
    anthropic_api_key blob,
    version           integer not null,
    updated_at        text not null
) strict;
