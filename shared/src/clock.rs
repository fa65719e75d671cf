//! The time, passed in: the system clock in production, a clock that tests set and move, so
//! that nothing waits for real seconds to reach an expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Clock(system)"),
            Some(at) => write!(f, "Clock(manual at {} ms)", at.load(Ordering::Relaxed)),
        }
    }
}

fn system_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Clock {
    /// The real time.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at the current real time until it is moved.
    pub fn manual() -> Self {
        Self(Some(Arc::new(AtomicI64::new(system_millis()))))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        match &self.0 {
            None => system_millis(),
            Some(at) => at.load(Ordering::Relaxed),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now_millis().div_euclid(1_000)
    }

    pub fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.now())
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN)
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        match &self.0 {
            Some(at) => {
                at.fetch_add(
                    i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
                    Ordering::Relaxed,
                );
            }
            None => panic!("the system clock cannot be moved"),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual();
        let start = clock.now_millis();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now_millis(), start);
        let copy = clock.clone();
        copy.advance(Duration::from_secs(90));
        assert_eq!(clock.now_millis(), start + 90_000);
        assert_eq!(clock.now(), (start + 90_000).div_euclid(1_000));
        let system = Clock::system();
        assert!((system.now_millis() - system_millis()).abs() < 1_000);
    }
}
