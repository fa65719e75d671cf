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
    format!("signin-fail:{}", shared::http::network_of(addr))
}

impl AddressThrottle {
    /// Takes this attempt's place in the address's count before any node is asked, so that
    /// forty attempts sent at once are held to the limit as forty sent one by one are; false
    /// when the address is paused.
    pub async fn admit(&self, addr: IpAddr) -> anyhow::Result<bool> {
        Ok(self.store.incr(&key(addr), self.window).await? <= self.limit)
    }

    /// An admitted attempt that was not a failed password gives its place back.
    pub async fn release(&self, addr: IpAddr) -> anyhow::Result<()> {
        self.store.decr(&key(addr)).await
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
        assert!(throttle.admit(a).await.unwrap());
        throttle.release(a).await.unwrap();
        assert!(throttle.admit(a).await.unwrap());
        assert!(throttle.admit(a).await.unwrap());
        assert!(
            !throttle.admit(a).await.unwrap(),
            "two failures, then paused"
        );
        assert!(throttle.admit(b).await.unwrap());
        let v6a: IpAddr = "2001:db8:1:2:3::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:4::9".parse().unwrap();
        assert!(throttle.admit(v6a).await.unwrap());
        assert!(throttle.admit(v6b).await.unwrap());
        assert!(
            !throttle.admit(v6a).await.unwrap(),
            "one /64 is one network"
        );
    }
}
