//! Brute-force protection that cannot be turned against the person it protects, counted in the
//! ephemeral store so that every instance of the node sees the same counts:
//!
//! - failures from one address with one username pause that pair for the window;
//! - failures from one address across usernames pause that address;
//! - failures with one username from anywhere only slow its answers down (a growing delay),
//!   so the right password from an address that has not been failing always gets in.
//!
//! Usernames are counted by what was typed (normalised), whether or not an account has it, so
//! an unknown name is answered exactly like a known one.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use shared::ephemeral::Ephemeral;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed attempts from one address with one username before that pair is paused.
    pub per_pair: u64,
    /// Failed attempts from one address before it is paused for the rest of the window.
    pub per_address: u64,
    /// Failed attempts with one username, from anywhere, before its answers slow down.
    pub slow_after: u64,
    /// The first delay once a username is being slowed; it doubles with each failure.
    pub delay_base_millis: u64,
    pub delay_max_millis: u64,
    pub window_minutes: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_pair: 5,
            per_address: 30,
            slow_after: 5,
            delay_base_millis: 250,
            delay_max_millis: 4_000,
            window_minutes: 15,
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    store: Ephemeral,
    config: ThrottleConfig,
}

use shared::http::network_of as network;

fn address_key(addr: IpAddr) -> String {
    format!("fail:addr:{}", network(addr))
}

fn pair_key(login: &str, addr: IpAddr) -> String {
    format!("fail:pair:{}:{login}", network(addr))
}

fn login_key(login: &str) -> String {
    format!("fail:login:{login}")
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

    /// Takes this attempt's place in the counts *before* its password is checked, so that a
    /// burst of parallel attempts is held to the same numbers as attempts sent one by one (a
    /// count read first and written after the check lets every request of a burst through).
    /// `None`: the pair or the address is paused and nothing may be checked. Otherwise the
    /// delay this attempt waits first, from the username's earlier attempts.
    pub async fn admit(&self, login: &str, addr: IpAddr) -> anyhow::Result<Option<Duration>> {
        let window = self.window();
        let pair = pair_key(login, addr);
        if self.store.incr(&pair, window).await? > self.config.per_pair {
            return Ok(None);
        }
        if self.store.incr(&address_key(addr), window).await? > self.config.per_address {
            // Paused by the address: this attempt is not one of the pair's either.
            self.store.decr(&pair).await?;
            return Ok(None);
        }
        let earlier = self.store.incr(&login_key(login), window).await? - 1;
        Ok(Some(Duration::from_millis(delay_after(
            &self.config,
            earlier,
        ))))
    }

    /// An admitted attempt signed in: this username's failures are forgotten, and the attempt
    /// does not count against its address (a school behind one address signs in all day).
    pub async fn succeeded(&self, login: &str, addr: IpAddr) -> anyhow::Result<()> {
        self.store.delete(&pair_key(login, addr)).await?;
        self.store.delete(&login_key(login)).await?;
        self.store.decr(&address_key(addr)).await
    }

    /// An admitted attempt that checked no password (an ambiguous name) gives its place back.
    pub async fn release(&self, login: &str, addr: IpAddr) -> anyhow::Result<()> {
        self.store.decr(&pair_key(login, addr)).await?;
        self.store.decr(&address_key(addr)).await?;
        self.store.decr(&login_key(login)).await
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
        self.hit(what, &network(addr), limit).await
    }
}

/// The delay after `failures` failures with one username: none up to `slow_after`, then
/// doubling from the base up to the maximum.
fn delay_after(config: &ThrottleConfig, failures: u64) -> u64 {
    if failures < config.slow_after {
        return 0;
    }
    let doublings = u32::try_from((failures - config.slow_after).min(20)).unwrap_or(20);
    config
        .delay_base_millis
        .saturating_mul(1 << doublings)
        .min(config.delay_max_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_username_is_slowed_more_and_more_up_to_the_cap() {
        let config = ThrottleConfig::default();
        let delays: Vec<u64> = (3..10).map(|n| delay_after(&config, n)).collect();
        assert_eq!(delays, [0, 0, 250, 500, 1_000, 2_000, 4_000]);
        assert_eq!(delay_after(&config, 1_000), 4_000);
    }

    #[tokio::test]
    async fn a_failing_pair_is_paused_and_other_addresses_are_not() {
        let throttle = Throttle::new(Ephemeral::memory(), ThrottleConfig::default());
        let (attacker, owner) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..5 {
            assert!(throttle.admit("mari", attacker).await.unwrap().is_some());
        }
        assert_eq!(throttle.admit("mari", attacker).await.unwrap(), None);
        assert_eq!(
            throttle.admit("mari", owner).await.unwrap(),
            Some(Duration::from_millis(250)),
            "the owner's address is admitted, only slowed"
        );
        assert_eq!(
            throttle.admit("jaan", attacker).await.unwrap(),
            Some(Duration::ZERO),
            "another name"
        );
        throttle.succeeded("mari", owner).await.unwrap();
        assert_eq!(
            throttle.admit("mari", owner).await.unwrap(),
            Some(Duration::ZERO)
        );
    }

    #[tokio::test]
    async fn a_burst_from_one_address_is_admitted_only_up_to_the_limits() {
        let throttle = Throttle::new(Ephemeral::memory(), ThrottleConfig::default());
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        let admitted = burst(&throttle, addr, |_| "mari".to_owned()).await;
        assert_eq!(admitted, 5, "one pair: five checks");
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let admitted = burst(&throttle, other, |i| format!("user{i}")).await;
        assert_eq!(admitted, 30, "one address: thirty");
    }

    /// Forty attempts at once; how many were admitted.
    async fn burst(throttle: &Throttle, addr: IpAddr, login: impl Fn(usize) -> String) -> usize {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..40 {
            let (throttle, login) = (throttle.clone(), login(i));
            set.spawn(async move { throttle.admit(&login, addr).await.unwrap() });
        }
        set.join_all().await.into_iter().flatten().count()
    }
}
