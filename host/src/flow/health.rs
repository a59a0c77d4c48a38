//! A number's flow that keeps failing is taken out of the call path for a while (a circuit
//! breaker): when the flow assigned to a number traps or overruns its limits [`TRIP_FAILURES`]
//! times within [`WINDOW`], new calls to the number go straight to its fallback route for
//! [`OPEN_FOR`]; then the flow gets calls again (and trips again if it still fails).
//!
//! The breaker belongs to one assignment — a number with its flow version and settings, as
//! stored at one moment (`updated_at`) — because a version may fail on one number's settings
//! and not on another's. A new assignment is a new breaker: reassigning (a fixed version, fixed
//! settings, or the same again) resets it, on every node.
//!
//! State is per node (each node counts the calls it ran).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::store::Assignment;

/// Failures within [`WINDOW`] that open the breaker.
pub const TRIP_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long new calls bypass the flow once the breaker is open.
pub const OPEN_FOR: Duration = Duration::from_secs(300);

/// Which assignment a breaker belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    number: String,
    flow: String,
    updated_at: i64,
}

impl Key {
    fn of(a: &Assignment) -> Self {
        Key {
            number: a.number.clone(),
            flow: a.flow_sha256.clone(),
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Default)]
struct Breaker {
    /// When the flow failed, within the window.
    failures: VecDeque<Instant>,
    open_until: Option<Instant>,
}

impl Breaker {
    fn forget_old(&mut self, now: Instant) {
        while self.failures.front().is_some_and(|at| now.duration_since(*at) > WINDOW) {
            self.failures.pop_front();
        }
        if self.open_until.is_some_and(|until| until <= now) {
            self.open_until = None;
        }
    }
}

/// How an assignment's flow is doing, for `GET /numbers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Traps and limit overruns in the last [`WINDOW`].
    pub recent_failures: usize,
    /// While open: how long new calls still go straight to the fallback route.
    pub open_for: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct FlowHealth {
    breakers: Mutex<HashMap<Key, Breaker>>,
}

impl FlowHealth {
    /// The assignment's flow trapped or overran a limit. True when this opened the breaker
    /// (the caller logs it, once per opening).
    pub fn failed(&self, assignment: &Assignment, now: Instant) -> bool {
        let key = Key::of(assignment);
        let mut breakers = self.breakers.lock();
        // Breakers of replaced assignments go: one per number at most.
        breakers.retain(|k, _| k.number != key.number || *k == key);
        let breaker = breakers.entry(key).or_default();
        breaker.forget_old(now);
        breaker.failures.push_back(now);
        if breaker.open_until.is_none() && breaker.failures.len() >= TRIP_FAILURES {
            breaker.open_until = Some(now + OPEN_FOR);
            breaker.failures.clear();
            let name = [("number", assignment.number.clone())];
            metrics::counter!("switchboard_flow_circuit_trips_total", &name).increment(1);
            return true;
        }
        false
    }

    /// Whether new calls to the assignment's number bypass its flow now.
    pub fn is_open(&self, assignment: &Assignment, now: Instant) -> bool {
        self.health(assignment, now).open_for.is_some()
    }

    pub fn health(&self, assignment: &Assignment, now: Instant) -> Health {
        let mut breakers = self.breakers.lock();
        match breakers.get_mut(&Key::of(assignment)) {
            Some(breaker) => {
                breaker.forget_old(now);
                Health {
                    recent_failures: breaker.failures.len(),
                    open_for: breaker.open_until.map(|until| until - now),
                }
            }
            None => Health::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(updated_at: i64) -> Assignment {
        Assignment {
            number: "+15550100100".into(),
            flow_sha256: "ab".repeat(32),
            updated_at,
            ..Assignment::default()
        }
    }

    #[test]
    fn five_failures_in_a_minute_open_it_for_a_while_and_a_new_assignment_closes_it() {
        let health = FlowHealth::default();
        let first = assignment(1);
        let t0 = Instant::now();
        for i in 0..TRIP_FAILURES - 1 {
            assert!(!health.failed(&first, t0 + Duration::from_secs(i as u64)));
        }
        assert!(!health.is_open(&first, t0 + Duration::from_secs(10)));
        assert!(
            health.failed(&first, t0 + Duration::from_secs(10)),
            "the fifth opens it"
        );
        assert!(!health.failed(&first, t0 + Duration::from_secs(11)), "opened once");
        assert!(health.is_open(&first, t0 + Duration::from_secs(11)));
        let later = t0 + Duration::from_secs(10) + OPEN_FOR;
        assert!(!health.is_open(&first, later), "closed again after a while");

        let second = assignment(2);
        assert!(
            !health.is_open(&second, t0 + Duration::from_secs(12)),
            "a new assignment starts closed"
        );
        assert_eq!(health.health(&second, t0), Health::default());
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_open_it() {
        let health = FlowHealth::default();
        let a = assignment(1);
        let t0 = Instant::now();
        for i in 0..20u64 {
            assert!(!health.failed(&a, t0 + Duration::from_secs(i * 20)), "failure {i}");
        }
        assert_eq!(health.health(&a, t0 + Duration::from_secs(380)).recent_failures, 4);
    }
}
