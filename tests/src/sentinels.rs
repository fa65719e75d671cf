//! Redis with Sentinel on loopback, of the test's own: a master, two replicas and three
//! sentinels (quorum two) that fail over within seconds of the master's death.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::processes::{free_port, wait_for};

pub const MASTER_NAME: &str = "federation";

pub struct SentinelGroup {
    /// Redis servers by port; the first was the master at the start.
    pub servers: Vec<(u16, Option<Child>)>,
    pub sentinels: Vec<(u16, Child)>,
}

impl SentinelGroup {
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut servers = Vec::new();
        let master_port = free_port();
        for i in 0..3 {
            let port = if i == 0 { master_port } else { free_port() };
            let mut command = Command::new("redis-server");
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // A replica's first sync writes a snapshot: into the test's directory, not ours.
                .arg("--dir")
                .arg(dir);
            if i > 0 {
                command.args(["--replicaof", "127.0.0.1", &master_port.to_string()]);
            }
            let child = command
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("cannot start redis-server")?;
            servers.push((port, Some(child)));
        }
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = free_port();
            // A sentinel rewrites its configuration file as it learns: one file each.
            let file = dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &file,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n\
                     sentinel parallel-syncs {MASTER_NAME} 2\n",
                    dir = dir.display()
                ),
            )?;
            let child = Command::new("redis-server")
                .arg(&file)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("cannot start redis-server --sentinel")?;
            sentinels.push((port, child));
        }
        let group = SentinelGroup { servers, sentinels };
        group.wait_until_watched().await?;
        Ok(group)
    }

    pub fn addresses(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// Until every sentinel knows the other two and both replicas, and the replicas are in
    /// sync: only then can they agree on a failover.
    async fn wait_until_watched(&self) -> anyhow::Result<()> {
        let ports: Vec<u16> = self.sentinels.iter().map(|(p, _)| *p).collect();
        wait_for(
            "the sentinels know each other and the replicas",
            Duration::from_secs(30),
            || {
                let ports = ports.clone();
                async move {
                    for port in ports {
                        let Ok(master) = sentinel_view(port).await else {
                            return false;
                        };
                        let field = |name: &str| {
                            master
                                .iter()
                                .position(|v| v == name)
                                .and_then(|i| master.get(i + 1))
                                .cloned()
                                .unwrap_or_default()
                        };
                        if field("num-other-sentinels") != "2" || field("num-slaves") != "2" {
                            return false;
                        }
                    }
                    true
                }
            },
        )
        .await?;
        for (port, _) in &self.servers[1..] {
            let port = *port;
            wait_for(
                "the replica is in sync",
                Duration::from_secs(10),
                || async move {
                    info(port, "replication")
                        .await
                        .is_ok_and(|i| i.contains("master_link_status:up"))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The master's port as the sentinels name it now.
    pub async fn master_port(&self) -> anyhow::Result<u16> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.sentinels[0].0))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER_NAME)
            .query_async(&mut conn)
            .await?;
        Ok(port)
    }

    /// Kills the server on `port` with SIGKILL: no goodbye to its clients or replicas.
    pub async fn kill(&mut self, port: u16) -> anyhow::Result<()> {
        let (_, child) = self
            .servers
            .iter_mut()
            .find(|(p, _)| *p == port)
            .context("no such server")?;
        if let Some(mut child) = child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// How many keys the server on `port` holds.
    pub async fn keys(&self, port: u16) -> anyhow::Result<u64> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        Ok(redis::cmd("DBSIZE").query_async(&mut conn).await?)
    }
}

async fn sentinel_view(port: u16) -> anyhow::Result<Vec<String>> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("SENTINEL")
        .arg("master")
        .arg(MASTER_NAME)
        .query_async(&mut conn)
        .await?)
}

async fn info(port: u16, section: &str) -> anyhow::Result<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await?)
}
