//! Queues (ACD, automatic call distribution): a department's callers wait in line for its next
//! free member — an agent — instead of ringing everyone at once and overflowing.
//!
//! One line per department on this node. Callers from outside wait ahead of colleagues calling
//! internally, then by arrival. While anyone waits, a distributor looks at the department's
//! members ([`Directory::staff`]) whenever something changed and at least every [`TICK`], and
//! offers the caller at the head to a free agent by that caller's strategy (longest idle, in
//! the department's order, or every free agent at once); the next caller goes to the next free
//! agent. The caller's own call does the ringing and the talking (`InboundCall::enqueue`), so a
//! queue call is a dial like any other in its record; an agent who lets an offer ring out rests
//! [`NO_ANSWER_REST`] and the caller keeps his place.
//!
//! A caller who asks to be called back keeps his place too, without staying on the line: his
//! place becomes a callback request (`/callbacks`) that, when its turn comes, is handed to the
//! free agent, and the callback scheduler rings the agent and then the caller.
//!
//! What Asterisk's app_queue calls `leastrecent` is [`QueueStrategy::LongestIdle`], `linear` is
//! [`QueueStrategy::InOrder`], `ringall` is [`QueueStrategy::RingAll`]. Different from it: a
//! paused agent still staffs the queue (callers may join), and the estimated wait comes from the
//! queue's average talk time, agents staffing it and the caller's position, not from past waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::{AgentState, CallError, CallbackDesk, Directory, Staff};

/// How often the distributor looks at the agents when nothing woke it (an agent's call ended,
/// he logged in).
const TICK: Duration = Duration::from_millis(500);
/// An agent who let an offered caller ring out is offered nobody for this long.
pub const NO_ANSWER_REST: Duration = Duration::from_secs(10);
/// An agent handed a kept place's callback is offered no caller for this long (the scheduler
/// rings him meanwhile; then he talks, and his line is busy).
const CALLBACK_HOLD: Duration = Duration::from_secs(30);
/// A kept place waits this long at most for its turn; its request then stays for people to take.
const MAX_KEPT: Duration = Duration::from_secs(4 * 3600);
/// No line holds more callers than this, whatever a flow asks.
pub const MAX_LENGTH: u32 = 500;
/// Weight of the newest talk in the average talk time that estimates waits.
const TALK_WEIGHT: f64 = 0.2;

/// Which free agent is offered the caller at the head of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStrategy {
    /// The agent whose last queue call ended longest ago (or who has had none yet).
    LongestIdle,
    /// The first free agent in the department's order.
    InOrder,
    /// Every free agent at once; the first to answer talks.
    RingAll,
}

impl std::str::FromStr for QueueStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "longest_idle" => Ok(QueueStrategy::LongestIdle),
            "in_order" => Ok(QueueStrategy::InOrder),
            "ring_all" => Ok(QueueStrategy::RingAll),
            other => Err(format!("{other:?}: use longest_idle, in_order or ring_all")),
        }
    }
}

/// How a caller waits in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Played in a loop while the caller waits, and while agents ring.
    pub music: String,
    /// Announces the caller's place: a prompt, or spoken text (`tts:`) where `{position}` is
    /// the place in line; empty: none.
    pub position_prompt: String,
    /// Announces the estimated wait, `{minutes}` in it; empty: none. Not played before the
    /// queue has seen a call to estimate from.
    pub wait_prompt: String,
    /// How often the announcements come (the first at once); zero: never.
    pub announce_every: Duration,
    /// The caller leaves the line after waiting this long.
    pub max_wait: Duration,
    /// A caller finding this many waiting does not join (at most [`MAX_LENGTH`]).
    pub max_length: u32,
    pub strategy: QueueStrategy,
    /// How long an offered agent rings.
    pub agent_ring: Duration,
    /// An agent is offered no caller for this long after a call (notes, a breath).
    pub wrap_up: Duration,
    /// Pressed while waiting, the caller is called back instead and keeps his place.
    pub callback_digit: Option<char>,
}

/// How waiting in a queue ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An agent answered; the talk is over now.
    Answered {
        employee: Option<String>,
        talk_seconds: u32,
    },
    /// The caller waited the longest he may.
    Timeout,
    /// The line was at its length: the caller did not join.
    Full,
    /// Nobody staffs the queue (all logged out, in do-not-disturb or without a phone).
    Empty,
    /// The caller asked to be called back: a callback request keeps his place.
    Callback,
}

/// Agents a waiting caller is offered: ring them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub agents: Vec<String>,
}

/// One company's queues (its departments' lines) on this node.
pub struct Queues {
    directory: Arc<dyn Directory>,
    desk: Arc<dyn CallbackDesk>,
    /// By department id; one per department that ever had a caller (agents' idle times live
    /// here).
    lines: Mutex<HashMap<String, Arc<Line>>>,
}

/// What joining a queue came to.
pub enum Joined {
    Waiting(Place),
    Full,
    Empty,
}

impl Queues {
    pub fn new(directory: Arc<dyn Directory>, desk: Arc<dyn CallbackDesk>) -> Arc<Self> {
        Arc::new(Queues {
            directory,
            desk,
            lines: Mutex::default(),
        })
    }

    /// Puts a caller into the queue of the department with id (or extension) `key`.
    pub async fn join(&self, key: &str, internal: bool, opts: &QueueOptions) -> Result<Joined, CallError> {
        let staff = self.directory.staff(key).await;
        let staff = staff.map_err(|e| CallError::Failed(format!("queue {key:?}: {e}")))?;
        let Some(staff) = staff else {
            return Err(CallError::Invalid(format!("there is no department {key:?}")));
        };
        if staff.staffed() == 0 {
            return Ok(Joined::Empty);
        }
        let line = self
            .lines
            .lock()
            .entry(staff.department.clone())
            .or_insert_with(|| Arc::new(Line::new(staff.department.clone())))
            .clone();
        let (offers_to, offers) = mpsc::unbounded_channel();
        let max_length = opts.max_length.clamp(1, MAX_LENGTH) as usize;
        let start = {
            let mut state = line.state.lock();
            state.staffed = staff.staffed();
            if state.waiting.len() >= max_length {
                return Ok(Joined::Full);
            }
            let id = state.add(internal, opts.strategy, Seat::Caller(offers_to));
            let start = !state.distributing;
            state.distributing = true;
            (id, start)
        };
        let (id, start) = start;
        if start {
            tokio::spawn(distribute(line.clone(), self.directory.clone(), self.desk.clone()));
        }
        line.wake.notify_one();
        Ok(Joined::Waiting(Place {
            line,
            id,
            offers,
            kept: false,
        }))
    }

    /// Each line on this node now (every department that had a caller since the exchange
    /// started), with its members' states: a wallboard.
    pub async fn status(&self) -> anyhow::Result<Vec<LineStatus>> {
        let mut lines: Vec<Arc<Line>> = self.lines.lock().values().cloned().collect();
        lines.sort_by(|a, b| a.department.cmp(&b.department));
        let mut status = Vec::with_capacity(lines.len());
        for line in lines {
            let agents = self.directory.staff(&line.department).await?.map(|s| s.agents);
            let now = Instant::now();
            let state = line.state.lock();
            let on_line = |w: &&Waiting| matches!(w.seat, Seat::Caller(_));
            status.push(LineStatus {
                department: line.department.clone(),
                waiting: state.waiting.iter().filter(on_line).count(),
                kept_callbacks: state.waiting.iter().filter(|w| !on_line(w)).count(),
                longest_wait_ms: state
                    .waiting
                    .iter()
                    .filter(on_line)
                    .map(|w| super::millis(now.duration_since(w.joined)))
                    .max()
                    .unwrap_or(0),
                average_talk_secs: state.talk.map(|t| t.as_secs()),
                agents: agents
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| AgentStatus {
                        state: match a.state {
                            AgentState::Ready if !state.free(&a.login, now) => "resting",
                            AgentState::Ready => "ready",
                            AgentState::Busy => "busy",
                            AgentState::Paused => "paused",
                            AgentState::Away => "away",
                        },
                        login: a.login,
                    })
                    .collect(),
            });
        }
        Ok(status)
    }
}

/// A line as a wallboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LineStatus {
    /// The department whose line it is.
    pub department: String,
    /// Callers on the line now.
    pub waiting: usize,
    /// Callers who asked to be called back and keep their place.
    pub kept_callbacks: usize,
    /// The longest a caller on the line has waited so far (ms).
    pub longest_wait_ms: u32,
    /// The line's average talk time, once it has had a call.
    pub average_talk_secs: Option<u64>,
    pub agents: Vec<AgentStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    pub login: String,
    /// `ready`, `resting` (wrap-up, or a rest after letting an offer ring out), `busy`,
    /// `paused` or `away` (logged out, do-not-disturb or no phone).
    pub state: &'static str,
}

/// A department's line.
struct Line {
    department: String,
    state: Mutex<LineState>,
    /// Something changed that may let the distributor offer a caller.
    wake: Notify,
}

impl Line {
    fn new(department: String) -> Self {
        Line {
            department,
            state: Mutex::default(),
            wake: Notify::new(),
        }
    }
}

#[derive(Default)]
struct LineState {
    /// In the order they are served: outside callers first, then by arrival.
    waiting: Vec<Waiting>,
    agents: HashMap<String, AgentMemo>,
    /// Average talk time of the line's answered calls.
    talk: Option<Duration>,
    /// Agents staffing the line at the distributor's last look.
    staffed: usize,
    next_id: u64,
    /// A distributor task runs (while anyone waits).
    distributing: bool,
}

struct Waiting {
    id: u64,
    internal: bool,
    joined: Instant,
    strategy: QueueStrategy,
    /// The agents offered the caller now (ringing).
    offered: Option<Vec<String>>,
    seat: Seat,
}

enum Seat {
    /// On the line, told of offers through this.
    Caller(mpsc::UnboundedSender<Offer>),
    /// Asked to be called back: the callback request that keeps his place.
    Kept(i64),
}

#[derive(Debug, Default)]
struct AgentMemo {
    /// When his last call from the line ended; none: he has had none since the exchange started.
    idle_since: Option<Instant>,
    /// Offered a caller right now.
    reserved: bool,
    /// Offered nobody before then (wrap-up, a rest after an unanswered offer, a callback).
    rest_until: Option<Instant>,
}

/// What the distributor does outside the line's lock.
#[derive(Debug)]
enum Hand {
    Offer(mpsc::UnboundedSender<Offer>, Offer),
    /// Hand kept place (callback request) `.0` to agent `.1`.
    Callback(i64, String),
}

impl LineState {
    /// Adds a caller in his place: outside callers ahead of every internal one.
    fn add(&mut self, internal: bool, strategy: QueueStrategy, seat: Seat) -> u64 {
        self.next_id += 1;
        let entry = Waiting {
            id: self.next_id,
            internal,
            joined: Instant::now(),
            strategy,
            offered: None,
            seat,
        };
        let at = match internal {
            true => self.waiting.len(),
            false => self
                .waiting
                .iter()
                .position(|w| w.internal)
                .unwrap_or(self.waiting.len()),
        };
        self.waiting.insert(at, entry);
        self.next_id
    }

    fn free(&self, login: &str, now: Instant) -> bool {
        self.agents
            .get(login)
            .is_none_or(|m| !m.reserved && m.rest_until.is_none_or(|until| until <= now))
    }

    /// Offers waiting callers, from the head, to the agents free now.
    fn match_agents(&mut self, staff: &Staff, now: Instant) -> Vec<Hand> {
        self.staffed = staff.staffed();
        self.waiting
            .retain(|w| !matches!(w.seat, Seat::Kept(_)) || now.duration_since(w.joined) < MAX_KEPT);
        let mut ready: Vec<&str> = staff
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Ready && self.free(&a.login, now))
            .map(|a| a.login.as_str())
            .collect();
        let mut hands = Vec::new();
        let mut served = Vec::new();
        let LineState { waiting, agents, .. } = self;
        for entry in waiting.iter_mut().filter(|w| w.offered.is_none()) {
            if ready.is_empty() {
                break;
            }
            let ring_all = entry.strategy == QueueStrategy::RingAll && matches!(entry.seat, Seat::Caller(_));
            let picked: Vec<String> = if ring_all {
                ready.drain(..).map(str::to_owned).collect()
            } else if entry.strategy == QueueStrategy::InOrder {
                vec![ready.remove(0).to_owned()]
            } else {
                // Never idle on record counts as idle the longest; ties go by the department's order.
                let idle = |login: &str| agents.get(login).and_then(|m| m.idle_since);
                let longest = (0..ready.len()).min_by_key(|&i| idle(ready[i])).unwrap_or(0);
                vec![ready.remove(longest).to_owned()]
            };
            match &entry.seat {
                Seat::Caller(offers) => {
                    for login in &picked {
                        agents.entry(login.clone()).or_default().reserved = true;
                    }
                    entry.offered = Some(picked.clone());
                    hands.push(Hand::Offer(offers.clone(), Offer { agents: picked }));
                }
                Seat::Kept(request) => {
                    let login = picked.into_iter().next().unwrap_or_default();
                    agents.entry(login.clone()).or_default().rest_until = Some(now + CALLBACK_HOLD);
                    served.push(entry.id);
                    hands.push(Hand::Callback(*request, login));
                }
            }
        }
        waiting.retain(|w| !served.contains(&w.id));
        hands
    }

    /// Caller `id`'s place in line, and his estimated wait: the average talk for every caller
    /// up to him, shared among the agents staffing the line.
    fn estimate(&self, id: u64) -> (usize, Option<Duration>) {
        let position = self.position_of(id).unwrap_or(1);
        let wait = self
            .talk
            .map(|talk| talk.mul_f64(position as f64 / self.staffed.max(1) as f64));
        (position, wait)
    }

    fn position_of(&self, id: u64) -> Option<usize> {
        self.waiting.iter().position(|w| w.id == id).map(|i| i + 1)
    }

    /// Takes caller `id` out of the line, freeing the agents offered him.
    fn remove(&mut self, id: u64) -> Option<Waiting> {
        let at = self.waiting.iter().position(|w| w.id == id)?;
        let entry = self.waiting.remove(at);
        for login in entry.offered.iter().flatten() {
            self.agents.entry(login.clone()).or_default().reserved = false;
        }
        Some(entry)
    }
}

/// A caller's place in a line; he leaves it when this drops (unless it is kept for a callback).
pub struct Place {
    line: Arc<Line>,
    id: u64,
    /// Agents offered the caller.
    pub offers: mpsc::UnboundedReceiver<Offer>,
    kept: bool,
}

impl Place {
    /// The department whose line this is.
    pub fn department(&self) -> &str {
        &self.line.department
    }

    /// The caller's place in line (1: next), and the estimated wait when the line has seen
    /// calls to estimate from.
    pub fn position(&self) -> (usize, Option<Duration>) {
        self.line.state.lock().estimate(self.id)
    }

    /// An offered agent answered: the caller leaves the line (the agent's line is busy now).
    pub fn answered(&self) {
        self.line.state.lock().remove(self.id);
        self.line.wake.notify_one();
    }

    /// Nobody offered answered: they rest a while, and the caller waits on in his place.
    pub fn not_answered(&self) {
        let rest_until = Instant::now() + NO_ANSWER_REST;
        let mut state = self.line.state.lock();
        let LineState { waiting, agents, .. } = &mut *state;
        if let Some(entry) = waiting.iter_mut().find(|w| w.id == self.id) {
            for login in entry.offered.take().into_iter().flatten() {
                let memo = agents.entry(login).or_default();
                memo.reserved = false;
                memo.rest_until = Some(rest_until);
            }
        }
        drop(state);
        self.line.wake.notify_one();
    }

    /// The caller talked with agent `login` for `talk`: the agent wraps up, then is idle.
    pub fn talked(&self, login: Option<&str>, talk: Duration, wrap_up: Duration) {
        let now = Instant::now();
        let mut state = self.line.state.lock();
        state.talk = Some(match state.talk {
            Some(average) => average.mul_f64(1.0 - TALK_WEIGHT) + talk.mul_f64(TALK_WEIGHT),
            None => talk,
        });
        if let Some(login) = login {
            let memo = state.agents.entry(login.to_owned()).or_default();
            memo.idle_since = Some(now);
            memo.rest_until = Some(now + wrap_up);
        }
        drop(state);
        self.line.wake.notify_one();
    }

    /// The caller hangs up to be called back by callback request `request`, which keeps his
    /// place: when its turn comes, it is handed to the free agent.
    pub fn keep(mut self, request: i64) {
        let mut state = self.line.state.lock();
        if let Some(entry) = state.waiting.iter_mut().find(|w| w.id == self.id) {
            entry.seat = Seat::Kept(request);
            entry.offered = None;
            self.kept = true;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.kept {
            self.line.state.lock().remove(self.id);
            self.line.wake.notify_one();
        }
    }
}

/// Offers a line's waiting callers to its free agents until nobody waits.
async fn distribute(line: Arc<Line>, directory: Arc<dyn Directory>, desk: Arc<dyn CallbackDesk>) {
    loop {
        {
            let mut state = line.state.lock();
            if state.waiting.is_empty() {
                state.distributing = false;
                return;
            }
        }
        match directory.staff(&line.department).await {
            Ok(Some(staff)) => {
                let hands = line.state.lock().match_agents(&staff, Instant::now());
                for hand in hands {
                    match hand {
                        Hand::Offer(to, offer) => {
                            tracing::info!(queue = %line.department, agents = ?offer.agents, "offering the next caller");
                            // A caller who just left drops his place, which frees the agents.
                            let _ = to.send(offer);
                        }
                        Hand::Callback(request, login) => {
                            tracing::info!(queue = %line.department, request, %login, "a kept place's turn: callback");
                            match desk.hand_to(request, &login).await {
                                Ok(true) => {}
                                Ok(false) => tracing::info!(request, "the kept callback was settled meanwhile"),
                                Err(e) => tracing::warn!(error = %e, request, "cannot hand a kept callback over"),
                            }
                        }
                    }
                }
            }
            // The department is gone: its callers wait out their maximum, then overflow.
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, queue = %line.department, "cannot read the queue's agents"),
        }
        tokio::select! {
            _ = line.wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Agent;

    fn staff(agents: &[(&str, AgentState)]) -> Staff {
        Staff {
            department: "sales".into(),
            agents: agents
                .iter()
                .map(|(login, state)| Agent {
                    login: login.to_string(),
                    state: *state,
                })
                .collect(),
        }
    }

    fn caller(state: &mut LineState, internal: bool, strategy: QueueStrategy) -> (u64, mpsc::UnboundedReceiver<Offer>) {
        let (to, offers) = mpsc::unbounded_channel();
        (state.add(internal, strategy, Seat::Caller(to)), offers)
    }

    /// A line of sales with one outside caller in it, and his place.
    fn first_caller(strategy: QueueStrategy) -> (Arc<Line>, Place) {
        let line = Arc::new(Line::new("sales".into()));
        let (to, offers) = mpsc::unbounded_channel();
        let id = line.state.lock().add(false, strategy, Seat::Caller(to));
        let place = Place {
            line: line.clone(),
            id,
            offers,
            kept: false,
        };
        (line, place)
    }

    fn offered(hands: &[Hand]) -> Vec<Vec<String>> {
        hands
            .iter()
            .map(|h| match h {
                Hand::Offer(_, offer) => offer.agents.clone(),
                Hand::Callback(request, login) => vec![format!("callback {request} to {login}")],
            })
            .collect()
    }

    use AgentState::{Away, Busy, Paused, Ready};

    #[tokio::test]
    async fn the_longest_waiting_outside_caller_goes_first_to_the_next_free_agent() {
        let mut line = LineState::default();
        let (first, _a) = caller(&mut line, false, QueueStrategy::InOrder);
        let (colleague, _b) = caller(&mut line, true, QueueStrategy::InOrder);
        let (second, _c) = caller(&mut line, false, QueueStrategy::InOrder);
        // Outside callers ahead of the colleague, each in order of arrival.
        assert_eq!(line.position_of(first), Some(1));
        assert_eq!(line.position_of(second), Some(2));
        assert_eq!(line.position_of(colleague), Some(3));
        let now = Instant::now();
        let everyone_busy = staff(&[("alice", Busy), ("bob", Paused), ("carol", Away)]);
        assert!(line.match_agents(&everyone_busy, now).is_empty());
        assert_eq!(line.staffed, 2, "paused staffs, away does not");
        // Bob is back: the first caller is offered to him; the next look offers nobody twice.
        let hands = line.match_agents(&staff(&[("alice", Busy), ("bob", Ready)]), now);
        assert_eq!(offered(&hands), [vec!["bob".to_string()]]);
        assert!(
            line.match_agents(&staff(&[("alice", Busy), ("bob", Ready)]), now)
                .is_empty()
        );
        // Alice frees up too: the second outside caller is hers.
        let hands = line.match_agents(&staff(&[("alice", Ready), ("bob", Ready)]), now);
        assert_eq!(offered(&hands), [vec!["alice".to_string()]]);
        assert!(line.waiting[1].id == second && line.waiting[1].offered.is_some());
    }

    #[tokio::test]
    async fn strategies_pick_the_longest_idle_the_first_in_order_or_everyone() {
        let now = Instant::now();
        let all_ready = staff(&[("alice", Ready), ("bob", Ready), ("carol", Ready)]);
        let mut line = LineState::default();
        line.agents.entry("alice".into()).or_default().idle_since = Some(now);
        line.agents.entry("carol".into()).or_default().idle_since = Some(now - Duration::from_secs(60));
        // Bob has had no call yet: idle the longest.
        let (_, _a) = caller(&mut line, false, QueueStrategy::LongestIdle);
        let (_, _b) = caller(&mut line, false, QueueStrategy::LongestIdle);
        let (_, _c) = caller(&mut line, false, QueueStrategy::LongestIdle);
        let hands = line.match_agents(&all_ready, now);
        assert_eq!(offered(&hands), [vec!["bob"], vec!["carol"], vec!["alice"]]);

        let mut line = LineState::default();
        line.agents.entry("alice".into()).or_default().idle_since = Some(now);
        let (_, _a) = caller(&mut line, false, QueueStrategy::InOrder);
        let hands = line.match_agents(&all_ready, now);
        assert_eq!(offered(&hands), [vec!["alice"]], "in order ignores idle times");

        let mut line = LineState::default();
        let (_, _a) = caller(&mut line, false, QueueStrategy::RingAll);
        let (_, _b) = caller(&mut line, false, QueueStrategy::RingAll);
        let hands = line.match_agents(&all_ready, now);
        assert_eq!(
            offered(&hands),
            [vec!["alice", "bob", "carol"]],
            "the head caller rings everyone; the next waits"
        );
    }

    #[tokio::test]
    async fn an_agent_who_let_it_ring_rests_and_one_who_talked_wraps_up() {
        let (line, place) = first_caller(QueueStrategy::InOrder);
        let now = Instant::now();
        let ready = staff(&[("alice", Ready), ("bob", Ready)]);
        let hands = line.state.lock().match_agents(&ready, now);
        assert_eq!(offered(&hands), [vec!["alice"]]);
        place.not_answered();
        // Alice rests; bob is offered the caller, who kept his place.
        let hands = line.state.lock().match_agents(&ready, Instant::now());
        assert_eq!(offered(&hands), [vec!["bob"]]);
        assert_eq!(place.position(), (1, None));
        place.answered();
        place.talked(Some("bob"), Duration::from_secs(120), Duration::from_secs(5));
        assert!(line.state.lock().waiting.is_empty());
        let state = line.state.lock();
        assert!(!state.free("bob", Instant::now()), "bob wraps up");
        assert!(state.free("bob", Instant::now() + Duration::from_secs(6)));
        assert!(state.free("alice", Instant::now() + NO_ANSWER_REST));
        assert_eq!(state.talk, Some(Duration::from_secs(120)));
    }

    #[tokio::test]
    async fn a_kept_place_is_handed_to_the_free_agent_in_its_turn_and_the_wait_is_estimated() {
        let (line, place) = first_caller(QueueStrategy::RingAll);
        let id = place.id;
        let (_, _behind) = caller(&mut line.state.lock(), false, QueueStrategy::InOrder);
        {
            let mut state = line.state.lock();
            state.talk = Some(Duration::from_secs(180));
            state.staffed = 2;
        }
        // Second of two with two agents: about one average talk.
        assert_eq!(line.state.lock().estimate(id + 1), (2, Some(Duration::from_secs(180))));
        place.keep(42);
        assert_eq!(line.state.lock().waiting.len(), 2, "the kept place stays in line");
        let hands = line
            .state
            .lock()
            .match_agents(&staff(&[("alice", Ready), ("bob", Ready)]), Instant::now());
        assert_eq!(offered(&hands), [vec!["callback 42 to alice"], vec!["bob"]]);
        assert_eq!(line.state.lock().waiting.len(), 1, "the kept place was served");
    }
}
