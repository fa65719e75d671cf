//! The IdP sign-in page's own limit per client address: failed password sign-ins from one
//! address pause it for a while, before any school's node is asked again. (Each node also
//! throttles by username and address pair; see the school node's `throttle`.)

use std::net::IpAddr;
use std::time::Duration;

use shared::ephemeral::Ephemeral;

#[derive(Clone)]
pub struct AddressThrottle {
    pub store: Ephemeral,
    /// Failed sign-ins from one address in a window before it is paused.
    pub limit: u64,
    pub window: Duration,
}

/// IPv6 clients rotate through their /64, so count the network, not the address.
fn key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => format!("signin-fail:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "signin-fail:{:x}:{:x}:{:x}:{:x}::/64",
                s[0], s[1], s[2], s[3]
            )
        }
    }
}

impl AddressThrottle {
    pub async fn paused(&self, addr: IpAddr) -> anyhow::Result<bool> {
        Ok(self.store.count(&key(addr)).await? >= self.limit)
    }

    pub async fn failed(&self, addr: IpAddr) -> anyhow::Result<()> {
        self.store.incr(&key(addr), self.window).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_is_paused_after_its_failures_and_others_are_not() {
        let throttle = AddressThrottle {
            store: Ephemeral::memory(),
            limit: 2,
            window: Duration::from_secs(60),
        };
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        throttle.failed(a).await.unwrap();
        assert!(!throttle.paused(a).await.unwrap());
        throttle.failed(a).await.unwrap();
        assert!(throttle.paused(a).await.unwrap());
        assert!(!throttle.paused(b).await.unwrap());
        let v6a: IpAddr = "2001:db8:1:2:3::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:4::9".parse().unwrap();
        throttle.failed(v6a).await.unwrap();
        throttle.failed(v6b).await.unwrap();
        assert!(
            throttle.paused(v6a).await.unwrap(),
            "one /64 is one network"
        );
    }
}
