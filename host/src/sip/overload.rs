//! Overload control: when the node falls behind, new work is refused early and cheaply, so
//! that the calls it takes keep short setup times and the calls in progress keep their audio.
//!
//! Without it, a node offered more calls than it can set up lets every call's setup grow: the
//! phones retransmit their INVITEs after 500 ms, each retransmission is more work, and goodput
//! collapses (the 400 calls/s row: 2.97 s average setup). With it, a new INVITE,
//! REGISTER or SUBSCRIBE is answered 503 with Retry-After (RFC 3261 §21.5.4) before any digest,
//! flow or database work, in proportion to how far behind the node is.
//!
//! "Behind" is the longer of two waits, each smoothed over about 40 ms:
//! - how long datagrams waited in the SIP socket before we read them (the kernel stamps each
//!   one on arrival; [`super::intake`] reads the stamp): when the node falls behind, the queue
//!   builds there first, where no task of ours can see it;
//! - the runtime's scheduling lag: a probe task asks to wake every [`PROBE_PERIOD`] and
//!   measures how late it runs; when every worker is busy, ready tasks (ours and every call's)
//!   wait in line, and the lag is how long.
//!
//! The wait is compared with [`TARGET_LAG`]. Once it has stayed above the target for
//! [`PERSISTENCE`], the node sheds: a growing share of new requests is refused — all of them at
//! twice the target — until it has stayed at or below the target for [`RECOVERY`]. That is
//! CoDel's rule (RFC 8289 §3.3: act on a queue that persists for an interval, not on a burst):
//! without it, a moment's contention on the cores the node shares with its load generator
//! lifted the smoothed wait past the target for some tens of milliseconds, and a node carrying
//! 600 calls a second with 2-ms setups refused a few of them.
//!
//! UDP requests are refused at the socket, before the SIP stack parses them or keeps a
//! transaction ([`super::intake`]); requests over TCP by the dispatcher. Requests that carry
//! credentials are the second half of work already begun (the first INVITE was challenged), so
//! they are refused only from twice the target on, and in-dialog requests never are. Like
//! `toobusy` for Node and Kamailio's load-based `ratelimit`, it needs no
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
/// How long the wait must stay above the target before the node sheds (CoDel's interval, also
/// 100 ms): the bursts that refused calls at an easy load were some tens of milliseconds (3 to
/// 21 calls refused at 600 a second, with about a quarter of the new ones refused meanwhile).
const PERSISTENCE: Duration = Duration::from_millis(100);
/// How long the wait must stay at or below the target before the node stops shedding. While it
/// sheds, the refused share keeps the wait near the target, and often just under it: ending
/// the shedding there would let a new queue build for [`PERSISTENCE`] each time.
const RECOVERY: Duration = Duration::from_secs(1);
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

/// A smoothed wait older than this is out of date: nothing has been read for a while, so
/// nothing is waiting.
const WAIT_OUT_OF_DATE: Duration = Duration::from_secs(1);
/// The time constant of the smoothed socket wait (it is weighted by time: datagrams come
/// unevenly, and one after a quiet second speaks for itself).
const WAIT_SMOOTHING: Duration = Duration::from_millis(40);

/// The node's smoothed waits, and who may come in.
#[derive(Clone, Default)]
pub struct Overload {
    /// Smoothed lag in microseconds (an f64's bits).
    lag_us: Arc<AtomicU64>,
    /// Smoothed socket wait, and when it was last updated.
    wait: Arc<parking_lot::Mutex<SocketWait>>,
    /// Whether the node has been behind long enough to shed.
    shedding: Arc<parking_lot::Mutex<Shedding>>,
    /// The refused shares added up (in thousandths): a request is refused each time the sum
    /// crosses a whole, which spreads the refusals evenly among the requests.
    refusals: Arc<AtomicU64>,
}

#[derive(Default)]
struct SocketWait {
    smoothed_us: f64,
    at: Option<Instant>,
}

/// Whether the node sheds: behind for [`PERSISTENCE`] turns it on, caught up for [`RECOVERY`]
/// turns it off.
#[derive(Default)]
struct Shedding {
    behind_since: Option<Instant>,
    caught_up_since: Option<Instant>,
    on: bool,
}

impl Shedding {
    fn note(&mut self, behind: Duration, now: Instant) {
        if behind > TARGET_LAG {
            self.caught_up_since = None;
            let since = *self.behind_since.get_or_insert(now);
            self.on |= now - since >= PERSISTENCE;
        } else {
            self.behind_since = None;
            let since = *self.caught_up_since.get_or_insert(now);
            self.on &= now - since < RECOVERY;
        }
    }
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
                let now = Instant::now();
                // The timer's own granularity (1 ms) is not lag.
                let late = (now - asked).saturating_sub(PROBE_PERIOD + Duration::from_millis(1));
                smoothed += SMOOTHING * (late.as_micros() as f64 - smoothed);
                probe.lag_us.store(f64::to_bits(smoothed), Ordering::Relaxed);
                let socket_wait = probe.socket_wait();
                probe.note_behind(socket_wait, now);
                metrics::gauge!("switchboard_scheduling_lag_seconds").set(smoothed / 1e6);
                metrics::gauge!("switchboard_sip_socket_wait_seconds").set(socket_wait.as_secs_f64());
            }
        });
        overload
    }

    /// The smoothed scheduling lag.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(f64::from_bits(self.lag_us.load(Ordering::Relaxed)) as u64)
    }

    /// A datagram was read that had waited `wait` in the socket.
    pub fn note_socket_wait(&self, wait: Duration) {
        let now = Instant::now();
        let mut state = self.wait.lock();
        let weight = match state.at {
            Some(at) => 1.0 - (-(now - at).as_secs_f64() / WAIT_SMOOTHING.as_secs_f64()).exp(),
            None => 1.0,
        };
        state.smoothed_us += weight * (wait.as_micros() as f64 - state.smoothed_us);
        state.at = Some(now);
        let socket_wait = Duration::from_micros(state.smoothed_us as u64);
        drop(state);
        self.note_behind(socket_wait, now);
    }

    /// Notes how far behind the node is at `now`, each time one of its waits changes.
    fn note_behind(&self, socket_wait: Duration, now: Instant) {
        self.shedding.lock().note(self.lag().max(socket_wait), now);
    }

    /// The smoothed socket wait (none when nothing was read lately).
    pub fn socket_wait(&self) -> Duration {
        let state = self.wait.lock();
        match state.at {
            Some(at) if at.elapsed() < WAIT_OUT_OF_DATE => Duration::from_micros(state.smoothed_us as u64),
            _ => Duration::ZERO,
        }
    }

    /// Whether a new request of this kind is taken now.
    pub fn admit(&self, work: Work) -> bool {
        self.admit_behind(self.lag().max(self.socket_wait()), work)
    }

    /// The same by the runtime's lag alone, for when the socket's queue is a stranger's flood
    /// that the edge is dropping ([`super::intake`]): refusing real callers would not drain it.
    pub fn admit_by_lag(&self, work: Work) -> bool {
        self.admit_behind(self.lag(), work)
    }

    fn admit_behind(&self, behind: Duration, work: Work) -> bool {
        if !self.shedding.lock().on {
            return true;
        }
        let share = refused_share(behind, work);
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
        overload.shedding.lock().on = true;
        let admitted: Vec<bool> = (0..1000).map(|_| overload.admit(Work::Fresh)).collect();
        assert_eq!(admitted.iter().filter(|a| **a).count(), 500);
        assert!(
            admitted.chunks(2).all(|pair| pair.contains(&true)),
            "spread out, not in runs"
        );
        assert!((0..1000).all(|_| overload.admit(Work::Continued)));
    }

    #[test]
    fn a_burst_is_not_overload_and_a_wait_that_persists_is() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut shedding = Shedding::default();
        let behind = |shedding: &mut Shedding, wait: Duration, from: u64, to: u64| {
            for t in (from..to).step_by(5) {
                shedding.note(wait, start + ms(t));
            }
        };
        // A burst: 60 ms behind, then caught up.
        behind(&mut shedding, ms(6), 0, 60);
        assert!(!shedding.on);
        behind(&mut shedding, ms(1), 60, 100);
        // Behind for longer than the persistence: it sheds.
        behind(&mut shedding, ms(6), 100, 200);
        assert!(!shedding.on, "not yet");
        behind(&mut shedding, ms(6), 200, 210);
        assert!(shedding.on);
        // Shedding keeps the wait about the target, now and then under it: it goes on.
        for t in (210..2_000).step_by(100) {
            behind(&mut shedding, ms(3), t, t + 50);
            behind(&mut shedding, ms(5), t + 50, t + 100);
            assert!(shedding.on, "{t}");
        }
        // Caught up for the recovery time: it stops.
        behind(&mut shedding, ms(1), 2_000, 2_995);
        assert!(shedding.on);
        behind(&mut shedding, ms(1), 2_995, 3_010);
        assert!(!shedding.on);
    }

    #[test]
    fn datagrams_that_waited_in_the_socket_refuse_new_work_until_the_queue_drains() {
        let overload = Overload::default();
        let ms = Duration::from_millis;
        assert!(overload.admit(Work::Fresh), "nothing read yet: nothing waits");
        for _ in 0..100 {
            overload.note_socket_wait(ms(30));
            std::thread::sleep(ms(2));
        }
        assert!(overload.socket_wait() > 2 * TARGET_LAG, "{:?}", overload.socket_wait());
        assert!(!overload.admit(Work::Fresh) && !overload.admit(Work::Continued));
        // The queue drained: datagrams are read as they come.
        for _ in 0..100 {
            overload.note_socket_wait(Duration::ZERO);
            std::thread::sleep(ms(2));
        }
        assert!(overload.socket_wait() < TARGET_LAG, "{:?}", overload.socket_wait());
        assert!(overload.admit(Work::Fresh));
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
