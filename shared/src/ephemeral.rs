//! Short-lived state with a time to live: sessions, throttling counters, one-time codes, replay
//! caches. In memory by default (one process); Redis when configured, so that several instances
//! of a service share it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod link;

pub use link::{RedisSettings, RedisSource};

#[derive(Clone)]
pub enum Ephemeral {
    Memory(Arc<MemoryStore>),
    Redis {
        conn: Arc<link::Link>,
        prefix: Arc<str>,
    },
}

impl std::fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

type Sets = HashMap<String, (HashSet<String>, Instant)>;

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    /// Sets apart, as sets: adding to one costs no copy of it (a busy expiry bucket holds
    /// thousands of sessions).
    sets: Mutex<Sets>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (Vec<u8>, Instant)>, Instant) -> T) -> T {
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        // Sweep now and then so that abandoned keys do not pile up.
        if map.len() > 1024 && map.len().is_power_of_two() {
            map.retain(|_, (_, expires)| *expires > now);
        }
        f(&mut map, now)
    }

    fn with_sets<T>(&self, f: impl FnOnce(&mut Sets, Instant) -> T) -> T {
        let mut sets = self
            .sets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if sets.len() > 1024 && sets.len().is_power_of_two() {
            sets.retain(|_, (_, expires)| *expires > now);
        }
        f(&mut sets, now)
    }

    /// The live set at `key`, if any (an expired one is dropped).
    fn live_set<'a>(
        sets: &'a mut Sets,
        key: &str,
        now: Instant,
    ) -> Option<&'a mut HashSet<String>> {
        if sets.get(key).is_some_and(|(_, expires)| *expires <= now) {
            sets.remove(key);
        }
        sets.get_mut(key).map(|(members, _)| members)
    }

    fn live(map: &mut HashMap<String, (Vec<u8>, Instant)>, key: &str, now: Instant) -> bool {
        match map.get(key) {
            Some((_, expires)) if *expires > now => true,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }
}

impl Ephemeral {
    pub fn memory() -> Self {
        Ephemeral::Memory(Arc::default())
    }

    /// The store the settings name: Redis (one server, or the master behind sentinels), or
    /// memory when Redis is not configured. Every key this service writes starts with `prefix`.
    pub async fn open(settings: &RedisSettings<'_>, prefix: &str) -> anyhow::Result<Self> {
        match settings.source()? {
            Some(source) => Self::redis(&source, prefix).await,
            None => Ok(Self::memory()),
        }
    }

    pub async fn redis(source: &RedisSource, prefix: &str) -> anyhow::Result<Self> {
        Ok(Ephemeral::Redis {
            conn: Arc::new(link::Link::connect(source).await?),
            prefix: prefix.into(),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Ephemeral::Memory(_) => "memory",
            Ephemeral::Redis { .. } => "redis",
        }
    }

    fn key(prefix: &str, key: &str) -> String {
        format!("{prefix}{key}")
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Ephemeral::Memory(m) => {
                Ok(m.with(|map, now| MemoryStore::live(map, key, now).then(|| map[key].0.clone())))
            }
            Ephemeral::Redis { conn, prefix } => Ok(conn
                .query(redis::cmd("GET").arg(Self::key(prefix, key)))
                .await?),
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with(|map, now| map.insert(key.to_owned(), (value.to_vec(), now + ttl)));
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let _: () = conn
                    .query(
                        redis::cmd("SET")
                            .arg(Self::key(prefix, key))
                            .arg(value)
                            .arg("PX")
                            .arg(ms),
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Stores several keys in one trip (a pipeline in Redis), each with its own time to live.
    pub async fn set_all(&self, entries: &[(&str, &[u8], Duration)]) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with(|map, now| {
                    for (key, value, ttl) in entries {
                        map.insert((*key).to_owned(), (value.to_vec(), now + *ttl));
                    }
                });
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                let mut pipe = redis::pipe();
                for (key, value, ttl) in entries {
                    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                    pipe.cmd("SET")
                        .arg(Self::key(prefix, key))
                        .arg(*value)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
                let _: () = conn.query_pipe(&pipe).await?;
                Ok(())
            }
        }
    }

    /// Stores only if the key is absent; true when this call stored it.
    pub async fn set_new(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<bool> {
        match self {
            Ephemeral::Memory(m) => Ok(m.with(|map, now| {
                if MemoryStore::live(map, key, now) {
                    false
                } else {
                    map.insert(key.to_owned(), (value.to_vec(), now + ttl));
                    true
                }
            })),
            Ephemeral::Redis { conn, prefix } => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let stored: Option<String> = conn
                    .query(
                        redis::cmd("SET")
                            .arg(Self::key(prefix, key))
                            .arg(value)
                            .arg("NX")
                            .arg("PX")
                            .arg(ms),
                    )
                    .await?;
                Ok(stored.is_some())
            }
        }
    }

    /// Reads and removes in one step, so a one-time value is used at most once.
    pub async fn take(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Ephemeral::Memory(m) => Ok(m.with(|map, now| {
                if MemoryStore::live(map, key, now) {
                    map.remove(key).map(|(v, _)| v)
                } else {
                    None
                }
            })),
            Ephemeral::Redis { conn, prefix } => Ok(conn
                .query(redis::cmd("GETDEL").arg(Self::key(prefix, key)))
                .await?),
        }
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with(|map, _| map.remove(key));
                m.with_sets(|sets, _| sets.remove(key));
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                let _: () = conn
                    .query(redis::cmd("DEL").arg(Self::key(prefix, key)))
                    .await?;
                Ok(())
            }
        }
    }

    /// Adds one to a counter; the first increment starts its time window.
    pub async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64> {
        match self {
            Ephemeral::Memory(m) => Ok(m.with(|map, now| {
                if MemoryStore::live(map, key, now) {
                    let entry = map.get_mut(key).expect("live");
                    let n = parse_count(&entry.0) + 1;
                    entry.0 = n.to_string().into_bytes();
                    n
                } else {
                    map.insert(key.to_owned(), (b"1".to_vec(), now + window));
                    1
                }
            })),
            Ephemeral::Redis { conn, prefix } => {
                let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
                let (count,): (u64,) = conn
                    .query_pipe(
                        redis::pipe()
                            .atomic()
                            .incr(Self::key(prefix, key), 1)
                            .cmd("PEXPIRE")
                            .arg(Self::key(prefix, key))
                            .arg(ms)
                            .arg("NX")
                            .ignore(),
                    )
                    .await?;
                Ok(count)
            }
        }
    }

    /// Takes one back from a counter that is still live, never below zero, keeping its window;
    /// an expired or absent counter is left absent. (A reservation taken with [`Ephemeral::incr`]
    /// before an attempt is returned this way when the attempt did not count.)
    pub async fn decr(&self, key: &str) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with(|map, now| {
                    if MemoryStore::live(map, key, now) {
                        let entry = map.get_mut(key).expect("live");
                        let n = parse_count(&entry.0).saturating_sub(1);
                        entry.0 = n.to_string().into_bytes();
                    }
                });
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                // One script, so that the counter cannot expire between the check and the
                // DECR (which would leave a -1 with no time to live).
                const SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 and \
                    tonumber(redis.call('GET', KEYS[1])) > 0 then \
                    return redis.call('DECR', KEYS[1]) end return 0";
                let _: i64 = conn
                    .query(
                        redis::cmd("EVAL")
                            .arg(SCRIPT)
                            .arg(1)
                            .arg(Self::key(prefix, key)),
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Adds `member` to the set at `key` and (re)starts the set's time to live.
    pub async fn add_to_set(&self, key: &str, member: &str, ttl: Duration) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with_sets(|sets, now| {
                    let live = MemoryStore::live_set(sets, key, now).is_some();
                    let entry = sets
                        .entry(key.to_owned())
                        .or_insert_with(|| (HashSet::new(), now + ttl));
                    if !live {
                        entry.0.clear();
                    }
                    entry.0.insert(member.to_owned());
                    entry.1 = now + ttl;
                });
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let _: () = conn
                    .query_pipe(
                        redis::pipe()
                            .atomic()
                            .sadd(Self::key(prefix, key), member)
                            .ignore()
                            .pexpire(
                                Self::key(prefix, key),
                                i64::try_from(ms).unwrap_or(i64::MAX),
                            )
                            .ignore(),
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// The members of the set at `key`, leaving it as it is (empty when there is none).
    pub async fn members(&self, key: &str) -> anyhow::Result<Vec<String>> {
        match self {
            Ephemeral::Memory(m) => Ok(m.with_sets(|sets, now| {
                MemoryStore::live_set(sets, key, now)
                    .map(|members| members.iter().cloned().collect())
                    .unwrap_or_default()
            })),
            Ephemeral::Redis { conn, prefix } => Ok(conn
                .query(redis::cmd("SMEMBERS").arg(Self::key(prefix, key)))
                .await?),
        }
    }

    /// Removes `member` from the set at `key`, if it is there.
    pub async fn remove_from_set(&self, key: &str, member: &str) -> anyhow::Result<()> {
        match self {
            Ephemeral::Memory(m) => {
                m.with_sets(|sets, now| {
                    if let Some(members) = MemoryStore::live_set(sets, key, now) {
                        members.remove(member);
                    }
                });
                Ok(())
            }
            Ephemeral::Redis { conn, prefix } => {
                let _: () = conn
                    .query(redis::cmd("SREM").arg(Self::key(prefix, key)).arg(member))
                    .await?;
                Ok(())
            }
        }
    }

    /// How many members the sets at `keys` hold together, in one round trip.
    pub async fn count_in_sets(&self, keys: &[String]) -> anyhow::Result<u64> {
        match self {
            Ephemeral::Memory(m) => Ok(m.with_sets(|sets, now| {
                keys.iter()
                    .filter_map(|key| MemoryStore::live_set(sets, key, now).map(|s| s.len() as u64))
                    .sum()
            })),
            Ephemeral::Redis { conn, prefix } => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.scard(Self::key(prefix, key));
                }
                let counts: Vec<u64> = conn.query_pipe(&pipe).await?;
                Ok(counts.into_iter().sum())
            }
        }
    }

    /// The current value of a counter (0 when absent or expired).
    pub async fn count(&self, key: &str) -> anyhow::Result<u64> {
        Ok(self.get(key).await?.map(|v| parse_count(&v)).unwrap_or(0))
    }
}

fn parse_count(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
