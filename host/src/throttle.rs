//! Limits on what strangers can make the exchange do, each bounded in memory:
//! - [`Guesses`]: password guessing slowed down per source *and* account, so that a stranger's
//!   wrong guesses lock out only the stranger (never the real owner at another address), with a
//!   cap per source for one that sprays many accounts. SIP digests and API logins each have one
//!   of their own.
//! - [`Buckets`]: a token bucket per source address (requests a stranger may send per second),
//!   and [`Rate`], one bucket for all strangers together.
//! - [`QuietLog`]: at most so many log lines per interval for a kind of event a stranger can
//!   cause at will (malformed packets), with the number left out said in the next one.
//!
//! With several nodes, each node's [`Guesses`] tells the others of every wrong password (and of
//! a right one that forgave wrong ones), and counts what they tell it: a guesser spread over
//! the nodes by the proxy is locked out after as many guesses as on one node (`cluster/`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

/// How many addresses or (address, account) pairs a limiter remembers at most: a spoofing
/// flood from millions of addresses must not grow it without end. Past it, entries that carry
/// no lock are forgotten first.
const MAX_ENTRIES: usize = 100_000;
/// Longer account names are cut to this for the key (what a stranger sends is not stored whole).
const MAX_ACCOUNT_LEN: usize = 64;
/// Guesses waiting to be told to the other nodes at most: past it, a guess counts on this node
/// only (a burst must not grow the queue without end).
const MAX_UNTOLD: usize = 10_000;

/// How password guessing is slowed down.
#[derive(Debug, Clone, Copy)]
pub struct GuessLimits {
    /// Wrong passwords for one account from one address within `window` before it is locked.
    pub free: u32,
    pub window: Duration,
    /// The first lock; each further one doubles, up to `max_lock`.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Wrong passwords from one address, any accounts, within `window` before the address is
    /// locked for `source_lock`; `None`: never (an API behind a proxy sees one address for all).
    pub source_failures: Option<u32>,
    pub source_lock: Duration,
}

impl GuessLimits {
    /// SIP digest authentication: a nonce is bound to the address it was issued to, so an
    /// address lock cannot be aimed at someone else by spoofing it.
    pub const SIP: GuessLimits = GuessLimits {
        free: 5,
        window: Duration::from_secs(600),
        first_lock: Duration::from_secs(60),
        max_lock: Duration::from_secs(3600),
        source_failures: Some(30),
        source_lock: Duration::from_secs(600),
    };
    /// API logins: per address and login only.
    pub const API: GuessLimits = GuessLimits {
        source_failures: None,
        ..GuessLimits::SIP
    };
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Locks so far (each doubles the next).
    locks: u32,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

#[derive(Default)]
struct GuessState {
    pairs: HashMap<(IpAddr, String), Pair>,
    sources: HashMap<IpAddr, Source>,
}

/// Wrong passwords per (address, account) and per address.
pub struct Guesses {
    limits: GuessLimits,
    state: Mutex<GuessState>,
    /// Where this node's guesses go for the other nodes, once it shares them.
    publish: OnceLock<mpsc::Sender<Guess>>,
}

/// A guess one node tells the others of: a wrong password, or a right one that forgave
/// earlier wrong ones (`right`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub ip: IpAddr,
    pub account: String,
    pub right: bool,
}

fn key(ip: IpAddr, account: &str) -> (IpAddr, String) {
    (ip, account.chars().take(MAX_ACCOUNT_LEN).collect())
}

impl Guesses {
    pub fn new(limits: GuessLimits) -> Self {
        Guesses {
            limits,
            state: Mutex::default(),
            publish: OnceLock::new(),
        }
    }

    /// This node's guesses from now on, to tell the other nodes; `None` after the first call.
    pub fn share(&self) -> Option<mpsc::Receiver<Guess>> {
        let (tx, rx) = mpsc::channel(MAX_UNTOLD);
        self.publish.set(tx).ok().map(|()| rx)
    }

    /// Another node's guess: counted as if made here (and not told again).
    pub fn heard(&self, guess: Guess) {
        if guess.right {
            self.state.lock().pairs.remove(&key(guess.ip, &guess.account));
        } else {
            self.count_failure(guess.ip, &guess.account, Instant::now(), false);
        }
    }

    fn tell(&self, ip: IpAddr, account: &str, right: bool) {
        if let Some(others) = self.publish.get() {
            let account = key(ip, account).1;
            // Full: the other nodes miss this one; it still counts here.
            let _ = others.try_send(Guess { ip, account, right });
        }
    }

    /// How long `ip` stays locked out altogether; `None`: it may try.
    pub fn source_locked(&self, ip: IpAddr) -> Option<Duration> {
        self.source_locked_at(ip, Instant::now())
    }

    /// How long `ip` may not try `account` (or anything); `None`: it may try.
    pub fn locked(&self, ip: IpAddr, account: &str) -> Option<Duration> {
        self.locked_at(ip, account, Instant::now())
    }

    /// Counts a wrong password for `account` from `ip`.
    pub fn failed(&self, ip: IpAddr, account: &str) {
        self.failed_at(ip, account, Instant::now());
    }

    /// The right password: `ip`'s earlier wrong guesses at `account` are forgiven (the other
    /// nodes are told only when there were some: not for every call a phone makes).
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        let forgiven = self.state.lock().pairs.remove(&key(ip, account)).is_some();
        if forgiven {
            self.tell(ip, account, true);
        }
    }

    fn source_locked_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let state = self.state.lock();
        let until = state.sources.get(&ip)?.locked_until?;
        (until > now).then(|| until - now)
    }

    fn locked_at(&self, ip: IpAddr, account: &str, now: Instant) -> Option<Duration> {
        if let Some(left) = self.source_locked_at(ip, now) {
            return Some(left);
        }
        let state = self.state.lock();
        let until = state.pairs.get(&key(ip, account))?.locked_until?;
        (until > now).then(|| until - now)
    }

    fn failed_at(&self, ip: IpAddr, account: &str, now: Instant) {
        self.count_failure(ip, account, now, true);
        self.tell(ip, account, false);
    }

    /// Counts a wrong password, made here (`here`: a lock it causes is logged) or on another node.
    fn count_failure(&self, ip: IpAddr, account: &str, now: Instant, here: bool) {
        let limits = self.limits;
        let mut state = self.state.lock();
        forget_quiet(&mut state, now, limits.window);
        let pair = state.pairs.entry(key(ip, account)).or_insert(Pair {
            failures: 0,
            since: now,
            locked_until: None,
            locks: 0,
        });
        if now.duration_since(pair.since) > limits.window {
            pair.failures = 0;
            pair.since = now;
        }
        pair.failures += 1;
        if pair.failures >= limits.free {
            let lock = limits
                .first_lock
                .saturating_mul(1u32 << pair.locks.min(16))
                .min(limits.max_lock);
            pair.locked_until = Some(now + lock);
            pair.locks += 1;
            pair.failures = 0;
            if here {
                tracing::warn!(%ip, account, secs = lock.as_secs(), "too many wrong passwords: this address may not try this account for a while");
            }
        }
        let Some(cap) = limits.source_failures else { return };
        let source = state.sources.entry(ip).or_insert(Source {
            failures: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(source.since) > limits.window {
            source.failures = 0;
            source.since = now;
        }
        source.failures += 1;
        if source.failures >= cap {
            source.locked_until = Some(now + limits.source_lock);
            source.failures = 0;
            if here {
                tracing::warn!(%ip, secs = limits.source_lock.as_secs(), "wrong passwords for many accounts: this address is refused for a while");
            }
        }
    }
}

/// Bounds the memory: past [`MAX_ENTRIES`], entries without a lock that ran quiet go first, then
/// every entry without a lock.
fn forget_quiet(state: &mut GuessState, now: Instant, window: Duration) {
    if state.pairs.len() + state.sources.len() < MAX_ENTRIES {
        return;
    }
    let locked = |until: Option<Instant>| until.is_some_and(|u| u > now);
    state
        .pairs
        .retain(|_, p| locked(p.locked_until) || now.duration_since(p.since) <= window);
    state
        .sources
        .retain(|_, s| locked(s.locked_until) || now.duration_since(s.since) <= window);
    if state.pairs.len() + state.sources.len() >= MAX_ENTRIES {
        state.pairs.retain(|_, p| locked(p.locked_until));
        state.sources.retain(|_, s| locked(s.locked_until));
    }
}

/// `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket { tokens: burst, at: now }
    }

    fn refilled(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst)
    }

    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.tokens = self.refilled(now, rate, burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One token bucket: `rate` tokens a second, at most `burst` saved up.
pub struct Rate {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

impl Rate {
    pub fn new(rate: f64, burst: f64) -> Self {
        Rate {
            rate,
            burst,
            bucket: Mutex::new(Bucket::full(burst, Instant::now())),
        }
    }

    /// Takes a token; false when the bucket is empty.
    pub fn take(&self) -> bool {
        self.bucket.lock().take(Instant::now(), self.rate, self.burst)
    }
}

/// A token bucket per address: `rate` tokens a second, at most `burst` saved up.
pub struct Buckets {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Buckets {
    pub fn new(rate: f64, burst: f64) -> Self {
        Buckets {
            rate,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `ip`; false when its bucket is empty.
    pub fn take(&self, ip: IpAddr) -> bool {
        self.take_at(ip, Instant::now())
    }

    fn take_at(&self, ip: IpAddr, now: Instant) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_ENTRIES {
            // Full buckets are the same as forgotten ones.
            buckets.retain(|_, b| b.refilled(now, rate, burst) < burst);
            if buckets.len() >= MAX_ENTRIES {
                // A flood from more addresses than we remember: they start afresh.
                buckets.clear();
            }
        }
        buckets
            .entry(ip)
            .or_insert_with(|| Bucket::full(burst, now))
            .take(now, rate, burst)
    }
}

/// Lets through at most `per_interval` events each `interval`; says how many were left out.
pub struct QuietLog {
    per_interval: u32,
    interval: Duration,
    state: Mutex<(Instant, u32, u64)>,
}

impl QuietLog {
    pub fn new(per_interval: u32, interval: Duration) -> Self {
        QuietLog {
            per_interval,
            interval,
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were left out before it;
    /// `None` when it is one too many.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let (start, logged, suppressed) = &mut *state;
        if now.duration_since(*start) >= self.interval {
            *start = now;
            *logged = 0;
        }
        if *logged < self.per_interval {
            *logged += 1;
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_stranger_locks_out_only_himself_and_longer_each_time() {
        let guesses = Guesses::new(GuessLimits::SIP);
        let (stranger, owner) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let t0 = Instant::now();
        for _ in 0..4 {
            guesses.failed_at(stranger, "alice", t0);
        }
        assert_eq!(guesses.locked_at(stranger, "alice", t0), None);
        guesses.failed_at(stranger, "alice", t0);
        assert_eq!(guesses.locked_at(stranger, "alice", t0), Some(Duration::from_secs(60)));
        assert_eq!(
            guesses.locked_at(owner, "alice", t0),
            None,
            "the owner elsewhere is not locked out"
        );
        assert_eq!(guesses.locked_at(stranger, "bob", t0), None, "nor another account");
        // After the lock, five more wrong guesses lock twice as long.
        let t1 = t0 + Duration::from_secs(61);
        for _ in 0..5 {
            guesses.failed_at(stranger, "alice", t1);
        }
        assert_eq!(guesses.locked_at(stranger, "alice", t1), Some(Duration::from_secs(120)));
        guesses.succeeded(stranger, "alice");
        assert_eq!(guesses.locked_at(stranger, "alice", t1), None);
    }

    #[test]
    fn spraying_many_accounts_locks_the_address_unless_there_is_no_source_cap() {
        let sip = Guesses::new(GuessLimits::SIP);
        let api = Guesses::new(GuessLimits::API);
        let (stranger, t0) = (ip("192.0.2.9"), Instant::now());
        for n in 0..30 {
            sip.failed_at(stranger, &format!("user{n}"), t0);
            api.failed_at(stranger, &format!("user{n}"), t0);
        }
        assert_eq!(
            sip.locked_at(stranger, "someone-else", t0),
            Some(Duration::from_secs(600))
        );
        assert_eq!(api.locked_at(stranger, "someone-else", t0), None);
    }

    /// Node b tells node a of its guesses: three wrong ones on b and two on a lock the pair on
    /// both; a right password that forgave some is told, one that forgave nothing is not; what
    /// is not yet told is bounded.
    #[test]
    fn guesses_on_other_nodes_count_here() {
        let (a, b) = (Guesses::new(GuessLimits::SIP), Guesses::new(GuessLimits::SIP));
        let mut told = b.share().unwrap();
        assert!(b.share().is_none(), "once per node");
        let stranger = ip("192.0.2.1");
        for _ in 0..3 {
            b.failed(stranger, "alice");
        }
        for _ in 0..3 {
            let guess = told.try_recv().unwrap();
            assert_eq!(
                guess,
                Guess {
                    ip: stranger,
                    account: "alice".into(),
                    right: false
                }
            );
            a.heard(guess);
        }
        a.failed(stranger, "alice");
        assert_eq!(a.locked(stranger, "alice"), None);
        a.failed(stranger, "alice");
        assert!(
            a.locked(stranger, "alice").is_some(),
            "five wrong guesses, on two nodes"
        );
        assert!(b.locked(stranger, "alice").is_none(), "a does not share here");

        b.succeeded(stranger, "alice");
        let forgiven = told.try_recv().unwrap();
        assert!(forgiven.right);
        b.succeeded(stranger, "alice");
        assert!(told.try_recv().is_err(), "nothing left to forgive: nothing told");
        a.heard(forgiven);
        assert_eq!(a.locked(stranger, "alice"), None);

        for n in 0..MAX_UNTOLD + 10 {
            b.failed(ip("192.0.2.2"), &format!("user{n}"));
        }
        assert_eq!(told.len(), MAX_UNTOLD, "the rest count on b only");
    }

    #[test]
    fn buckets_refill_at_their_rate() {
        let buckets = Buckets::new(10.0, 3.0);
        let (a, b, t0) = (ip("192.0.2.1"), ip("192.0.2.2"), Instant::now());
        assert!((0..3).all(|_| buckets.take_at(a, t0)));
        assert!(!buckets.take_at(a, t0));
        assert!(buckets.take_at(b, t0), "another address has its own bucket");
        assert!(buckets.take_at(a, t0 + Duration::from_millis(100)));
        assert!(!buckets.take_at(a, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn a_quiet_log_says_how_many_it_left_out() {
        let log = QuietLog::new(2, Duration::from_millis(50));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), Some(0));
        assert_eq!(log.admit(), None);
        assert_eq!(log.admit(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(log.admit(), Some(2));
    }
}
