//! A scripted caller on the call's clock, for `switchboard flow simulate` and tests.
//!
//! Script language: steps separated by `;` or new lines.
//! - `<time> press <digits>`: the caller types digits at that time (`1s press 2`, `1500ms press 12#`)
//! - `<time> hangup`: the caller hangs up at that time
//! - `dial <outcome>`: what the next `dial` returns, in order: `answered [<employee>] [talk <time>]`,
//!   `busy`, `no-answer`, `unavailable`, `failed <reason>`; without one, dials are `unavailable`
//! - `clock <YYYY-MM-DDTHH:MM> [<timezone>]`: the number's local time when the call starts (default
//!   Monday 2026-01-05 10:00 UTC); it runs on with the call
//! - `schedule <id> open|closed`: what `is-open` says of business-hours schedule `id` (`*`: of
//!   every schedule not named)
//! - `employee <login> [ext <extension>] [email <address>] [mobile <number>] [available|busy|offline|ringing]`:
//!   who the directory knows (any other login is an available employee with no details)
//! - `department <id> [ext <extension>] [ring <time>] [free <n>] [overflow <route JSON>]`: a
//!   department as the directory shows it (any other name is a department ringing 60 s with
//!   one member free and no overflow of its own; digits not listed are an employee's extension)
//! - `history <login>`: who last talked to the caller (by default nobody)
//! - `http <status> <body>`: what the next outbound HTTP request gets, in order (the body is
//!   the rest of the step); without one, requests fail
//! - `queue answered [<employee>] [talk <time>]|timeout|full|empty|callback`: how the next
//!   `enqueue` ends, in order; without one, the caller waits out the queue's maximum wait (or
//!   presses its callback digit, if the script does meanwhile)
//! - `screen accept|decline`: what the party who answers the next screened dial decides, in
//!   order (by default he accepts)
//!
//! Times count from the start of the call. Run it on a paused tokio clock and it takes no
//! real time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::collect::{DigitSource, collect_digits};
use super::{
    CallControl, CallError, CollectOptions, DepartmentCard, DialOptions, DialOutcome, EmployeeCard, EmployeeKey,
    HttpRequest, HttpResponse, LineStatus, QueueOptions, QueueOutcome, RecordOptions, Recording, ScreenedOutcome,
    Screening, Target, TimedLeg,
};
use crate::media::PromptLibrary;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// (time since start, digit), in time order.
    presses: Vec<(Duration, char)>,
    hangup_at: Option<Duration>,
    dials: Vec<DialOutcome>,
    queues: Vec<QueueOutcome>,
    /// The number's local time at the start, and its zone.
    clock: (jiff::civil::DateTime, jiff::tz::TimeZone),
    /// Schedule id → open.
    schedules: Vec<(String, bool)>,
    employees: Vec<(EmployeeCard, LineStatus)>,
    departments: Vec<DepartmentCard>,
    history: Option<String>,
    replies: Vec<HttpResponse>,
    /// Whether each screened party accepts.
    verdicts: Vec<bool>,
}

/// Monday 2026-01-05, 10:00: a working morning.
fn default_clock() -> (jiff::civil::DateTime, jiff::tz::TimeZone) {
    (jiff::civil::date(2026, 1, 5).at(10, 0, 0, 0), jiff::tz::TimeZone::UTC)
}

impl std::str::FromStr for Script {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut script = Script {
            presses: Vec::new(),
            hangup_at: None,
            dials: Vec::new(),
            queues: Vec::new(),
            clock: default_clock(),
            schedules: Vec::new(),
            employees: Vec::new(),
            departments: Vec::new(),
            history: None,
            replies: Vec::new(),
            verdicts: Vec::new(),
        };
        for step in text.split([';', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
            let words: Vec<&str> = step.split_whitespace().collect();
            match words.as_slice() {
                ["queue", outcome @ ..] => script
                    .queues
                    .push(parse_queue_outcome(outcome).map_err(|e| format!("{step:?}: {e}"))?),
                ["dial", outcome @ ..] => script
                    .dials
                    .push(parse_outcome(outcome).map_err(|e| format!("{step:?}: {e}"))?),
                [time, "press", digits] => {
                    let at = parse_time(time)?;
                    for (i, d) in digits.chars().enumerate() {
                        if !d.is_ascii_digit() && !"*#ABCD".contains(d) {
                            return Err(format!("{step:?}: {d:?} is not a DTMF digit"));
                        }
                        // Digits typed together still arrive one after another.
                        script.presses.push((at + Duration::from_millis(200 * i as u64), d));
                    }
                }
                [time, "hangup"] => script.hangup_at = Some(parse_time(time)?),
                ["clock", at, zone @ ..] if zone.len() <= 1 => {
                    let local: jiff::civil::DateTime = at
                        .parse()
                        .map_err(|_| format!("{step:?}: write the time as 2026-11-27T18:30"))?;
                    let zone = match zone.first() {
                        Some(name) => jiff::tz::TimeZone::get(name)
                            .map_err(|_| format!("{step:?}: {name:?} is not an IANA timezone"))?,
                        None => jiff::tz::TimeZone::UTC,
                    };
                    script.clock = (local, zone);
                }
                ["schedule", id, state @ ("open" | "closed")] => {
                    script.schedules.push((id.to_string(), *state == "open"));
                }
                ["employee", login, details @ ..] => script
                    .employees
                    .push(parse_employee(login, details).map_err(|e| format!("{step:?}: {e}"))?),
                ["department", id, ..] => {
                    let rest = step["department".len()..].trim_start()[id.len()..].trim();
                    let card = parse_department(id, rest).map_err(|e| format!("{step:?}: {e}"))?;
                    script.departments.push(card);
                }
                ["history", login] => script.history = Some(login.to_string()),
                ["screen", verdict @ ("accept" | "decline")] => script.verdicts.push(*verdict == "accept"),
                ["http", word, ..] => {
                    let status: u16 = word
                        .parse()
                        .ok()
                        .filter(|s| (100..600).contains(s))
                        .ok_or_else(|| format!("{step:?}: {word:?} is not an HTTP status"))?;
                    let body = step["http".len()..].trim_start()[word.len()..].trim();
                    script.replies.push(HttpResponse {
                        status,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: body.to_string(),
                    });
                }
                _ => return Err(format!("cannot read step {step:?}")),
            }
        }
        script.presses.sort_by_key(|(at, _)| *at);
        Ok(script)
    }
}

fn parse_time(word: &str) -> Result<Duration, String> {
    let bad = || format!("bad time {word:?} (write 3s, 2.5s or 1500ms)");
    if let Some(ms) = word.strip_suffix("ms") {
        return ms.parse::<u64>().map(Duration::from_millis).map_err(|_| bad());
    }
    let secs = word.strip_suffix('s').ok_or_else(bad)?;
    let secs: f64 = secs.parse().map_err(|_| bad())?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_employee(login: &str, details: &[&str]) -> Result<(EmployeeCard, LineStatus), String> {
    let mut card = anyone(login);
    let mut status = LineStatus::Available;
    let mut words = details.iter();
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .map(|v| v.to_string())
                .ok_or(format!("{word} needs a value"))
        };
        match *word {
            "ext" => card.extension = value()?,
            "email" => card.email = value()?,
            "mobile" => card.mobile = value()?,
            "available" => status = LineStatus::Available,
            "busy" => status = LineStatus::Busy,
            "offline" => status = LineStatus::Offline,
            "ringing" => status = LineStatus::Ringing,
            other => return Err(format!("{other:?}: expected ext, email, mobile or a presence")),
        }
    }
    Ok((card, status))
}

/// How long a department the script says nothing about rings, an employee, an outside number.
const DEPARTMENT_RING: Duration = Duration::from_secs(60);
const EMPLOYEE_RING: Duration = Duration::from_secs(30);
const EXTERNAL_RING: Duration = Duration::from_secs(60);

/// A department the script says nothing about (or the start of one it describes).
fn any_department(id: &str) -> DepartmentCard {
    DepartmentCard {
        id: id.into(),
        name: id.into(),
        extension: String::new(),
        ring_time: DEPARTMENT_RING,
        overflow: String::new(),
        available: 1,
    }
}

/// `[ext <extension>] [ring <time>] [free <n>] [overflow <route JSON, the rest of the step>]`.
fn parse_department(id: &str, mut rest: &str) -> Result<DepartmentCard, String> {
    let mut card = any_department(id);
    while !rest.is_empty() {
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if word == "overflow" {
            let route: serde_json::Value = serde_json::from_str(after).map_err(|e| format!("overflow: {e}"))?;
            card.overflow = route.to_string();
            break;
        }
        let (value, after) = after
            .trim_start()
            .split_once(char::is_whitespace)
            .unwrap_or((after.trim(), ""));
        match word {
            "ext" => card.extension = value.into(),
            "ring" => card.ring_time = parse_time(value)?,
            "free" => card.available = value.parse().map_err(|_| format!("free {value:?}: a count"))?,
            other => return Err(format!("{other:?}: expected ext, ring, free or overflow")),
        }
        rest = after.trim_start();
    }
    Ok(card)
}

/// An employee the script says nothing about: known by login only.
fn anyone(login: &str) -> EmployeeCard {
    EmployeeCard {
        login: login.into(),
        name: login.into(),
        extension: String::new(),
        email: String::new(),
        mobile: String::new(),
    }
}

fn parse_outcome(words: &[&str]) -> Result<DialOutcome, String> {
    Ok(match words {
        ["busy"] => DialOutcome::Busy,
        ["no-answer"] => DialOutcome::NoAnswer,
        ["unavailable"] => DialOutcome::Unavailable,
        ["failed", reason @ ..] => DialOutcome::Failed(reason.join(" ")),
        ["answered", rest @ ..] => {
            let (employee, rest) = match rest {
                [e, tail @ ..] if *e != "talk" => (Some(e.to_string()), tail),
                _ => (None, rest),
            };
            let talk_seconds = match rest {
                [] => 0,
                ["talk", t] => parse_time(t)?.as_secs() as u32,
                _ => return Err("expected `answered [employee] [talk <time>]`".into()),
            };
            DialOutcome::Answered { employee, talk_seconds }
        }
        _ => return Err("unknown dial outcome".into()),
    })
}

fn parse_queue_outcome(words: &[&str]) -> Result<QueueOutcome, String> {
    Ok(match words {
        ["timeout"] => QueueOutcome::Timeout,
        ["full"] => QueueOutcome::Full,
        ["empty"] => QueueOutcome::Empty,
        ["callback"] => QueueOutcome::Callback,
        ["answered", ..] => match parse_outcome(words)? {
            DialOutcome::Answered { employee, talk_seconds } => QueueOutcome::Answered { employee, talk_seconds },
            _ => unreachable!("parse_outcome reads answered as answered"),
        },
        _ => return Err("expected answered [employee] [talk <time>], timeout, full, empty or callback".into()),
    })
}

/// A call whose caller follows a [`Script`].
pub struct ScriptedCall {
    start: Instant,
    presses: VecDeque<(Duration, char)>,
    hangup_at: Option<Duration>,
    dials: VecDeque<DialOutcome>,
    queues: VecDeque<QueueOutcome>,
    queues_joined: usize,
    prompts: Arc<PromptLibrary>,
    caller: String,
    dialled: String,
    /// The flow or the script ended the call.
    ended: bool,
    /// The script's caller hung up.
    caller_left: bool,
    /// The number's clock when the call started.
    clock_start: jiff::Timestamp,
    zone: jiff::tz::TimeZone,
    schedules: Vec<(String, bool)>,
    employees: Vec<(EmployeeCard, LineStatus)>,
    departments: Vec<DepartmentCard>,
    history: Option<String>,
    replies: VecDeque<HttpResponse>,
    callbacks: Vec<String>,
    verdicts: VecDeque<bool>,
    /// Legs dialled and recordings made so far (the same caps as a real call's).
    legs_rung: usize,
    recordings: usize,
    /// Whose prompts it plays (a company's uploads over the built-ins); none: built-ins only.
    company: Option<crate::tenant::CompanyId>,
}

impl ScriptedCall {
    /// The call plays `company`'s own prompts over the built-ins, as its real calls do.
    pub fn of_company(mut self, company: crate::tenant::CompanyId) -> Self {
        self.company = Some(company);
        self
    }

    pub fn new(script: Script, prompts: Arc<PromptLibrary>, caller: &str, dialled: &str) -> Self {
        let (local, zone) = script.clock;
        // A local time that does not exist (a spring-forward gap) is taken as the next that does.
        let clock_start = zone
            .to_ambiguous_timestamp(local)
            .compatible()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        ScriptedCall {
            clock_start,
            zone,
            schedules: script.schedules,
            employees: script.employees,
            departments: script.departments,
            history: script.history,
            replies: script.replies.into(),
            callbacks: Vec::new(),
            verdicts: script.verdicts.into(),
            legs_rung: 0,
            recordings: 0,
            company: None,
            start: Instant::now(),
            presses: script.presses.into(),
            hangup_at: script.hangup_at,
            dials: script.dials.into(),
            queues: script.queues.into(),
            queues_joined: 0,
            prompts,
            caller: caller.into(),
            dialled: dialled.into(),
            ended: false,
            caller_left: false,
        }
    }

    /// Waits up to `d`, or until the scripted hangup.
    async fn wait(&mut self, d: Duration) -> Result<(), CallError> {
        let until = Instant::now() + d;
        match self.hangup_at.map(|h| self.start + h) {
            Some(h) if h <= until => {
                tokio::time::sleep_until(h).await;
                self.ended = true;
                self.caller_left = true;
                Err(CallError::Hangup)
            }
            _ => {
                tokio::time::sleep_until(until).await;
                Ok(())
            }
        }
    }

    fn live(&self) -> Result<(), CallError> {
        if self.ended { Err(CallError::Hangup) } else { Ok(()) }
    }

    async fn prompt_length(&self, name: &str) -> Result<Duration, CallError> {
        let prompt = match self.company {
            Some(company) => self.prompts.resolve_for(company, name).await,
            None => self.prompts.resolve(name).await,
        };
        let prompt = prompt.map_err(super::prompt_error)?;
        Ok(Duration::from_millis(prompt.duration_ms()))
    }

    /// The next scripted digit if it comes within `d` (waiting for it), else waits `d`.
    async fn next_press_within(&mut self, d: Duration) -> Result<Option<char>, CallError> {
        let deadline = Instant::now() + d;
        match self.presses.front().copied() {
            Some((at, digit)) if self.start + at <= deadline => {
                let until = (self.start + at).saturating_duration_since(Instant::now());
                self.wait(until).await?;
                self.presses.pop_front();
                Ok(Some(digit))
            }
            _ => {
                self.wait(d).await?;
                Ok(None)
            }
        }
    }
}

#[async_trait::async_trait]
impl CallControl for ScriptedCall {
    fn id(&self) -> &str {
        "simulated"
    }
    fn caller(&self) -> &str {
        &self.caller
    }
    fn dialled(&self) -> &str {
        &self.dialled
    }
    fn is_over(&mut self) -> bool {
        self.ended
    }

    fn facts(&self) -> super::CallFacts {
        super::CallFacts {
            answered_at: None,
            answered_by: None,
            legs: Vec::new(),
            offered: Vec::new(),
            caller_gone: self.caller_left,
            callbacks: self.callbacks.clone(),
            mailbox: None,
            abandoned_in: None,
        }
    }

    async fn answer(&mut self) -> Result<(), CallError> {
        self.live()
    }

    async fn set_mailbox(&mut self, _login: &str) -> Result<(), CallError> {
        // The simulator keeps no recordings; any employee will do.
        self.live()
    }

    fn local_time(&self) -> (crate::schedule::LocalTime, String) {
        let elapsed = jiff::SignedDuration::try_from(self.start.elapsed()).unwrap_or_default();
        let now = self.clock_start.checked_add(elapsed).unwrap_or(self.clock_start);
        crate::schedule::LocalTime::with_zone_name(now, &self.zone)
    }

    async fn request_callback(&mut self, reason: &str) -> Result<(), CallError> {
        let reason = super::limits::callback_reason(reason, self.callbacks.len())?;
        self.callbacks.push(reason);
        Ok(())
    }

    fn ring_mobiles(&mut self, _on: bool) {}

    async fn employee(&mut self, by: EmployeeKey<'_>) -> Result<Option<EmployeeCard>, CallError> {
        let scripted = self.employees.iter().map(|(card, _)| card);
        Ok(match by {
            EmployeeKey::Login(login) => Some(
                scripted
                    .clone()
                    .find(|c| c.login == login)
                    .cloned()
                    .unwrap_or(anyone(login)),
            ),
            EmployeeKey::Email(email) => scripted.clone().find(|c| c.email.eq_ignore_ascii_case(email)).cloned(),
        })
    }

    async fn presence(&mut self, login: &str) -> Result<LineStatus, CallError> {
        let scripted = self.employees.iter().find(|(card, _)| card.login == login);
        Ok(scripted.map_or(LineStatus::Available, |(_, status)| *status))
    }

    async fn department(&mut self, key: &str) -> Result<Option<DepartmentCard>, CallError> {
        let listed = self.departments.iter().find(|d| d.id == key || d.extension == key);
        Ok(match listed {
            Some(card) => Some(card.clone()),
            None if key.bytes().all(|b| b.is_ascii_digit()) => None,
            None => Some(any_department(key)),
        })
    }

    async fn ring_time(&mut self, target: &Target) -> Result<Duration, CallError> {
        Ok(match target {
            Target::Department(key) | Target::Extension(key) => {
                self.department(key).await?.map_or(EMPLOYEE_RING, |d| d.ring_time)
            }
            Target::Employee(_) => EMPLOYEE_RING,
            Target::External(_) => EXTERNAL_RING,
        })
    }

    async fn last_connected(&mut self, _number: &str, _days: u32) -> Result<Option<String>, CallError> {
        Ok(self.history.clone())
    }

    async fn fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, String> {
        self.replies.pop_front().ok_or_else(|| {
            format!(
                "{} {}: the script has no `http` reply for it",
                request.method, request.url
            )
        })
    }

    async fn is_open(&mut self, schedule: &str) -> Result<bool, CallError> {
        let said = self.schedules.iter().find(|(id, _)| id == schedule);
        match said.or_else(|| self.schedules.iter().find(|(id, _)| id == "*")) {
            Some((_, open)) => Ok(*open),
            None => Err(CallError::Invalid(format!(
                "the script does not say whether schedule {schedule:?} is open (add `schedule {schedule} open`)"
            ))),
        }
    }

    async fn play(&mut self, prompt: &str) -> Result<(), CallError> {
        let length = self.prompt_length(prompt).await?;
        self.answer().await?;
        self.wait(length).await
    }

    async fn collect(&mut self, opts: &CollectOptions) -> Result<Option<String>, CallError> {
        if let Some(p) = &opts.prompt {
            self.prompt_length(p).await?;
        }
        self.answer().await?;
        collect_digits(self, opts).await
    }

    async fn dial(&mut self, legs: &[TimedLeg], opts: &DialOptions) -> Result<DialOutcome, CallError> {
        self.live()?;
        super::limits::check_dial(legs, opts)?;
        super::limits::check_more_legs(self.legs_rung)?;
        self.legs_rung += legs.len();
        let outcome = self.dials.pop_front().unwrap_or(DialOutcome::Unavailable);
        // Ringing takes time; a talk takes its length.
        let took = match &outcome {
            DialOutcome::Answered { talk_seconds, .. } => Duration::from_secs(*talk_seconds as u64 + 3),
            DialOutcome::NoAnswer => Duration::from_millis(opts.timeout_ms as u64),
            _ => Duration::ZERO,
        };
        self.wait(took).await?;
        Ok(outcome)
    }

    async fn enqueue(&mut self, department: &str, opts: &QueueOptions) -> Result<QueueOutcome, CallError> {
        self.live()?;
        super::limits::check_queue(department, opts, self.queues_joined)?;
        self.queues_joined += 1;
        if let Some(outcome) = self.queues.pop_front() {
            // Ringing the agent takes a few seconds; a talk its length.
            if let QueueOutcome::Answered { talk_seconds, .. } = &outcome {
                self.wait(Duration::from_secs(u64::from(*talk_seconds) + 3)).await?;
            }
            if outcome == QueueOutcome::Timeout {
                self.wait(opts.max_wait).await?;
            }
            return Ok(outcome);
        }
        let deadline = Instant::now() + opts.max_wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_press_within(left).await? {
                Some(digit) if Some(digit) == opts.callback_digit => return Ok(QueueOutcome::Callback),
                Some(_) => {}
                None => return Ok(QueueOutcome::Timeout),
            }
        }
    }

    async fn dial_screened(
        &mut self,
        legs: &[TimedLeg],
        opts: &DialOptions,
        screening: &Screening,
    ) -> Result<ScreenedOutcome, CallError> {
        super::limits::check_screening(screening)?;
        let answered = self
            .dials
            .front()
            .is_some_and(|o| matches!(o, DialOutcome::Answered { .. }));
        if !answered {
            return Ok(ScreenedOutcome::NotAnswered(self.dial(legs, opts).await?));
        }
        // The announcement takes its length (a recording of the call: a few seconds).
        let mut listening = Duration::ZERO;
        for name in &screening.announce {
            listening += match name.strip_prefix(super::RECORDING_PROMPT) {
                Some(_) => Duration::from_secs(3),
                None => self.prompt_length(name).await?,
            };
        }
        self.wait(Duration::from_secs(3) + listening).await?;
        if self.verdicts.pop_front().unwrap_or(true) {
            Ok(ScreenedOutcome::Accepted(self.dial(legs, opts).await?))
        } else {
            self.dials.pop_front();
            Ok(ScreenedOutcome::Declined)
        }
    }

    /// The scripted caller speaks from the start until a terminator digit, the maximum length
    /// or their hangup (silence cannot be scripted).
    async fn record(&mut self, opts: &RecordOptions) -> Result<Option<Recording>, CallError> {
        if opts.max_seconds == 0 {
            return Err(CallError::Invalid("record needs max-seconds of at least 1".into()));
        }
        super::limits::check_len("terminators", &opts.terminators, super::limits::MAX_TERMINATORS)?;
        super::limits::check_more_recordings(self.recordings)?;
        self.live()?;
        self.recordings += 1;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(opts.max_seconds.min(super::limits::MAX_RECORD_SECONDS).into());
        let ended_by = loop {
            match self
                .next_press_within(deadline.saturating_duration_since(Instant::now()))
                .await?
            {
                Some(d) if opts.terminators.contains(d) => break d.to_string(),
                Some(_) => continue,
                None => break "max-length".to_string(),
            }
        };
        Ok(Some(Recording {
            id: "simulated-1".into(),
            duration_ms: started.elapsed().as_millis() as u32,
            ended_by,
        }))
    }

    /// The scripted caller stays in the room until their hangup (an hour without one).
    async fn conference(&mut self, room: &str) -> Result<(), CallError> {
        super::limits::check_room(room)?;
        self.live()?;
        self.wait(Duration::from_secs(3600)).await?;
        self.ended = true;
        self.caller_left = true;
        Err(CallError::Hangup)
    }

    async fn hangup(&mut self) {
        self.ended = true;
    }

    /// The scripted caller is refused (the simulator keeps no answered state: its trace shows
    /// the refusal wherever the flow asked for it).
    async fn reject(&mut self, _code: u16, _reason: &'static str) -> Result<(), CallError> {
        self.live()?;
        self.ended = true;
        Ok(())
    }
}

#[async_trait::async_trait]
impl DigitSource for ScriptedCall {
    async fn play_interruptible(&mut self, prompt: &str) -> Result<Option<char>, CallError> {
        let length = self.prompt_length(prompt).await?;
        self.next_press_within(length).await
    }

    async fn digit_within(&mut self, timeout: Duration) -> Result<Option<char>, CallError> {
        self.next_press_within(timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_script_language() {
        let s: Script = "1s press 2; 2.5s press 1#\n dial busy; dial answered 17 talk 30s; 10s hangup"
            .parse()
            .unwrap();
        assert_eq!(s.presses[0], (Duration::from_secs(1), '2'));
        assert_eq!(s.presses[2], (Duration::from_millis(2700), '#'));
        assert_eq!(s.hangup_at, Some(Duration::from_secs(10)));
        assert_eq!(
            s.dials[1],
            DialOutcome::Answered {
                employee: Some("17".into()),
                talk_seconds: 30
            }
        );
        assert!("1s press x".parse::<Script>().is_err());
        assert!("soon hangup".parse::<Script>().is_err());
        assert!("dial maybe".parse::<Script>().is_err());
    }

    #[test]
    fn reads_the_world_a_flow_looks_up() {
        let s: Script = "employee bob ext 102 email Bob@example.com busy; history bob; http 200 {\"a\": [1, 2]}"
            .parse()
            .unwrap();
        assert_eq!(s.employees[0].0.extension, "102");
        assert_eq!(s.employees[0].1, LineStatus::Busy);
        assert_eq!(s.history.as_deref(), Some("bob"));
        assert_eq!(
            (s.replies[0].status, s.replies[0].body.as_str()),
            (200, "{\"a\": [1, 2]}")
        );
        assert!("employee bob fax 1".parse::<Script>().is_err());
        let s: Script = r#"department sales ext 600 ring 20s free 0 overflow {"voicemail": {}}"#
            .parse()
            .unwrap();
        let sales = &s.departments[0];
        assert_eq!((sales.extension.as_str(), sales.ring_time.as_secs()), ("600", 20));
        assert_eq!((sales.available, sales.overflow.as_str()), (0, r#"{"voicemail":{}}"#));
        assert!("department sales ring soon".parse::<Script>().is_err());
        assert!("department sales overflow {".parse::<Script>().is_err());
        assert!("http 99 x".parse::<Script>().is_err());
    }

    fn one_digit(timeout_ms: u32) -> CollectOptions {
        CollectOptions {
            prompt: None,
            max_digits: 1,
            terminators: String::new(),
            first_digit_timeout_ms: timeout_ms,
            inter_digit_timeout_ms: timeout_ms,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn digits_arrive_on_the_virtual_clock() {
        let script: Script = "3s press 2; 20s hangup".parse().unwrap();
        let mut call = ScriptedCall::new(script, Arc::default(), "100", "200");
        let t0 = Instant::now();
        assert_eq!(call.collect(&one_digit(5000)).await, Ok(Some("2".into())));
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
        assert_eq!(call.collect(&one_digit(5000)).await, Ok(None));
        assert_eq!(t0.elapsed(), Duration::from_secs(8));
        let long = one_digit(60_000);
        assert_eq!(call.collect(&long).await, Err(CallError::Hangup));
        assert_eq!(t0.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn collect_stops_at_terminator_and_max_digits() {
        let script: Script = "1s press 12#; 5s press 98765".parse().unwrap();
        let mut call = ScriptedCall::new(script, Arc::default(), "100", "200");
        let mut opts = one_digit(4000);
        opts.max_digits = 4;
        opts.terminators = "#".into();
        assert_eq!(call.collect(&opts).await, Ok(Some("12".into())));
        assert_eq!(call.collect(&opts).await, Ok(Some("9876".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn a_recording_ends_at_the_terminator_or_the_maximum() {
        let script: Script = "4s press 1#".parse().unwrap();
        let mut call = ScriptedCall::new(script, Arc::default(), "100", "200");
        let opts = RecordOptions {
            max_seconds: 60,
            silence_seconds: 0,
            terminators: "#".into(),
            beep: false,
        };
        let made = call.record(&opts).await.unwrap().unwrap();
        assert_eq!((made.duration_ms, made.ended_by.as_str()), (4200, "#"));
        let short = RecordOptions { max_seconds: 2, ..opts };
        let made = call.record(&short).await.unwrap().unwrap();
        assert_eq!((made.duration_ms, made.ended_by.as_str()), (2000, "max-length"));
    }
}
