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
//! With several nodes on one database, each node's lines tell the others who waits since when
//! and when each agent last talked and rests ([`QueueBoard`]). Before offering, a distributor
//! leaves to the other nodes' callers who came first as many free agents as they need, counts
//! an agent's last call on any node for "longest idle", and lets him wrap up wherever he talked.
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
/// How long a distributor waits for the other nodes' lines before serving its own as if alone
/// (the database is slow or away).
const BOARD_PATIENCE: Duration = Duration::from_millis(300);
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

/// Where the lines of the nodes that share a database meet (`cluster/`); none on a node alone.
#[async_trait::async_trait]
pub trait QueueBoard: Send + Sync {
    /// What happened on one of this node's lines, for the other nodes: told in order, at once.
    fn tell(&self, department: &str, news: BoardNews);
    /// The department's callers on the other nodes not offered to anyone yet, and its agents'
    /// last calls and rests on any node.
    async fn elsewhere(&self, department: &str) -> anyhow::Result<Elsewhere>;
}

/// What a line tells the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardNews {
    /// Caller `place` joined the line at `joined_at` (unix ms).
    Joined { place: u64, internal: bool, joined_at: i64 },
    /// Agents are offered caller `place` now, or no longer.
    Offered { place: u64, offered: bool },
    /// Caller `place` left the line.
    Left { place: u64 },
    /// An agent talked or let an offer ring out.
    Rests(AgentRest),
}

/// An agent's last queue call and rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRest {
    pub login: String,
    /// When his last queue call ended (unix ms); `None`: none yet (or, told, unchanged).
    pub idle_since: Option<i64>,
    /// Offered nobody before then (unix ms).
    pub rest_until: i64,
}

/// A department's callers waiting on the other nodes, and its agents' rests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elsewhere {
    /// (internal, joined at, unix ms) for each caller not offered yet.
    pub waiting: Vec<(bool, i64)>,
    pub agents: Vec<AgentRest>,
}

/// [`Elsewhere`] on this node's clock, as the distributor last read it.
#[derive(Debug, Default)]
struct Others {
    /// (internal, joined), in the order they are served.
    waiting: Vec<(bool, Instant)>,
    idle_since: HashMap<String, Instant>,
    rest_until: HashMap<String, Instant>,
}

impl Others {
    fn read(elsewhere: Elsewhere, now: Instant, now_ms: i64) -> Self {
        let at = |ms: i64| match u64::try_from(now_ms - ms) {
            Ok(ago) => now.checked_sub(Duration::from_millis(ago)).unwrap_or(now),
            Err(_) => now + Duration::from_millis(ms.abs_diff(now_ms)),
        };
        let mut waiting: Vec<(bool, Instant)> = elsewhere
            .waiting
            .into_iter()
            .map(|(internal, joined)| (internal, at(joined)))
            .collect();
        waiting.sort();
        let mut others = Others {
            waiting,
            ..Others::default()
        };
        for agent in elsewhere.agents {
            if let Some(idle) = agent.idle_since {
                others.idle_since.insert(agent.login.clone(), at(idle));
            }
            others.rest_until.insert(agent.login, at(agent.rest_until));
        }
        others
    }
}

/// One company's queues (its departments' lines) on this node.
pub struct Queues {
    directory: Arc<dyn Directory>,
    desk: Arc<dyn CallbackDesk>,
    board: Option<Arc<dyn QueueBoard>>,
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
    pub fn new(
        directory: Arc<dyn Directory>,
        desk: Arc<dyn CallbackDesk>,
        board: Option<Arc<dyn QueueBoard>>,
    ) -> Arc<Self> {
        Arc::new(Queues {
            directory,
            desk,
            board,
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
            .or_insert_with(|| Arc::new(Line::new(staff.department.clone(), self.board.clone())))
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
            line.tell(&mut state);
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
    /// started), with its members' states (a rest on another node counts) and the callers
    /// waiting on the other nodes: a wallboard.
    pub async fn status(&self) -> anyhow::Result<Vec<LineStatus>> {
        let mut lines: Vec<Arc<Line>> = self.lines.lock().values().cloned().collect();
        lines.sort_by(|a, b| a.department.cmp(&b.department));
        let mut status = Vec::with_capacity(lines.len());
        for line in lines {
            let agents = self.directory.staff(&line.department).await?.map(|s| s.agents);
            read_the_board(&line).await;
            let now = Instant::now();
            let state = line.state.lock();
            let on_line = |w: &&Waiting| matches!(w.seat, Seat::Caller(_));
            status.push(LineStatus {
                department: line.department.clone(),
                waiting: state.waiting.iter().filter(on_line).count(),
                kept_callbacks: state.waiting.iter().filter(|w| !on_line(w)).count(),
                waiting_elsewhere: state.others.waiting.len(),
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
    /// Callers for the department on the other nodes, not offered to an agent yet (always 0 on
    /// a node alone).
    pub waiting_elsewhere: usize,
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
    /// The other nodes' lines of the department.
    board: Option<Arc<dyn QueueBoard>>,
}

impl Line {
    fn new(department: String, board: Option<Arc<dyn QueueBoard>>) -> Self {
        let state = LineState {
            sharing: board.is_some(),
            ..LineState::default()
        };
        Line {
            department,
            state: Mutex::new(state),
            wake: Notify::new(),
            board,
        }
    }

    /// Changes the line's state by `f`, tells the other nodes, and wakes the distributor.
    fn change<R>(&self, f: impl FnOnce(&mut LineState) -> R) -> R {
        let mut state = self.state.lock();
        let result = f(&mut state);
        self.tell(&mut state);
        drop(state);
        self.wake.notify_one();
        result
    }

    /// Tells the other nodes what changed in `state` (under its lock: they hear it in order).
    fn tell(&self, state: &mut LineState) {
        if let Some(board) = &self.board {
            for news in state.news.drain(..) {
                board.tell(&self.department, news);
            }
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
    /// The other nodes' callers and agents, at the distributor's last look.
    others: Others,
    /// Other nodes share the department's line: what changed is gathered in `news` for them.
    sharing: bool,
    news: Vec<BoardNews>,
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
    /// Something the other nodes are to be told.
    fn note(&mut self, news: BoardNews) {
        if self.sharing {
            self.news.push(news);
        }
    }

    /// Adds a caller in his place: outside callers ahead of every internal one.
    fn add(&mut self, internal: bool, strategy: QueueStrategy, seat: Seat) -> u64 {
        self.next_id += 1;
        let joined_at = super::record::unix_ms();
        self.note(BoardNews::Joined {
            place: self.next_id,
            internal,
            joined_at,
        });
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
            && self.others.rest_until.get(login).is_none_or(|until| *until <= now)
    }

    /// When agent `login` last ended a queue call, on this node or another; `None`: never.
    fn idle_since(&self, login: &str) -> Option<Instant> {
        let here = self.agents.get(login).and_then(|m| m.idle_since);
        here.max(self.others.idle_since.get(login).copied())
    }

    /// Offers waiting callers, from the head, to the agents free now.
    fn match_agents(&mut self, staff: &Staff, now: Instant) -> Vec<Hand> {
        self.staffed = staff.staffed();
        let expired: Vec<u64> = self
            .waiting
            .iter()
            .filter(|w| matches!(w.seat, Seat::Kept(_)) && now.duration_since(w.joined) >= MAX_KEPT)
            .map(|w| w.id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        let mut ready: Vec<&str> = staff
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Ready && self.free(&a.login, now))
            .map(|a| a.login.as_str())
            .collect();
        // Never idle on record counts as idle the longest; ties go by the department's order.
        let longest_idle = |ready: &[&str]| (0..ready.len()).min_by_key(|&i| self.idle_since(ready[i])).unwrap_or(0);
        let mut hands = Vec::new();
        let (mut offered, mut served) = (Vec::new(), Vec::new());
        // Callers on other nodes who came first: each leaves one agent to his node (the one
        // idle the longest, as its likeliest pick), which offers him at its next look.
        let mut others_first = self.others.waiting.iter().peekable();
        let mut picks: Vec<(u64, Vec<String>)> = Vec::new();
        for entry in self.waiting.iter().filter(|w| w.offered.is_none()) {
            while !ready.is_empty()
                && others_first
                    .next_if(|other| **other < (entry.internal, entry.joined))
                    .is_some()
            {
                ready.remove(longest_idle(&ready));
            }
            if ready.is_empty() {
                break;
            }
            let ring_all = entry.strategy == QueueStrategy::RingAll && matches!(entry.seat, Seat::Caller(_));
            let picked: Vec<String> = if ring_all {
                ready.drain(..).map(str::to_owned).collect()
            } else if entry.strategy == QueueStrategy::InOrder {
                vec![ready.remove(0).to_owned()]
            } else {
                vec![ready.remove(longest_idle(&ready)).to_owned()]
            };
            picks.push((entry.id, picked));
        }
        let LineState { waiting, agents, .. } = self;
        for (id, picked) in picks {
            let Some(entry) = waiting.iter_mut().find(|w| w.id == id) else {
                continue;
            };
            match &entry.seat {
                Seat::Caller(offers) => {
                    for login in &picked {
                        agents.entry(login.clone()).or_default().reserved = true;
                    }
                    entry.offered = Some(picked.clone());
                    offered.push(entry.id);
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
        for id in offered {
            self.note(BoardNews::Offered {
                place: id,
                offered: true,
            });
        }
        for id in served {
            self.remove(id);
        }
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
        self.note(BoardNews::Left { place: id });
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
        self.line.change(|state| state.remove(self.id));
    }

    /// Nobody offered answered: they rest a while, and the caller waits on in his place.
    pub fn not_answered(&self) {
        let rest_until = Instant::now() + NO_ANSWER_REST;
        let rest_until_ms = super::record::unix_ms() + NO_ANSWER_REST.as_millis() as i64;
        self.line.change(|state| {
            let Some(entry) = state.waiting.iter_mut().find(|w| w.id == self.id) else {
                return;
            };
            let offered = entry.offered.take().unwrap_or_default();
            state.note(BoardNews::Offered {
                place: self.id,
                offered: false,
            });
            for login in offered {
                let memo = state.agents.entry(login.clone()).or_default();
                memo.reserved = false;
                memo.rest_until = Some(rest_until);
                state.note(BoardNews::Rests(AgentRest {
                    login,
                    idle_since: None,
                    rest_until: rest_until_ms,
                }));
            }
        });
    }

    /// The caller talked with agent `login` for `talk`: the agent wraps up, then is idle.
    pub fn talked(&self, login: Option<&str>, talk: Duration, wrap_up: Duration) {
        let now = Instant::now();
        let now_ms = super::record::unix_ms();
        self.line.change(|state| {
            state.talk = Some(match state.talk {
                Some(average) => average.mul_f64(1.0 - TALK_WEIGHT) + talk.mul_f64(TALK_WEIGHT),
                None => talk,
            });
            if let Some(login) = login {
                let memo = state.agents.entry(login.to_owned()).or_default();
                memo.idle_since = Some(now);
                memo.rest_until = Some(now + wrap_up);
                state.note(BoardNews::Rests(AgentRest {
                    login: login.to_owned(),
                    idle_since: Some(now_ms),
                    rest_until: now_ms + wrap_up.as_millis() as i64,
                }));
            }
        });
    }

    /// The caller hangs up to be called back by callback request `request`, which keeps his
    /// place: when its turn comes, it is handed to the free agent.
    pub fn keep(mut self, request: i64) {
        self.kept = self.line.change(|state| {
            let Some(entry) = state.waiting.iter_mut().find(|w| w.id == self.id) else {
                return false;
            };
            entry.seat = Seat::Kept(request);
            if entry.offered.take().is_some() {
                state.note(BoardNews::Offered {
                    place: self.id,
                    offered: false,
                });
            }
            true
        });
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.kept {
            self.line.change(|state| state.remove(self.id));
        }
    }
}

/// What the other nodes' lines of the department say now, into the line's state. While it
/// cannot be read (in time), the line is served as if this node were alone.
async fn read_the_board(line: &Line) {
    let Some(board) = &line.board else { return };
    let others = match tokio::time::timeout(BOARD_PATIENCE, board.elsewhere(&line.department)).await {
        Ok(Ok(elsewhere)) => Others::read(elsewhere, Instant::now(), super::record::unix_ms()),
        // (The heartbeat says in the log that the database is away, not each line.)
        Ok(Err(e)) => {
            tracing::debug!(error = %e, queue = %line.department, "cannot read the other nodes' callers");
            Others::default()
        }
        Err(_) => Others::default(),
    };
    line.state.lock().others = others;
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
                // The board after the agents' states: an agent whose call on another node just
                // ended is seen free here only once that node said how long he wraps up (it
                // writes that a few ms after his line turns idle, so the window is that small).
                read_the_board(&line).await;
                let hands = {
                    let mut state = line.state.lock();
                    let hands = state.match_agents(&staff, Instant::now());
                    line.tell(&mut state);
                    hands
                };
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
        let line = Arc::new(Line::new("sales".into(), None));
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

    /// Another node's caller who came first is left an agent (the one idle the longest); an
    /// internal one waits behind this node's outside caller; an agent's rest and last call on
    /// another node count here; and what happens on the line is noted for the other nodes.
    #[tokio::test]
    async fn callers_on_other_nodes_who_came_first_are_left_agents() {
        let now = Instant::now();
        let now_ms = crate::call::record::unix_ms();
        let two_ready = staff(&[("alice", Ready), ("bob", Ready)]);
        let earlier = |internal: bool| Elsewhere {
            waiting: vec![(internal, now_ms - 10_000)],
            agents: vec![],
        };
        let mut line = LineState {
            sharing: true,
            ..LineState::default()
        };
        let (id, _a) = caller(&mut line, false, QueueStrategy::InOrder);
        line.others = Others::read(earlier(false), now, now_ms);
        assert!(
            line.match_agents(&staff(&[("alice", Ready)]), now).is_empty(),
            "the only agent is the earlier caller's"
        );
        let hands = line.match_agents(&two_ready, now);
        assert_eq!(offered(&hands), [vec!["bob"]], "alice is left to the earlier caller");
        assert!(matches!(line.news[0], BoardNews::Joined { place, internal: false, .. } if place == id));
        assert_eq!(
            line.news[1..],
            [BoardNews::Offered {
                place: id,
                offered: true
            }]
        );
        line.remove(id);
        assert_eq!(line.news.last(), Some(&BoardNews::Left { place: id }));

        let mut line = LineState::default();
        let (_, _a) = caller(&mut line, false, QueueStrategy::InOrder);
        line.others = Others::read(earlier(true), now, now_ms);
        let hands = line.match_agents(&staff(&[("alice", Ready)]), now);
        assert_eq!(offered(&hands), [vec!["alice"]], "outside callers first, on any node");
        assert!(
            line.news.is_empty(),
            "nothing gathered when no other node shares the line"
        );

        // Bob talked on another node 10 s ago and wraps up there for 5 s more; alice talked here
        // a minute ago: she has been idle the longest, and bob is not free.
        let mut line = LineState::default();
        line.agents.entry("alice".into()).or_default().idle_since = Some(now - Duration::from_secs(60));
        let bob = AgentRest {
            login: "bob".into(),
            idle_since: Some(now_ms - 10_000),
            rest_until: now_ms + 5_000,
        };
        let elsewhere = Elsewhere {
            waiting: vec![],
            agents: vec![bob.clone()],
        };
        line.others = Others::read(elsewhere, now, now_ms);
        assert!(!line.free("bob", now) && line.free("bob", now + Duration::from_secs(6)));
        let (_, _a) = caller(&mut line, false, QueueStrategy::LongestIdle);
        let (_, _b) = caller(&mut line, false, QueueStrategy::LongestIdle);
        let hands = line.match_agents(&two_ready, now);
        assert_eq!(offered(&hands), [vec!["alice"]], "bob wraps up");
        let rested = Elsewhere {
            waiting: vec![],
            agents: vec![AgentRest { rest_until: 0, ..bob }],
        };
        line.others = Others::read(rested, now, now_ms);
        let hands = line.match_agents(&two_ready, now);
        assert_eq!(offered(&hands), [vec!["bob"]]);
        assert!(
            line.idle_since("bob") > line.idle_since("alice"),
            "his last call was later"
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
