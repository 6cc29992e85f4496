//! The binary's operator commands, run as a separate process like a Kubernetes Job would.
use crate::helpers::{TestDatabase, services_available};
use std::process::{Command, Output};

fn freeagentics(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_freeagentics"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The versions of the backend's shipped migrations, oldest first (`0001`, `0002`, …).
fn shipped_versions(backend: &str) -> Vec<String> {
    let dir = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".up.sql"))
        .map(|name| name[..4].to_owned())
        .collect();
    versions.sort();
    versions
}

fn migrate_cycle(env: &[(&str, &str)], backend: &str) {
    let versions = shipped_versions(backend);
    let (newest, previous) = (&versions[versions.len() - 1], &versions[versions.len() - 2]);
    let status = stdout(&freeagentics(env, &["migrate", "status"]));
    assert!(status.contains(&format!("backend: {backend}")), "{status}");
    assert!(status.contains("0001 pending"), "{status}");
    let run = stdout(&freeagentics(env, &["migrate", "run"]));
    for version in &versions {
        assert!(run.contains(&format!("applied {version}")), "{run}");
    }
    let status = stdout(&freeagentics(env, &["migrate", "status"]));
    assert!(!status.contains("pending"), "{status}");
    let again = stdout(&freeagentics(env, &["migrate", "run"]));
    assert!(again.contains("up to date"), "{again}");
    let revert = stdout(&freeagentics(env, &["migrate", "revert"]));
    assert!(revert.contains(&format!("reverted {newest}")), "reverts exactly the newest: {revert}");
    assert!(!revert.contains(&format!("reverted {previous}")), "reverts only the newest: {revert}");
    let status = stdout(&freeagentics(env, &["migrate", "status"]));
    assert!(
        status.contains(&format!("{previous} applied")) && status.contains(&format!("{newest} pending")),
        "{status}"
    );
    stdout(&freeagentics(env, &["migrate", "run"]));
}

#[test]
fn migrate_run_revert_status_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("fa-cli-{}", uuid::Uuid::now_v7().simple()));
    let path = dir.join("cli.db").display().to_string();
    migrate_cycle(&[("SQLITE_PATH", &path)], "sqlite");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_run_revert_status_on_postgres() {
    if !services_available().await {
        return;
    }
    let db = TestDatabase::create().await;
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || migrate_cycle(&[("DATABASE_URL", &url)], "postgres")).await.unwrap();
}

#[test]
fn bad_configuration_fails_with_one_line_per_variable() {
    let output = freeagentics(&[("DATABASE_POOL_SIZE", "many"), ("CORS_ORIGINS", "*")], &["config"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_POOL_SIZE"), "{stderr}");
    let production = freeagentics(&[("APP_ENV", "production")], &["serve"]);
    assert!(!production.status.success());
    let stderr = String::from_utf8_lossy(&production.stderr);
    assert!(stderr.contains("DATABASE_URL") && stderr.contains("REDIS_URL"), "{stderr}");
}

#[test]
fn every_bad_value_gets_one_line_naming_its_variable() {
    let output = freeagentics(&[("CORS_ORIGINS", "*"), ("TRUSTED_PROXIES", "10.0.0.0/40")], &["config"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let problems: Vec<&str> = stderr.lines().skip(1).map(str::trim).collect();
    assert_eq!(problems.len(), 2, "{stderr}");
    assert!(problems[0].starts_with("CORS_ORIGINS: "), "{stderr}");
    assert!(problems[1].starts_with("TRUSTED_PROXIES: "), "{stderr}");
}

#[test]
fn config_reads_a_toml_file_under_the_environment_and_prints_no_secrets() {
    let dir = std::env::temp_dir().join(format!("fa-toml-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("freeagentics.toml");
    std::fs::write(&file, "database_pool_size = 7\nrequest_timeout_seconds = 12\n").unwrap();
    let file = file.display().to_string();
    let printed = stdout(&freeagentics(
        &[
            ("FREEAGENTICS_CONFIG", &file),
            ("REQUEST_TIMEOUT_SECONDS", "9"),
            ("DATABASE_URL", "postgres://fa:hunter2@db:5432/fa"),
            ("REDIS_URL", "redis://:redispass@cache:6379"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-jwt"),
        ],
        &["config"],
    ));
    assert!(printed.contains("\"database_pool_size\": 7"), "from the file: {printed}");
    assert!(printed.contains("\"request_timeout_seconds\": 9.0"), "the environment wins: {printed}");
    assert!(printed.contains("postgres (DATABASE_URL set)") && printed.contains("redis: configured"), "{printed}");
    for secret in ["hunter2", "redispass", "abcdef-jwt"] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    let missing = freeagentics(&[("FREEAGENTICS_CONFIG", "/nonexistent/freeagentics.toml")], &["config"]);
    assert!(!missing.status.success(), "a named file that is missing is an error, not silently ignored");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_explains_each_command() {
    let help = stdout(&freeagentics(&[], &["--help"]));
    for word in ["serve", "migrate", "config"] {
        assert!(help.contains(word), "{help}");
    }
    let migrate = stdout(&freeagentics(&[], &["migrate", "--help"]));
    for word in ["run", "revert", "status"] {
        assert!(migrate.contains(word), "{migrate}");
    }
}

#[test]
fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write as _;
    let dir = std::env::temp_dir().join(format!("fa-admin-{}", uuid::Uuid::now_v7().simple()));
    let path = dir.join("admin.db").display().to_string();
    stdout(&freeagentics(&[("SQLITE_PATH", &path)], &["migrate", "run"]));
    let run = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_freeagentics"))
            .args(["users", "create-admin", "--username", "root", "--email", "root@example.com", "--password-stdin"])
            .env_clear()
            .env("SQLITE_PATH", &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = run("password\n");
    assert!(!weak.status.success(), "common passwords are refused here too");
    let created = run("a sturdy passphrase\n");
    assert!(String::from_utf8_lossy(&created.stdout).contains("created admin root"), "{created:?}");
    let again = run("a sturdy passphrase\n");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    let _ = std::fs::remove_dir_all(dir);
}
