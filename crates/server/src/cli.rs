//! The `freeagentics` command line: one binary for the server and every operator task.
use crate::app::{Application, open_store};
use crate::config::Config;
use crate::{shutdown, telemetry};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use freeagentics_store::MigrationState;
use std::io::Write as _;

#[derive(Debug, Parser)]
#[command(
    name = "freeagentics",
    version,
    about = "FreeAgentics backend: API server and operator commands.",
    long_about = "FreeAgentics backend: API server and operator commands.\n\n\
    Configuration comes from environment variables (see the README's table) and, optionally, a TOML\n\
    file named by FREEAGENTICS_CONFIG. Without DATABASE_URL and REDIS_URL everything runs embedded:\n\
    a SQLite file under ./data and in-process cache, rate limiter and event bus."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Database schema migrations (the runbook's `alembic` commands).
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Account administration.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Check the configuration and print it with secrets redacted; exits 1 on any problem.
    Config,
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Create an admin account. The password is read from standard input (never a flag, so it
    /// stays out of shell history and process listings); usable from a Kubernetes Job.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration (run as a Kubernetes Job before a rollout).
    Run,
    /// Undo exactly the newest applied migration (`alembic downgrade -1`).
    Revert,
    /// List applied and pending migrations (`alembic current`).
    Status,
}

/// Parses arguments and runs the command; the process exit code follows the result.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => migrate(&config, action).await,
        Command::Users { action: UsersAction::CreateAdmin { username, email, password_stdin: _ } } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            let store = open_store(&config).await?;
            let id = crate::admin::create_admin(store.as_ref(), &username, &email, password).await?;
            store.close().await;
            writeln!(std::io::stdout().lock(), "created admin {username} ({id})")?;
            Ok(())
        }
        Command::Config => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string_pretty(&config)?)?;
            writeln!(
                out,
                "database: {}",
                match config.database() {
                    crate::config::Database::Postgres(_) => "postgres (DATABASE_URL set)".to_owned(),
                    crate::config::Database::Sqlite(path) => format!("sqlite at {}", path.display()),
                }
            )?;
            writeln!(out, "redis: {}", if config.redis_url.is_some() { "configured" } else { "in-process" })?;
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&config)?;
    let app = Application::build(&config).await?;
    let result = app.run_until_stopped(shutdown::signal()).await;
    telemetry.shutdown().await;
    result
}

async fn migrate(config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let mut out = std::io::stdout().lock();
    match action {
        MigrateAction::Run => {
            let applied = store.migrate_run().await.context("migrate run failed")?;
            if applied.is_empty() {
                writeln!(out, "nothing to apply: the schema is up to date")?;
            }
            for version in applied {
                writeln!(out, "applied {version:04}")?;
            }
        }
        MigrateAction::Revert => match store.migrate_revert().await.context("migrate revert failed")? {
            Some(version) => writeln!(out, "reverted {version:04}")?,
            None => writeln!(out, "nothing to revert: no migration is applied")?,
        },
        MigrateAction::Status => {
            writeln!(out, "backend: {}", store.backend().as_str())?;
            for m in store.migrate_status().await.context("migrate status failed")? {
                let state = match m.state {
                    MigrationState::Applied => "applied",
                    MigrationState::Pending => "pending",
                };
                writeln!(out, "{:04} {:<8} {}", m.version, state, m.description)?;
            }
        }
    }
    store.close().await;
    Ok(())
}
