-- Runs once when the compose postgres volume is initialised (the Kubernetes
-- equivalent is ConfigMap postgres-init).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
