//! For tests (the store's own and the end-to-end ones): a PostgreSQL database of a test's own,
//! made next to the one `SWITCHBOARD_TEST_POSTGRES` names and dropped with the value — also when
//! the test fails, so failed runs leave nothing behind.

use sqlx::Connection;

pub struct TestDatabase {
    /// Where the store (or a server) connects.
    pub url: String,
    pub name: String,
    admin: String,
}

impl TestDatabase {
    /// A fresh, empty database; `None` when `SWITCHBOARD_TEST_POSTGRES` is not set.
    pub async fn create(prefix: &str) -> Option<TestDatabase> {
        let admin = std::env::var("SWITCHBOARD_TEST_POSTGRES").ok()?;
        let name = format!("{prefix}_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut conn = sqlx::postgres::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("SWITCHBOARD_TEST_POSTGRES={admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run on the test's runtime: a thread of its own may block on the DROP.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::postgres::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A PostgreSQL server of a test's own, to stop and start again (a database restarted under
/// load) without disturbing other tests: initdb'd into a temporary directory, listening on
/// loopback at a free port, stopped (immediately) with the value.
pub struct PrivatePostgres {
    /// Where the store connects (the `postgres` database, trust authentication).
    pub url: String,
    bin: std::path::PathBuf,
    /// The server's data, socket and log (removed with the value).
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    /// Sets one up and starts it; `None` (said on stderr) when `SWITCHBOARD_TEST_POSTGRES` is
    /// not set or this machine has no PostgreSQL server binaries.
    pub fn start() -> Option<PrivatePostgres> {
        std::env::var("SWITCHBOARD_TEST_POSTGRES").ok()?;
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|version| Some(version.ok()?.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
        else {
            eprintln!("no PostgreSQL server binaries in /usr/lib/postgresql: not tested here");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("switchboard-pg-{}", hex::encode(rand::random::<[u8; 6]>())));
        std::fs::create_dir(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            dir,
            port,
        };
        if Self::is_root() {
            // The server refuses to run as root: the data belongs to the `postgres` user.
            Self::run(
                std::process::Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(&server.dir),
            );
        }
        let data = server.data();
        server.pg(&["initdb", "-A", "trust", "-U", "postgres", "-D", &data]);
        server.start_again();
        Some(server)
    }

    /// Stops the server (fast: open connections are cut, as in a restart).
    pub fn stop(&self) {
        self.pg(&["pg_ctl", "stop", "-m", "fast", "-w", "-D", &self.data()]);
    }

    /// Starts the stopped server on its port again, and waits until it takes connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = format!("{}/server.log", self.dir.display());
        self.pg(&["pg_ctl", "start", "-w", "-D", &self.data(), "-l", &log, "-o", &options]);
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.display())
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
    }

    /// PostgreSQL's `tool`, run as the `postgres` user when we are root.
    fn command(&self, tool: &str) -> std::process::Command {
        let tool = self.bin.join(tool);
        if Self::is_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(tool);
            command
        } else {
            std::process::Command::new(tool)
        }
    }

    /// Runs PostgreSQL's `args[0]` with the rest of `args`.
    fn pg(&self, args: &[&str]) {
        Self::run(self.command(args[0]).args(&args[1..]));
    }

    fn run(command: &mut std::process::Command) {
        let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(
            out.status.success(),
            "{command:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D", &data])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
