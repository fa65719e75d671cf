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

/// A moment (Unix milliseconds) as Estonians read it: Tallinn time (UTC+2, +3 in summer from
/// the last Sunday of March to the last Sunday of October, 01:00 UTC), "04.12.2026 18:20".
pub fn tallinn_time(millis: i64) -> String {
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1_000)) else {
        return String::new();
    };
    let last_sunday = |month: time::Month| {
        let mut day =
            time::Date::from_calendar_date(utc.year(), month, 31).unwrap_or(time::Date::MIN);
        while day.weekday() != time::Weekday::Sunday {
            day = day.previous_day().unwrap_or(day);
        }
        day.with_hms(1, 0, 0).map(|t| t.assume_utc()).ok()
    };
    let summer = match (
        last_sunday(time::Month::March),
        last_sunday(time::Month::October),
    ) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let local = utc + time::Duration::hours(if summer { 3 } else { 2 });
    local
        .format(time::macros::format_description!(
            "[day].[month].[year] [hour]:[minute]"
        ))
        .unwrap_or_default()
}

#[cfg(test)]
mod tallinn_tests {
    use super::tallinn_time;

    #[test]
    fn winter_and_summer_time() {
        // 2026-12-04 16:20 UTC is 18:20 in Tallinn; 2026-07-01 12:00 UTC is 15:00.
        assert_eq!(tallinn_time(1_796_401_200_000), "04.12.2026 18:20");
        assert_eq!(tallinn_time(1_782_907_200_000), "01.07.2026 15:00");
        // The switch: 2026-03-29 00:59 UTC is still winter, 01:00 summer.
        assert_eq!(tallinn_time(1_774_745_940_000), "29.03.2026 02:59");
        assert_eq!(tallinn_time(1_774_746_000_000), "29.03.2026 04:00");
    }
}
