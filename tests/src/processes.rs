//! Real processes for the fault-injection suite: a PostgreSQL server and a Redis server of its
//! own (so they can be stopped and killed without touching anything else on the machine), and
//! the `idp` and `school-node` binaries started with environment settings, as an operator would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

pub use testkit::free_port;

/// Waits until `check` holds, at most `within`, looking every 50 ms.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_every(what, within, Duration::from_millis(50), check).await
}

/// As [`wait_for`], looking every `every` (a benchmark that times the wait looks often).
pub async fn wait_every<F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    testkit::try_eventually_every(within, every, || {
        let holds = check();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err(String::new())
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("{what}: not within {within:?}"))
}

/// The last lines of a log file, to quote in an error.
/// The end of a process's log; when it ended with an error or a panic, the message first (a
/// backtrace after it would otherwise fill the tail).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    match lines
        .iter()
        .rposition(|l| l.starts_with("Error:") || l.contains("panicked at"))
    {
        Some(at) if at + 20 < lines.len() => {
            let end = (at + 8).min(lines.len());
            format!("{}\n…\n{tail}", lines[at..end].join("\n"))
        }
        _ => tail,
    }
}

async fn answers(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A program run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

fn postgres_bin() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's server programs are not installed (/usr/lib/postgresql)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().context("no PostgreSQL server program found")
}

/// A PostgreSQL server in a folder of its own, trusting local connections.
pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    server: Option<Child>,
    /// Commits wait for the disk (`fsync`), as in production; off for the fault suites.
    durable: bool,
}

impl OwnPostgres {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, false).await
    }

    /// A server whose commits reach the disk (`fsync = on`), for figures of production.
    pub async fn start_durable(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, true).await
    }

    async fn start_with(dir: &Path, durable: bool) -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let dir = dir.join("pg");
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(status.success(), "chown of the PostgreSQL folder failed");
            // The folders above it must let the postgres user through.
            let mut up = dir.parent();
            while let Some(p) = up {
                let _ = std::process::Command::new("chmod")
                    .arg("o+x")
                    .arg(p)
                    .status();
                up = p.parent();
            }
        }
        let init = as_postgres(&bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await?;
        anyhow::ensure!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut pg = OwnPostgres {
            port: free_port(),
            dir,
            bin,
            server: None,
            durable,
        };
        pg.resume().await?;
        Ok(pg)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The process that started the server (`runuser` when we are root, else `postgres`):
    /// every server process is below it.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref()?.id()
    }

    /// Starts the server again on the same port and data.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let server = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            // Two federations of eleven processes, each pool up to 16 connections, came near 200:
            // at the limit, the processes that started last waited for connections and the
            // scale harness measured that, not the work.
            .args([
                "-c",
                if self.durable {
                    "fsync=on"
                } else {
                    "fsync=off"
                },
            ])
            .args(["-c", "max_connections=600", "-k"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start postgres")?;
        self.server = Some(server);
        let url = self.url("postgres");
        wait_for("PostgreSQL answers", Duration::from_secs(30), || async {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_millis(500))
                .connect(&url)
                .await
                .is_ok()
        })
        .await
    }

    /// Stops the server the quick way (open connections are cut).
    pub async fn pause(&mut self) -> anyhow::Result<()> {
        let stop = as_postgres(&self.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await?;
        anyhow::ensure!(
            stop.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&stop.stderr)
        );
        if let Some(mut server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server.wait()).await??;
        }
        Ok(())
    }

    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let pool = sqlx::PgPool::connect(&self.url("postgres")).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(self.url(name))
    }
}

/// A Redis server of its own that keeps nothing on disk: a restart forgets everything.
pub struct OwnRedis {
    pub port: u16,
    server: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> anyhow::Result<Self> {
        let mut redis = OwnRedis {
            port: free_port(),
            server: None,
        };
        redis.resume().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref()?.id()
    }

    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let server = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start redis-server")?;
        self.server = Some(server);
        let port = self.port;
        wait_for("Redis answers", Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await
    }

    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut server) = self.server.take() {
            server.kill().await?;
        }
        Ok(())
    }
}

/// One of this workspace's service binaries, next to the running harness (a binary in
/// `target/debug`) or one folder up (a test in `target/debug/deps`).
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let here = std::env::current_exe()?;
    let dir = here.parent().context("the harness has a folder")?;
    let candidates = [Some(dir.join(name)), dir.parent().map(|up| up.join(name))];
    candidates
        .into_iter()
        .flatten()
        .find(|path| path.exists())
        .with_context(|| {
            format!(
                "{name} is missing beside {}: build it first (cargo build -p idp -p school-node)",
                dir.display()
            )
        })
}

/// A service process started with environment settings, stopped and started again at will.
pub struct Service {
    pub name: String,
    pub port: u16,
    program: PathBuf,
    env: Vec<(String, String)>,
    health: String,
    process: Option<Child>,
    log: PathBuf,
}

impl Service {
    /// `prefix` is the binary's settings prefix (`IDP_`, `SCHOOL_`); `env` without it.
    pub fn new(
        name: &str,
        binary_name: &str,
        prefix: &str,
        port: u16,
        dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut all: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
            .collect();
        let level = std::env::var("FAULTS_LOG").unwrap_or_else(|_| "warn".into());
        all.push(("RUST_LOG".into(), level));
        Ok(Service {
            name: name.to_owned(),
            port,
            program: binary(binary_name)?,
            env: all,
            health: format!("http://127.0.0.1:{port}/health/live"),
            process: None,
            log: dir.join(format!("{name}.log")),
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&self.program);
        command
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let mut process = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.name))?;
        // A process that exits (a port taken since it was chosen, a bad setting) fails at once,
        // and the error carries its log: the directory holding it may be gone by the time
        // anyone reads the error.
        let started = Instant::now();
        loop {
            let exited = process.try_wait()?;
            if exited.is_none() && answers(&self.health).await {
                self.process = Some(process);
                return Ok(());
            }
            if exited.is_some() || started.elapsed() > Duration::from_secs(30) {
                let why = exited.map_or("does not answer within 30 s".into(), |s| {
                    format!("exited ({s})")
                });
                anyhow::bail!(
                    "{} {why}; its log ends:\n{}",
                    self.name,
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs the binary once with other arguments and the same settings; its standard output.
    pub async fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "error")
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sends a signal (`KILL`, `TERM`) and waits for the process to end.
    pub async fn signal(&mut self, signal: &str) -> anyhow::Result<Option<i32>> {
        let Some(mut process) = self.process.take() else {
            return Ok(None);
        };
        if let Some(pid) = process.id() {
            std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()?;
        }
        let status = tokio::time::timeout(Duration::from_secs(30), process.wait()).await??;
        Ok(status.code())
    }
}
