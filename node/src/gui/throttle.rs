//! Slowing down password guessing: after each wrong password a client (an IPv4 address, or an
//! IPv6 /64) must wait before its next try, 1 s after the first and twice as long after each
//! further one, up to 5 minutes; a right password clears its count, and an hour without a
//! wrong one forgets it. The table is bounded: when full, the entry whose last failure is
//! oldest goes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The wait after the first wrong password.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long a client's failures are remembered after its last one.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Clients remembered at most.
const MAX_CLIENTS: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Strikes {
    failures: u32,
    last: Instant,
    until: Instant,
}

/// The clients that gave wrong passwords lately.
#[derive(Default)]
pub struct Throttle {
    clients: HashMap<IpAddr, Strikes>,
}

/// What counts as one client: an IPv4 address (also when mapped into IPv6), or an IPv6 /64
/// (one household or host gets a whole /64).
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Throttle {
    /// How long `ip` must still wait before its password is checked; `None`: check it now.
    pub fn wait(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let strikes = self.clients.get(&client_of(ip))?;
        (strikes.until > now).then(|| strikes.until - now)
    }

    /// Counts a wrong password from `ip`: its failures so far and the wait before its next try.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> (u32, Duration) {
        let client = client_of(ip);
        self.clients
            .retain(|_, s| now.saturating_duration_since(s.last) < FORGET_AFTER);
        if !self.clients.contains_key(&client) && self.clients.len() >= MAX_CLIENTS {
            let oldest = self
                .clients
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.clients.remove(&oldest);
            }
        }
        let failures = self
            .clients
            .get(&client)
            .map_or(0, |s| s.failures)
            .saturating_add(1);
        let wait = wait_after(failures);
        self.clients.insert(
            client,
            Strikes {
                failures,
                last: now,
                until: now + wait,
            },
        );
        (failures, wait)
    }

    /// A right password from `ip`: its count starts again.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.clients.remove(&client_of(ip));
    }
}

/// The wait after `failures` wrong passwords in a row.
fn wait_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_WAIT * (1u32 << doublings)).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_wrong_password_doubles_the_wait_up_to_the_bound_and_a_right_one_clears_it() {
        let mut t = Throttle::default();
        let now = Instant::now();
        let a = ip("192.168.1.20");
        assert_eq!(t.wait(a, now), None);
        assert_eq!(t.failed(a, now), (1, FIRST_WAIT));
        assert_eq!(
            t.wait(a, now),
            Some(FIRST_WAIT),
            "the right password waits too"
        );
        assert_eq!(
            t.wait(ip("192.168.1.21"), now),
            None,
            "another client does not"
        );
        assert_eq!(t.wait(a, now + FIRST_WAIT), None);
        assert_eq!(t.failed(a, now).1, FIRST_WAIT * 2);
        assert_eq!(t.failed(a, now).1, FIRST_WAIT * 4);
        for _ in 0..20 {
            t.failed(a, now);
        }
        assert_eq!(t.wait(a, now), Some(MAX_WAIT));
        t.succeeded(a);
        assert_eq!(t.wait(a, now), None);
        assert_eq!(t.failed(a, now), (1, FIRST_WAIT));
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_mapped_ipv4_is_its_address() {
        let mut t = Throttle::default();
        let now = Instant::now();
        t.failed(ip("2001:db8:1:2::5"), now);
        assert!(t.wait(ip("2001:db8:1:2:ffff::9"), now).is_some());
        assert!(t.wait(ip("2001:db8:1:3::5"), now).is_none());
        t.failed(ip("::ffff:10.0.0.7"), now);
        assert!(t.wait(ip("10.0.0.7"), now).is_some());
    }

    #[test]
    fn the_table_stays_bounded_and_forgets_after_an_hour() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 10) {
            let at = now + Duration::from_millis(u64::from(i));
            t.failed(IpAddr::V4(i.into()), at);
        }
        assert_eq!(t.clients.len(), MAX_CLIENTS);
        let later = now + FORGET_AFTER + Duration::from_secs(10);
        t.failed(ip("10.1.1.1"), later);
        assert_eq!(t.clients.len(), 1);
    }
}
