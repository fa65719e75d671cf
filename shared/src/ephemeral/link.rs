//! The connection to Redis: one server named by a URL, or the master that Redis Sentinel names.
//! Behind sentinels the master can change (a failover); when the connection breaks, or the
//! server it reaches has become a read-only replica, the sentinels are asked again and commands
//! go to the master they name from then on.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, ErrorKind, RedisError, ServerErrorKind};

/// Where Redis is, from a service's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisSource {
    Url(String),
    Sentinels {
        /// `host:port` of each sentinel.
        sentinels: Vec<String>,
        master_name: String,
        /// For the Redis servers (`requirepass`).
        password: Option<String>,
        /// For the sentinels, when they ask for one of their own.
        sentinel_password: Option<String>,
    },
}

/// The Redis settings both services share; `source` says which of them apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisSettings<'a> {
    pub url: Option<&'a str>,
    pub sentinels: &'a [String],
    pub master_name: Option<&'a str>,
    pub password: Option<&'a str>,
    pub sentinel_password: Option<&'a str>,
}

impl RedisSettings<'_> {
    /// None when Redis is not configured (the in-memory store is used).
    pub fn source(&self) -> anyhow::Result<Option<RedisSource>> {
        match (self.url, self.sentinels.is_empty()) {
            (Some(_), false) => {
                anyhow::bail!("redis_url and redis_sentinels are both set: name one of them")
            }
            (Some(url), true) => Ok(Some(RedisSource::Url(url.to_owned()))),
            (None, true) => {
                anyhow::ensure!(
                    self.master_name.is_none(),
                    "redis_master_name is set without redis_sentinels"
                );
                Ok(None)
            }
            (None, false) => {
                let master_name = self
                    .master_name
                    .filter(|name| !name.is_empty())
                    .context("redis_sentinels needs redis_master_name (the sentinels' `sentinel monitor` name)")?;
                for sentinel in self.sentinels {
                    parse_address(sentinel)?;
                }
                Ok(Some(RedisSource::Sentinels {
                    sentinels: self.sentinels.to_vec(),
                    master_name: master_name.to_owned(),
                    password: self.password.map(str::to_owned),
                    sentinel_password: self.sentinel_password.map(str::to_owned),
                }))
            }
        }
    }
}

fn parse_address(address: &str) -> anyhow::Result<ConnectionAddr> {
    let (host, port) = address
        .rsplit_once(':')
        .with_context(|| format!("redis_sentinels: {address:?} is not host:port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("redis_sentinels: {address:?} has no port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    anyhow::ensure!(!host.is_empty(), "redis_sentinels: {address:?} has no host");
    Ok(ConnectionAddr::Tcp(host.to_owned(), port))
}

/// Asking the sentinels at most this often: while a failover is under way every request fails
/// and would otherwise ask again.
const ASK_AT_MOST_EVERY: Duration = Duration::from_millis(200);

pub struct Link {
    current: RwLock<Current>,
    sentinel: Option<tokio::sync::Mutex<Asking>>,
}

#[derive(Clone)]
struct Current {
    conn: ConnectionManager,
    addr: String,
    /// Bumped when commands move to another server.
    generation: u64,
}

struct Asking {
    client: SentinelClient,
    last: Option<Instant>,
}

impl Link {
    pub async fn connect(source: &RedisSource) -> anyhow::Result<Link> {
        match source {
            RedisSource::Url(url) => {
                let client = redis::Client::open(url.as_str())
                    .with_context(|| format!("not a Redis URL: {}", crate::db::redact(url)))?;
                let addr = client.get_connection_info().addr().to_string();
                let conn = manager(client).await.with_context(|| {
                    format!("cannot connect to Redis at {}", crate::db::redact(url))
                })?;
                Ok(Link {
                    current: RwLock::new(Current {
                        conn,
                        addr,
                        generation: 0,
                    }),
                    sentinel: None,
                })
            }
            RedisSource::Sentinels {
                sentinels,
                master_name,
                password,
                sentinel_password,
            } => {
                let addrs = sentinels
                    .iter()
                    .map(|s| parse_address(s))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let mut builder =
                    SentinelClientBuilder::new(addrs, master_name, SentinelServerType::Master)?;
                if let Some(password) = password {
                    builder = builder.set_client_to_redis_password(password);
                }
                if let Some(password) = sentinel_password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                let mut client = builder.build()?;
                let master = client.async_get_client().await.with_context(|| {
                    format!(
                        "the sentinels {} name no master {master_name:?} that answers",
                        sentinels.join(", ")
                    )
                })?;
                let addr = master.get_connection_info().addr().to_string();
                let conn = manager(master)
                    .await
                    .with_context(|| format!("cannot connect to the Redis master at {addr}"))?;
                tracing::info!(master = %addr, "Redis master found through the sentinels");
                Ok(Link {
                    current: RwLock::new(Current {
                        conn,
                        addr,
                        generation: 0,
                    }),
                    sentinel: Some(tokio::sync::Mutex::new(Asking { client, last: None })),
                })
            }
        }
    }

    fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        metrics::counter!("redis_round_trips_total", "kind" => "command").increment(1);
        let first = self.current();
        match cmd.query_async(&mut first.conn.clone()).await {
            Err(e) if moved_or_broke(&e) => {
                self.follow(first.generation).await;
                cmd.query_async(&mut self.current().conn)
                    .await
                    .map_err(outage)
            }
            other => other.map_err(outage),
        }
    }

    pub async fn query_pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> anyhow::Result<T> {
        metrics::counter!("redis_round_trips_total", "kind" => "pipeline").increment(1);
        let first = self.current();
        match pipe.query_async(&mut first.conn.clone()).await {
            Err(e) if moved_or_broke(&e) => {
                self.follow(first.generation).await;
                pipe.query_async(&mut self.current().conn)
                    .await
                    .map_err(outage)
            }
            other => other.map_err(outage),
        }
    }

    /// Behind sentinels, asks them for the master and moves there if it is another server.
    /// A direct connection reconnects by itself (the connection manager).
    async fn follow(&self, seen: u64) {
        let Some(sentinel) = &self.sentinel else {
            return;
        };
        let mut asking = sentinel.lock().await;
        if self.current().generation != seen
            || asking
                .last
                .is_some_and(|at| at.elapsed() < ASK_AT_MOST_EVERY)
        {
            return;
        }
        asking.last = Some(Instant::now());
        let master = match asking.client.async_get_client().await {
            Ok(master) => master,
            Err(e) => {
                tracing::warn!(error = %e, "the sentinels name no Redis master that answers yet");
                return;
            }
        };
        let addr = master.get_connection_info().addr().to_string();
        if addr == self.current().addr {
            return;
        }
        match manager(master).await {
            Ok(conn) => {
                let mut current = self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                tracing::warn!(from = %current.addr, to = %addr, "Redis master changed: following the sentinels");
                *current = Current {
                    conn,
                    addr,
                    generation: current.generation + 1,
                };
            }
            Err(e) => {
                tracing::warn!(master = %addr, error = %e, "cannot connect to the new Redis master")
            }
        }
    }
}

async fn manager(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2);
    let mut conn = ConnectionManager::new_with_config(client, config).await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(conn)
}

/// Whether a failure was the connection breaking (Redis restarted, say) or the server no longer
/// being the master (a failover demoted it): worth one more try, on the master the sentinels
/// name now.
fn moved_or_broke(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Marks an outage so that the request is answered 503 (`health::is_unavailable`): every
/// failure but those that would be this program's fault (an answer it cannot read, a command
/// the server refuses as wrong), whatever stage of a broken or moving connection it comes from.
fn outage(e: RedisError) -> anyhow::Error {
    let ours = matches!(
        e.kind(),
        ErrorKind::Parse
            | ErrorKind::UnexpectedReturnType
            | ErrorKind::InvalidClientConfig
            | ErrorKind::Server(
                ServerErrorKind::ResponseError
                    | ServerErrorKind::ExecAbort
                    | ServerErrorKind::NoScript
                    | ServerErrorKind::CrossSlot
                    | ServerErrorKind::NotBusy
                    | ServerErrorKind::NoSub
                    | ServerErrorKind::NoPerm
            )
    );
    if !ours || moved_or_broke(&e) || e.is_timeout() {
        anyhow::Error::new(e).context("Redis is unavailable")
    } else {
        e.into()
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.current().addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_one_source() {
        let sentinels = vec!["127.0.0.1:26379".to_owned(), "[::1]:26380".to_owned()];
        let none = RedisSettings::default();
        assert_eq!(none.source().unwrap(), None);
        let both = RedisSettings {
            url: Some("redis://x"),
            sentinels: &sentinels,
            ..Default::default()
        };
        assert!(both.source().is_err());
        let nameless = RedisSettings {
            sentinels: &sentinels,
            ..Default::default()
        };
        assert!(format!("{:#}", nameless.source().unwrap_err()).contains("redis_master_name"));
        let named = RedisSettings {
            sentinels: &sentinels,
            master_name: Some("sessions"),
            ..Default::default()
        };
        assert!(matches!(
            named.source().unwrap(),
            Some(RedisSource::Sentinels { master_name, .. }) if master_name == "sessions"
        ));
        let bad = vec!["sentinel-without-port".to_owned()];
        let bad = RedisSettings {
            sentinels: &bad,
            master_name: Some("sessions"),
            ..Default::default()
        };
        assert!(bad.source().is_err());
        assert_eq!(
            parse_address("[::1]:26380").unwrap(),
            ConnectionAddr::Tcp("::1".into(), 26380)
        );
    }
}
