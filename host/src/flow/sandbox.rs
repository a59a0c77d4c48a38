//! Everything a flow can make the host spend, bounded in one place. A flow is a stranger's code
//! (customers upload their own), careless or hostile: each cost below has a limit the host
//! enforces, and hitting one is noted once in the call's trace.
//!
//! - **CPU** ([`Meter`]): the time the flow occupies a thread — its guest code *and* the
//!   synchronous work of its host calls — measured across every poll of the flow's future; real
//!   waiting (a digit, a ringing phone, a prompt playing, an HTTP reply) is a pending future and
//!   costs nothing. Over the budget, the guest is interrupted at its next epoch check or host
//!   call.
//! - **The call's end** ([`Quotas::call_over`]): once the call is over, every verb answers
//!   `hangup` at once (the call model does that) and the flow gets [`GRACE`] of wall time and
//!   [`GRACE_HOST_CALLS`] host calls to finish its bookkeeping; then it is stopped and its pool
//!   slot freed.
//! - **Host calls, logs, lookups, HTTP** ([`Quotas`]): counted per call.
//!
//! The limits on what a call may hold (legs, recordings, callback requests, the sizes of what a
//! flow passes in) are the call model's (`call/mod.rs`), so that the simulator keeps them too;
//! the trace's are `call/record.rs`'s. docs/writing-flows.md lists them all ("What a flow may
//! use").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Host calls (verbs of any kind, clock reads, logs, lookups) one call may make: an IVR makes a
/// few dozen; a loop of cheap failing verbs is stopped here even before its CPU budget.
pub const MAX_HOST_CALLS: u32 = 10_000;
/// The flow's own log lines per call, their total size, and one line's length (longer lines are
/// cut): enough to debug a flow, while a flood adds a few KiB to the process log per call.
pub const MAX_LOG_LINES: u32 = 100;
pub const MAX_LOG_BYTES: usize = 8 * 1024;
pub const MAX_LOG_LINE: usize = 512;
/// Directory, history and schedule lookups per call: waiting for the database costs the guest no
/// CPU, so the budget alone would not bound a lookup loop.
pub const MAX_LOOKUPS: u32 = 256;
/// Outbound HTTP requests per call (a CRM lookup takes two or three).
pub const MAX_HTTP_REQUESTS: u32 = 32;
/// After the call is over: the wall time and host calls the flow has left to finish.
pub const GRACE: Duration = Duration::from_secs(2);
pub const GRACE_HOST_CALLS: u32 = 50;

/// The CPU a flow used so far: the time its future spent being polled, summed over the polls.
///
/// A poll never blocks (waiting is a pending future, which ends the poll), so a poll's duration
/// is the time the flow occupied the thread — its guest code and the synchronous work of its host
/// calls. It is read from the monotonic clock (`Instant`, a vDSO read of ~25 ns) rather than the
/// thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID` is a system call: two per poll made a flow start
/// 2 µs — 28 % — slower, docs/benchmarks.md). The price: a poll during which the OS ran someone
/// else on this core is charged that time too, which on a machine so overloaded that it matters
/// errs toward stopping a flow rather than letting one run on.
#[derive(Debug)]
pub struct Meter {
    /// The clock the nanoseconds below count from.
    origin: Instant,
    spent_ns: AtomicU64,
    /// When the current poll began (ns since `origin`, plus one); 0 between polls.
    poll_started_ns: AtomicU64,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            origin: Instant::now(),
            spent_ns: AtomicU64::new(0),
            poll_started_ns: AtomicU64::new(0),
        }
    }
}

impl Meter {
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64 + 1
    }

    /// A poll of the flow's future begins.
    pub fn enter(&self) {
        self.poll_started_ns.store(self.now_ns(), Ordering::Relaxed);
    }

    /// The poll ends: its time is spent.
    pub fn leave(&self) {
        let started = self.poll_started_ns.swap(0, Ordering::Relaxed);
        if started != 0 {
            self.spent_ns
                .fetch_add(self.now_ns().saturating_sub(started), Ordering::Relaxed);
        }
    }

    /// Time used so far, the current poll included.
    pub fn used(&self) -> Duration {
        let running = match self.poll_started_ns.load(Ordering::Relaxed) {
            0 => 0,
            started => self.now_ns().saturating_sub(started),
        };
        Duration::from_nanos(self.spent_ns.load(Ordering::Relaxed) + running)
    }
}

pin_project_lite::pin_project! {
    /// A future whose polls are metered (pinned in place: the flow's future is large, and
    /// boxing it would cost every call an allocation).
    pub struct Metered<F> {
        #[pin]
        pub inner: F,
        pub meter: Arc<Meter>,
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        this.meter.enter();
        let polled = this.inner.poll(cx);
        this.meter.leave();
        polled
    }
}

/// A limit a flow hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Cpu,
    HostCalls,
    /// The call is over and the grace is used up.
    CallOver,
}

impl Exceeded {
    /// What the call record says stopped the flow.
    pub fn reason(self, budget: Duration) -> String {
        match self {
            Exceeded::Cpu => format!("CPU budget exceeded ({} ms)", budget.as_millis()),
            Exceeded::HostCalls => format!("host-call limit exceeded ({MAX_HOST_CALLS} per call)"),
            Exceeded::CallOver => format!(
                "the call is over: the flow did not finish within its grace ({} s, {GRACE_HOST_CALLS} host calls)",
                GRACE.as_secs()
            ),
        }
    }
}

/// What one call's flow has used, and which limits were noted in its trace.
#[derive(Debug)]
pub struct Quotas {
    pub meter: Arc<Meter>,
    pub budget: Duration,
    host_calls: u32,
    pub log_lines: u32,
    pub log_bytes: usize,
    pub lookups: u32,
    pub http_requests: u32,
    /// Host calls made since the call was found over.
    calls_after_end: Option<u32>,
    /// When the grace ends (set once the call is found over); the engine stops the flow then.
    grace_ends: Option<tokio::sync::oneshot::Sender<tokio::time::Instant>>,
    /// The limit that stopped the flow, for its record.
    pub stopped_by: Option<Exceeded>,
}

impl Quotas {
    pub fn new(budget: Duration) -> Self {
        Quotas {
            meter: Arc::default(),
            budget,
            host_calls: 0,
            log_lines: 0,
            log_bytes: 0,
            lookups: 0,
            http_requests: 0,
            calls_after_end: None,
            grace_ends: None,
            stopped_by: None,
        }
    }

    /// Whether the CPU budget is spent (on the flow's thread).
    pub fn cpu_spent(&self) -> bool {
        self.meter.used() > self.budget
    }

    /// Counts a host call; `Err` stops the flow (a trap).
    pub fn host_call(&mut self) -> Result<(), Exceeded> {
        self.host_calls += 1;
        let exceeded = if self.cpu_spent() {
            Some(Exceeded::Cpu)
        } else if self.host_calls > MAX_HOST_CALLS {
            Some(Exceeded::HostCalls)
        } else if let Some(after) = &mut self.calls_after_end {
            *after += 1;
            (*after > GRACE_HOST_CALLS).then_some(Exceeded::CallOver)
        } else {
            None
        };
        match exceeded {
            Some(limit) => {
                self.stopped_by = Some(limit);
                Err(limit)
            }
            None => Ok(()),
        }
    }

    /// The call is over: the grace starts (once).
    pub fn call_over(&mut self) {
        if self.calls_after_end.is_none() {
            self.calls_after_end = Some(0);
            if let Some(tell) = self.grace_ends.take() {
                let _ = tell.send(tokio::time::Instant::now() + GRACE);
            }
        }
    }

    /// Resolves to when the grace ends, once the call is over (never, if it never is). A
    /// oneshot rather than a watch: made and dropped for every call, it costs an allocation.
    pub fn grace_ends(&mut self) -> impl Future<Output = tokio::time::Instant> + use<> {
        let (tell, told) = tokio::sync::oneshot::channel();
        self.grace_ends = Some(tell);
        async move {
            match told.await {
                Ok(at) => at,
                Err(_) => std::future::pending().await,
            }
        }
    }

    pub fn host_calls(&self) -> u32 {
        self.host_calls
    }
}

/// A trap that stops the flow for `limit`.
pub fn trap(limit: Exceeded) -> wasmtime::Error {
    wasmtime::Error::msg(StoppedBy(limit))
}

/// The error a stopping host call returns (the engine reads the limit back for the record).
#[derive(Debug)]
pub struct StoppedBy(pub Exceeded);

impl std::fmt::Display for StoppedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} limit", self.0)
    }
}

impl std::error::Error for StoppedBy {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_counts_time_in_polls_and_not_time_between_them() {
        let meter = Meter::default();
        meter.enter();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        // Work until the thread has used 20 ms of CPU (however long that takes on a busy machine).
        while meter.used() < Duration::from_millis(20) && start.elapsed() < Duration::from_secs(10) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        meter.leave();
        let busy = meter.used();
        assert!(busy >= Duration::from_millis(20), "{busy:?}");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(meter.used(), busy, "sleeping between polls costs nothing");
    }

    #[test]
    fn host_calls_are_capped_and_the_grace_after_the_call_is_short() {
        let mut quotas = Quotas::new(Duration::from_secs(60));
        for _ in 0..MAX_HOST_CALLS {
            quotas.host_call().unwrap();
        }
        assert_eq!(quotas.host_call(), Err(Exceeded::HostCalls));

        let mut quotas = Quotas::new(Duration::from_secs(60));
        let mut grace_ends = std::pin::pin!(quotas.grace_ends());
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(grace_ends.as_mut().poll(&mut cx).is_pending());
        quotas.host_call().unwrap();
        quotas.call_over();
        assert!(grace_ends.as_mut().poll(&mut cx).is_ready());
        for _ in 0..GRACE_HOST_CALLS {
            quotas.host_call().unwrap();
        }
        assert_eq!(quotas.host_call(), Err(Exceeded::CallOver));
        assert_eq!(quotas.stopped_by, Some(Exceeded::CallOver));
    }
}
