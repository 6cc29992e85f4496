//! `TestApp`: the real server on 127.0.0.1:0 with its own database (a fresh PostgreSQL database
//! or SQLite file) and its own Redis key prefix, driven over real sockets with reqwest.
//!
//! PostgreSQL and Redis come from `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432)
//! and `TEST_REDIS_URL` (default redis://127.0.0.1:6379). When they are unreachable a developer's
//! run skips those variants with a notice; with `CI=true` it fails instead.
use freeagentics_server::{Application, Config};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded profile: SQLite file, in-process shared state.
    Sqlite,
    /// Production profile: PostgreSQL and Redis.
    Postgres,
}

pub use freeagentics_test_support::{database_admin_url as admin_database_url, redis_url};

/// Whether the external services answer; in CI their absence is a failure, never a skip.
pub async fn services_available() -> bool {
    let pg = sqlx::PgPool::connect(&format!("{}/postgres", admin_database_url())).await;
    let redis = async {
        let client = redis::Client::open(redis_url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    }
    .await;
    let ok = pg.is_ok() && redis.is_some();
    if let Ok(pool) = pg {
        pool.close().await;
    }
    freeagentics_test_support::available(ok, "PostgreSQL or Redis", &"the Postgres/Redis suite must run")
}

/// A PostgreSQL database created for one test and dropped when it ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("fa_test_{}", Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", admin_database_url())).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&admin).await.unwrap();
        admin.close().await;
        let url = format!("{}/{name}", admin_database_url());
        TestDatabase { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // async work in Drop: a short-lived runtime on its own thread
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", admin_database_url())).await {
                    let sql = format!("drop database if exists {name} with (force)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// How a test wants its dependencies.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    /// Point the service at closed ports instead of the real servers.
    pub database_unreachable: bool,
    pub redis_unreachable: bool,
    /// Extra `(VARIABLE, value)` configuration.
    pub env: Vec<(&'static str, String)>,
}

impl Options {
    pub fn new(backend: Backend) -> Self {
        Options { backend, database_unreachable: false, redis_unreachable: false, env: Vec::new() }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener, when the test set `METRICS_BIND_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
    pub state: freeagentics_api::AppState,
    pub client: Client,
    pub backend: Backend,
    pub dir: PathBuf,
    pub redis_prefix: Option<String>,
    /// Dropped with the app: the database is removed when the test ends.
    database: Option<TestDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// `None` (with a notice) when the backend's services are unavailable outside CI.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(Options::new(backend)).await
    }

    pub async fn spawn_with(options: Options) -> Option<Self> {
        if options.backend == Backend::Postgres && !services_available().await {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("fa-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env: Vec<(&str, String)> = vec![
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("SHUTDOWN_DRAIN_SECONDS", "0".to_owned()),
            ("SHUTDOWN_TIMEOUT_SECONDS", "5".to_owned()),
            ("MAINTENANCE_FILE", dir.join("maintenance").display().to_string()),
            ("MAINTENANCE_POLL_MS", "20".to_owned()),
            ("HEALTH_CHECK_TIMEOUT_MS", "1000".to_owned()),
            ("SQLITE_PATH", dir.join("test.db").display().to_string()),
            ("DATA_DIR", dir.display().to_string()),
            ("DATABASE_POOL_SIZE", "5".to_owned()),
            ("DATABASE_MAX_OVERFLOW", "2".to_owned()),
            // generous limits so suites can sign in many users from 127.0.0.1; the rate-limit
            // tests set their own
            ("RATE_LIMIT_LOGIN", "1000,1000/60".to_owned()),
            ("RATE_LIMIT_REGISTER", "1000,1000/60".to_owned()),
            ("RATE_LIMIT_REFRESH", "1000,1000/60".to_owned()),
            ("RATE_LIMIT_WRITES", "1000,1000/60".to_owned()),
            ("RATE_LIMIT_READS", "1000,1000/60".to_owned()),
            ("RATE_LIMIT_WS_CONNECT", "1000,1000/60".to_owned()),
            ("PASSWORD_HASH_CONCURRENCY", "4".to_owned()),
            ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        ];
        let mut database = None;
        let mut redis_prefix = None;
        if options.database_unreachable {
            env.push(("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unreachable".to_owned()));
            env.push(("MIGRATE_ON_START", "false".to_owned()));
            env.push(("DATABASE_ACQUIRE_TIMEOUT_MS", "300".to_owned()));
        } else if options.backend == Backend::Postgres {
            let db = TestDatabase::create().await;
            env.push(("DATABASE_URL", db.url.clone()));
            database = Some(db);
        }
        if options.redis_unreachable {
            env.push(("REDIS_URL", "redis://127.0.0.1:1".to_owned()));
            env.push(("REDIS_TIMEOUT_MS", "200".to_owned()));
        } else if options.backend == Backend::Postgres {
            let prefix = format!("fa:test:{}:", Uuid::now_v7().simple());
            env.push(("REDIS_URL", redis_url()));
            env.push(("REDIS_KEY_PREFIX", prefix.clone()));
            redis_prefix = Some(prefix);
        }
        env.extend(options.env);
        let config = Config::from_pairs(env).expect("test configuration is valid");
        let app = Application::build(&config).await.expect("the application starts");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Some(TestApp {
            addr,
            metrics_addr,
            state,
            client,
            backend: options.backend,
            dir,
            redis_prefix,
            database,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// The PostgreSQL database the app uses (PostgreSQL backend only), for tests that act on it
    /// from outside, as another client or an operator would.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|db| db.url.as_str())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    /// Triggers the graceful shutdown and waits for the server to finish.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Registers a user through the API and returns its session.
    pub async fn register(&self, username: &str) -> Session {
        let body = serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": PASSWORD,
        });
        let response = self.post_json("/api/v1/auth/register", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {username}");
        Session::from_body(response.json().await.unwrap())
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        let body = serde_json::json!({ "username_or_email": username, "password": password });
        self.post_json("/api/v1/auth/login", &body).await
    }

    /// A signed-in user with `role` (admins are created like `users create-admin` does; other
    /// roles by an admin through the API).
    pub async fn user_with_role(&self, username: &str, role: &str) -> Session {
        if role == "admin" {
            freeagentics_server::admin::create_admin(
                self.state.store.as_ref(),
                username,
                &format!("{username}@example.com"),
                PASSWORD.to_owned(),
            )
            .await
            .unwrap();
        } else {
            let admin = Box::pin(self.user_with_role(&format!("{username}-maker"), "admin")).await;
            let body = serde_json::json!({
                "username": username, "email": format!("{username}@example.com"), "password": PASSWORD, "role": role,
            });
            let response = self
                .client
                .post(self.url("/api/v1/users"))
                .bearer_auth(&admin.access)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        let response = self.login(username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login {username}");
        Session::from_body(response.json().await.unwrap())
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub fn set_maintenance(&self, content: &str) {
        std::fs::write(self.dir.join("maintenance"), content).unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // every answer of this app must be documented by its operation (policy::ContractLog);
        // checked when the test body ends without a failure of its own
        let violations = self.state.contract.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("answers the OpenAPI document does not list for their operation: {violations:?}");
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(prefix) = self.redis_prefix.take() {
            let _ = std::thread::spawn(move || {
                let Ok(client) = redis::Client::open(redis_url()) else { return };
                let Ok(mut conn) = client.get_connection() else { return };
                let keys: Vec<String> =
                    redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
                }
            })
            .join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub const PASSWORD: &str = "a sturdy passphrase";
/// Known to the tests so they can forge tokens for the negative JWT corpus.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

impl Session {
    pub fn from_body(body: Value) -> Self {
        Session {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

/// Reads a problem+json body and checks the shape every error must have.
#[track_caller]
pub fn assert_problem(status: StatusCode, content_type: Option<&str>, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "body: {body}");
    assert_eq!(content_type, Some("application/problem+json"), "body: {body}");
    assert_eq!(body["status"], expected.as_u16(), "body: {body}");
    for field in ["type", "title", "detail", "instance"] {
        assert!(body[field].is_string(), "problem lacks `{field}`: {body}");
    }
}

pub async fn problem(response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = response.json().await.expect("a JSON body");
    assert_problem(status, content_type.as_deref(), &body, expected);
    assert_eq!(body["instance"].as_str(), request_id.as_deref(), "instance is the request id");
    body
}

/// Polls until `check` holds or 5 s pass; for state that changes in the background (files
/// re-read on a timer), never a fixed sleep.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// Runs a test body against both profiles: `sqlite` (embedded) and `postgres` (PostgreSQL + Redis).
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    #[allow(unused_mut)]
                    let Some(mut $app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await else { return };
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    #[allow(unused_mut)]
                    let Some(mut $app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await else { return };
                    $body
                }
            }
        )*
    };
}

/// The real `freeagentics` binary as a child process on a port the kernel picks (embedded profile,
/// its own data directory), ready to serve; for signal and process-output tests.
pub struct Process {
    pub child: tokio::process::Child,
    pub base: String,
    /// `http://` + the metrics listener's address, when `METRICS_BIND_ADDR` is set.
    pub metrics_base: Option<String>,
    pub dir: PathBuf,
    /// Its JSON log lines after the "serving" line, which `spawn` read to learn the address.
    log: Option<tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>>,
}

impl Process {
    pub async fn spawn(env: &[(&str, String)]) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let dir = std::env::temp_dir().join(format!("fa-process-{}", Uuid::now_v7().simple()));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_freeagentics"));
        command
            .env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("SQLITE_PATH", dir.join("db.sqlite"))
            .env("DATA_DIR", &dir)
            .env("LOG_FORMAT", "json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut log = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // the listeners are bound before these lines are written: the addresses are ready to connect to
        let mut metrics_base = None;
        let serving = async {
            while let Some(line) = log.next_line().await.unwrap() {
                let line: Value = serde_json::from_str(&line).unwrap_or_default();
                if line["message"] == "serving metrics" {
                    metrics_base = line["addr"].as_str().map(|addr| format!("http://{addr}"));
                }
                if line["message"] == "serving" {
                    return line["addr"].as_str().map(str::to_owned);
                }
            }
            None
        };
        let addr = tokio::time::timeout(std::time::Duration::from_secs(30), serving)
            .await
            .expect("the binary starts within 30 s")
            .expect("the binary logs the address it serves on");
        Process { child, base: format!("http://{addr}"), metrics_base, dir, log: Some(log) }
    }

    /// A process with `env` (the embedded profile unless `env` names databases) and an admin
    /// account `root` created at start-up, signed in.
    pub async fn spawn_signed_in<V: AsRef<str>>(env: &[(&str, V)]) -> (Process, Session) {
        let mut env: Vec<(&str, String)> = env.iter().map(|(key, value)| (*key, value.as_ref().to_owned())).collect();
        if !env.iter().any(|(key, _)| *key == "JWT_SECRET") {
            env.push(("JWT_SECRET", TEST_JWT_SECRET.to_owned()));
        }
        env.push(("ADMIN_USERNAME", "root".to_owned()));
        env.push(("ADMIN_EMAIL", "root@example.com".to_owned()));
        env.push(("ADMIN_PASSWORD", PASSWORD.to_owned()));
        let mut process = Process::spawn(&env).await;
        process.discard_log();
        let client = Client::new();
        let login = json!({ "username_or_email": "root", "password": PASSWORD });
        for _ in 0..100 {
            let response =
                client.post(format!("{}/api/v1/auth/login", process.base)).json(&login).send().await.unwrap();
            if response.status() == StatusCode::OK {
                return (process, Session::from_body(response.json().await.unwrap()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the admin did not sign in");
    }

    /// The log lines still to come; taken once.
    pub fn take_log(&mut self) -> tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>> {
        self.log.take().expect("the log is taken once")
    }

    /// Reads the rest of the log and drops it, so a chatty process never blocks on a full pipe.
    pub fn discard_log(&mut self) {
        if let Some(mut log) = self.log.take() {
            tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        }
    }

    /// The value of one series in this process's `/metrics` (0 when it is absent). Every count in
    /// it was caused by the test that started the process.
    pub async fn metric(&self, client: &Client, series: &str) -> f64 {
        let text = client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        metric_value(&text, series).unwrap_or(0.0)
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap()
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The value of one exact series (`name{labels}` as rendered) in a Prometheus exposition.
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `redis-server`, killed when dropped.
pub struct RedisServer {
    child: tokio::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub async fn start(dir: &std::path::Path, name: &str, args: &[String]) -> RedisServer {
        Self::start_on(free_port(), dir, name, args).await
    }

    /// On a given port (a restart of a stopped server keeps its address).
    pub async fn start_on(port: u16, dir: &std::path::Path, name: &str, args: &[String]) -> RedisServer {
        let mut command = tokio::process::Command::new("redis-server");
        if name.starts_with("sentinel") {
            // a sentinel rewrites its configuration file: give it one of its own
            let conf = dir.join(format!("{name}.conf"));
            std::fs::write(&conf, format!("port {port}\nbind 127.0.0.1\ndir {}\n{}\n", dir.display(), args.join("\n")))
                .unwrap();
            command.arg(conf).arg("--sentinel");
        } else {
            command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            command.arg("--dir").arg(dir);
            command.args(args);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { child, port };
        wait_until(std::time::Duration::from_secs(10), || async { server.client().await.is_some() }).await;
        server
    }

    pub async fn client(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()?;
        Some(conn)
    }

    pub async fn info(&self, section: &str) -> String {
        match self.client().await {
            Some(mut conn) => redis::cmd("INFO").arg(section).query_async(&mut conn).await.unwrap_or_default(),
            None => String::new(),
        }
    }
}

pub async fn wait_until<F, Fut>(limit: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Whether `redis-server` can be started here (the tests that start their own need it; CI must).
pub fn redis_server_available() -> bool {
    let found = std::process::Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
    freeagentics_test_support::available(found, "redis-server", &"not installed (Debian package redis-server)")
}

impl RedisServer {
    /// Kills the server (the port is free again; `start_on` the same port restarts it).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Two server processes (the real binary) on one fresh PostgreSQL database and one Redis key
/// prefix; `a` creates an admin at start-up, whose session is `admin`. `env` starts a third.
pub struct Replicas {
    pub a: Process,
    pub b: Process,
    pub client: Client,
    pub admin: Session,
    pub env: Vec<(&'static str, String)>,
    _database: TestDatabase,
}

impl Replicas {
    /// On the test PostgreSQL and Redis; `None` (with a notice) when they are unavailable outside CI.
    pub async fn start() -> Option<Replicas> {
        Replicas::start_with(&[]).await
    }

    /// As [`Replicas::start`], with `extra` configuration on both.
    pub async fn start_with(extra: &[(&'static str, &str)]) -> Option<Replicas> {
        if !services_available().await {
            return None;
        }
        let mut env = vec![("SHUTDOWN_DRAIN_SECONDS", "0")];
        env.extend_from_slice(extra);
        Some(Replicas::start_on(&redis_url(), &env).await)
    }

    /// On the test PostgreSQL and the Redis at `redis`, with `extra` configuration on both.
    pub async fn start_on(redis: &str, extra: &[(&'static str, &str)]) -> Replicas {
        let database = TestDatabase::create().await;
        let mut env = vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.to_owned()),
            ("REDIS_KEY_PREFIX", format!("fa:test:{}:", uuid::Uuid::now_v7().simple())),
            ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
            ("RATE_LIMIT_ENABLED", "false".to_owned()),
        ];
        env.extend(extra.iter().map(|(key, value)| (*key, (*value).to_owned())));
        let (a, admin) = Process::spawn_signed_in(&env).await;
        let mut b = Process::spawn(&env).await;
        b.discard_log();
        Replicas { a, b, client: Client::new(), admin, env, _database: database }
    }

    /// Creates an agent from `body` through `on`, as the admin; the agent.
    pub async fn create(&self, on: &Process, body: &Value) -> Value {
        let url = format!("{}/api/v1/agents", on.base);
        let response = self.client.post(url).bearer_auth(&self.admin.access).json(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }
}
