//! Overload control: when the node falls behind, new work is refused early and cheaply, so
//! that the calls it takes keep short setup times and the calls in progress keep their audio.
//!
//! Without it, a node offered more calls than it can set up lets every call's setup grow: the
//! phones retransmit their INVITEs after 500 ms, each retransmission is more work, and goodput
//! collapses (the 400 calls/s row: 2.97 s average setup). With it, a new INVITE,
//! REGISTER or SUBSCRIBE is answered 503 with Retry-After (RFC 3261 §21.5.4) before any digest,
//! flow or database work, in proportion to how far behind the node is.
//!
//! "Behind" is the runtime's scheduling lag: a probe task asks to wake every [`PROBE_PERIOD`]
//! and measures how late it runs; when every worker is busy, ready tasks (ours and every
//! call's) wait in line, and the lag is how long. It is smoothed, then compared with
//! [`TARGET_LAG`]: above it, a growing share of new requests is refused — all of them at twice
//! the target. Requests that carry credentials are the second half of work already begun (the
//! first INVITE was challenged), so they are refused only from twice the target on, and in-dialog
//! requests never are. Like `toobusy` for Node and Kamailio's load-based `ratelimit`, it needs no
//! capacity figure per machine: the machine's own lag says when it is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

const PROBE_PERIOD: Duration = Duration::from_millis(5);
/// The lag above which new requests start to be refused; a call's setup waits for several
/// scheduling rounds, and its target is 20 ms (DESIGN §9). At 10 ms, smoothed over 160 ms, the
/// gate let the queues grow: at twice the capacity, setup took 1.2 s on average.
const TARGET_LAG: Duration = Duration::from_millis(4);
/// How much of each new probe the smoothed lag takes: an exponential moving average over about
/// 8 probes, 40 ms. A burst is not overload, a second of it is.
const SMOOTHING: f64 = 1.0 / 8.0;
/// Told to refused phones: try again in this many seconds (RFC 3261 §20.33).
pub const RETRY_AFTER_SECS: u32 = 2;

/// What a new request is to the node's current work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Opens something: a first INVITE, REGISTER or SUBSCRIBE.
    Fresh,
    /// Carries credentials: the second half of something the node already challenged.
    Continued,
}

/// The node's smoothed scheduling lag, and who may come in.
#[derive(Clone, Default)]
pub struct Overload {
    /// Smoothed lag in microseconds (an f64's bits).
    lag_us: Arc<AtomicU64>,
    /// The refused shares added up (in thousandths): a request is refused each time the sum
    /// crosses a whole, which spreads the refusals evenly among the requests.
    refusals: Arc<AtomicU64>,
}

impl Overload {
    /// Starts the probe; it stops with `cancel`.
    pub fn start(cancel: CancellationToken) -> Self {
        let overload = Overload::default();
        let probe = overload.clone();
        tokio::spawn(async move {
            let mut smoothed = 0.0;
            loop {
                let asked = Instant::now();
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(PROBE_PERIOD) => {}
                }
                // The timer's own granularity (1 ms) is not lag.
                let late = asked.elapsed().saturating_sub(PROBE_PERIOD + Duration::from_millis(1));
                smoothed += SMOOTHING * (late.as_micros() as f64 - smoothed);
                probe.lag_us.store(f64::to_bits(smoothed), Ordering::Relaxed);
                metrics::gauge!("switchboard_scheduling_lag_seconds").set(smoothed / 1e6);
            }
        });
        overload
    }

    /// The smoothed scheduling lag.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(f64::from_bits(self.lag_us.load(Ordering::Relaxed)) as u64)
    }

    /// Whether a new request of this kind is taken now.
    pub fn admit(&self, work: Work) -> bool {
        let share = refused_share(self.lag(), work);
        if share <= 0.0 {
            return true;
        }
        let step = (share * 1000.0) as u64;
        let before = self.refusals.fetch_add(step, Ordering::Relaxed);
        let refused = (before + step) / 1000 > before / 1000;
        if refused {
            metrics::counter!("switchboard_sip_overload_refused_total").increment(1);
        }
        !refused
    }
}

/// The share of new requests of kind `work` refused at smoothed lag `lag`: none up to the
/// target, then growing linearly to all of the fresh ones at twice the target; continued work
/// is refused from twice the target on, all of it at four times.
fn refused_share(lag: Duration, work: Work) -> f64 {
    let (from, to) = match work {
        Work::Fresh => (TARGET_LAG, 2 * TARGET_LAG),
        Work::Continued => (2 * TARGET_LAG, 4 * TARGET_LAG),
    };
    if lag <= from {
        return 0.0;
    }
    ((lag - from).as_secs_f64() / (to - from).as_secs_f64()).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_work_is_refused_first_and_continued_work_last() {
        let ms = Duration::from_millis;
        assert_eq!(refused_share(ms(0), Work::Fresh), 0.0);
        assert_eq!(refused_share(TARGET_LAG, Work::Fresh), 0.0);
        assert_eq!(refused_share(TARGET_LAG * 3 / 2, Work::Fresh), 0.5);
        assert_eq!(refused_share(TARGET_LAG * 2, Work::Fresh), 1.0);
        assert_eq!(refused_share(TARGET_LAG * 2, Work::Continued), 0.0);
        assert_eq!(refused_share(TARGET_LAG * 3, Work::Continued), 0.5);
        assert_eq!(refused_share(ms(10_000), Work::Continued), 1.0);
    }

    #[test]
    fn refusals_are_spread_by_share() {
        let overload = Overload::default();
        let lag = TARGET_LAG * 3 / 2; // half of the fresh work is refused
        overload
            .lag_us
            .store(f64::to_bits(lag.as_micros() as f64), Ordering::Relaxed);
        let admitted: Vec<bool> = (0..1000).map(|_| overload.admit(Work::Fresh)).collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 500);
        assert!(
            admitted.chunks(2).all(|pair| pair.contains(&true)),
            "spread out, not in runs"
        );
        assert!((0..1000).all(|_| overload.admit(Work::Continued)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_node_that_falls_behind_refuses_new_work_then_takes_it_again() {
        let ms = Duration::from_millis;
        let overload = Overload::start(CancellationToken::new());
        tokio::time::sleep(ms(50)).await;
        // Work that keeps the only worker busy 30 ms at a time: every other task waits.
        for _ in 0..60 {
            tokio::task::yield_now().await;
            std::thread::sleep(ms(30));
        }
        assert!(overload.lag() > 2 * TARGET_LAG, "lag {:?}", overload.lag());
        assert!(!overload.admit(Work::Fresh));
        // Idle again: the lag decays and new work is taken (the deadline is generous for a
        // busy test machine; it is not a measurement).
        let deadline = Instant::now() + Duration::from_secs(10);
        while overload.lag() > TARGET_LAG / 2 && Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        assert!(overload.admit(Work::Fresh), "lag {:?}", overload.lag());
    }
}
