//! A PgBouncer in transaction pooling mode in front of the test PostgreSQL, started for one test
//! on a free loopback port and stopped when dropped.
//!
//! sqlx prepares every statement (named, `sqlx_s_N`) in one round trip and executes it in the
//! next; in transaction mode the two may reach different server connections, so the PgBouncer
//! must track prepared statements itself: version 1.21 or newer with `max_prepared_statements`
//! (Debian bookworm ships 1.18, which fails with "prepared statement sqlx_s_1 already exists";
//! no sqlx setting avoids it). `.ci/install-pgbouncer.sh` builds Debian's 1.24 source package;
//! `PGBOUNCER_BIN` names the binary (default: `pgbouncer` on PATH). A developer without a
//! suitable one skips; CI (CI=true or 1) fails.
use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

use freeagentics_test_support::in_ci;

impl PgBouncer {
    /// Starts `pgbouncer` for the server at `host:port` (trust authentication, as the test server
    /// uses). `None` (with a notice) when the binary is missing outside CI.
    pub fn start(host: &str, port: u16) -> Option<PgBouncer> {
        let binary = std::env::var("PGBOUNCER_BIN").unwrap_or_else(|_| "pgbouncer".to_owned());
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|text| {
                let number = text.lines().next()?.strip_prefix("PgBouncer ")?.trim().to_owned();
                let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                Some((parts.next()?, parts.next()?))
            });
        let usable = version.is_some_and(|v| v >= (1, 21));
        assert!(
            usable || !in_ci(),
            "CI is set but {binary} is missing or older than 1.21 ({version:?}): run .ci/install-pgbouncer.sh"
        );
        if !usable {
            eprintln!("skipping the PgBouncer variant: {binary} missing or older than 1.21 (.ci/install-pgbouncer.sh)");
            return None;
        }
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("fa-pgbouncer-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let users = dir.join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").unwrap();
        // The production Pooler's settings that matter to the service: transaction pooling,
        // prepared statements tracked by PgBouncer, and the `options` startup parameter (sqlx
        // sends statement_timeout there) accepted instead of refused: through PgBouncer the
        // timeout comes from the role (ALTER ROLE ... SET statement_timeout), see OPERATIONS.md.
        let ini = format!(
            "[databases]\n* = host={host} port={port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
             default_pool_size = 4\nmax_client_conn = 200\nmax_prepared_statements = 200\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            users = users.display()
        );
        let config = dir.join("pgbouncer.ini");
        std::fs::File::create(&config).unwrap().write_all(ini.as_bytes()).unwrap();
        // PgBouncer refuses to run as root: as root (CI), run it as the postgres user.
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut command = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &binary]);
            c
        } else {
            Command::new(&binary)
        };
        let child = command.arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("pgbouncer starts");
        let bouncer = PgBouncer { child, dir, port: listen };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "pgbouncer did not listen on {listen}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(bouncer)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // runuser forwards SIGTERM to pgbouncer
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
