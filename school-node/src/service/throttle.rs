//! Brute-force protection: failed sign-ins counted per account and per client address in a time
//! window, in the ephemeral store so that every instance of the node sees the same counts.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use shared::ephemeral::Ephemeral;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed attempts on one account before it is paused for the rest of the window.
    pub per_account: u64,
    /// Failed attempts from one address before it is paused for the rest of the window.
    pub per_address: u64,
    pub window_minutes: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 30,
            window_minutes: 15,
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    store: Ephemeral,
    config: ThrottleConfig,
}

fn account_key(id: &str) -> String {
    format!("fail:account:{id}")
}

fn address_key(addr: IpAddr) -> String {
    // IPv6 clients rotate through their /64, so count the network, not the address.
    match addr {
        IpAddr::V4(v4) => format!("fail:addr:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("fail:addr:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

impl Throttle {
    pub fn new(store: Ephemeral, config: ThrottleConfig) -> Self {
        Self { store, config }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.config.window_minutes.max(1) * 60)
    }

    pub fn window_minutes(&self) -> u64 {
        self.config.window_minutes.max(1)
    }

    pub async fn address_blocked(&self, addr: IpAddr) -> anyhow::Result<bool> {
        Ok(self.store.count(&address_key(addr)).await? >= self.config.per_address)
    }

    pub async fn account_blocked(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self.store.count(&account_key(id)).await? >= self.config.per_account)
    }

    pub async fn record_failure(&self, addr: IpAddr, accounts: &[&str]) -> anyhow::Result<()> {
        self.store.incr(&address_key(addr), self.window()).await?;
        for id in accounts {
            self.store.incr(&account_key(id), self.window()).await?;
        }
        Ok(())
    }

    /// Counts one use of `what` by `key`; true when the limit for the window is passed.
    pub async fn hit(&self, what: &str, key: &str, limit: u64) -> anyhow::Result<bool> {
        Ok(self
            .store
            .incr(&format!("use:{what}:{key}"), self.window())
            .await?
            > limit)
    }

    /// Like [`Throttle::hit`], keyed by client address.
    pub async fn hit_address(&self, what: &str, addr: IpAddr, limit: u64) -> anyhow::Result<bool> {
        self.hit(what, &address_key(addr), limit).await
    }

    pub async fn clear_account(&self, id: &str) -> anyhow::Result<()> {
        self.store.delete(&account_key(id)).await
    }
}
