//! Supervisors: an admin listens to an employee's call in progress, whispers to the employee
//! only, or barges in (Asterisk's ChanSpy, a call centre's "monitor / coach / barge").
//!
//! A supervised call leaves its packet relay for a conference room of its own (`room.rs`),
//! where the supervisor is a guest whose [`Role`] decides who hears him. He gets there two
//! ways: from his desk phone with `*55`/`*56`/`*57` and the employee's extension (his own call
//! joins the room: [`Supervision::ask`]), or over the API, which has the call ring his phone
//! (`Feature::Supervise`). On the line he switches with the digits 4 (listen), 5 (whisper)
//! and 6 (barge), as on Asterisk. Every supervisor is listed among the call's legs, with the
//! mode he came in with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::media::mixer::Role;

/// What a supervisor does in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SupervisorMode)]
pub enum Mode {
    /// Hears both parties; nobody hears him.
    Listen,
    /// Hears both parties; only the employee hears him.
    Whisper,
    /// Talks with both.
    Barge,
}

impl Mode {
    pub fn role(self) -> Role {
        match self {
            Mode::Listen => Role::Listener,
            Mode::Whisper => Role::Whisperer,
            Mode::Barge => Role::Barger,
        }
    }

    /// The mode a digit typed on the line switches to.
    pub fn of_digit(digit: char) -> Option<Mode> {
        match digit {
            '4' => Some(Mode::Listen),
            '5' => Some(Mode::Whisper),
            '6' => Some(Mode::Barge),
            _ => None,
        }
    }

    /// The feature code a desk phone dials before the employee's extension.
    pub fn code(self) -> &'static str {
        match self {
            Mode::Listen => "*55",
            Mode::Whisper => "*56",
            Mode::Barge => "*57",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Listen => "listen",
            Mode::Whisper => "whisper",
            Mode::Barge => "barge",
        }
    }

    pub fn parse(name: &str) -> Option<Mode> {
        [Mode::Listen, Mode::Whisper, Mode::Barge]
            .into_iter()
            .find(|m| m.as_str() == name)
    }

    /// The result a supervisor's leg has in the call record.
    pub fn leg_result(self) -> &'static str {
        crate::records::SUPERVISOR_LEG_RESULTS[self as usize]
    }

    /// `*55102`: listen to the call of the employee at extension 102.
    pub fn parse_code(dialled: &str) -> Option<(Mode, &str)> {
        [Mode::Listen, Mode::Whisper, Mode::Barge].into_iter().find_map(|mode| {
            let extension = dialled.strip_prefix(mode.code())?;
            let plausible = (2..=6).contains(&extension.len()) && extension.bytes().all(|b| b.is_ascii_digit());
            plausible.then_some((mode, extension))
        })
    }
}

/// Supervisors a call may have at once.
pub const MAX_SUPERVISORS: usize = 3;

/// A supervisor asks to come in; the call answers with the room to visit.
#[derive(Debug)]
pub struct Visit {
    /// The employee whose call it is (he is the one a whisper reaches).
    pub employee: String,
    /// The supervisor.
    pub by: String,
    pub mode: Mode,
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// A company's calls in conversation, by the employee in them.
#[derive(Default)]
pub struct Supervision(Mutex<HashMap<String, mpsc::UnboundedSender<Visit>>>);

/// A call is open to supervisors while this lives.
pub struct Watchable {
    supervision: Arc<Supervision>,
    employees: Vec<String>,
    sender: mpsc::UnboundedSender<Visit>,
    pub requests: mpsc::UnboundedReceiver<Visit>,
}

impl Drop for Watchable {
    fn drop(&mut self) {
        let mut calls = self.supervision.0.lock();
        for employee in &self.employees {
            // A later call of the same employee (call waiting) may have taken the entry.
            if calls.get(employee).is_some_and(|s| s.same_channel(&self.sender)) {
                calls.remove(employee);
            }
        }
    }
}

/// How long a call takes to answer a supervisor (at once, unless it is between states).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

impl Supervision {
    /// Opens the call that `employees` are in (its employee parties) to supervisors.
    pub fn open(self: &Arc<Self>, employees: Vec<String>) -> Watchable {
        let (sender, requests) = mpsc::unbounded_channel();
        let mut calls = self.0.lock();
        for employee in &employees {
            calls.insert(employee.clone(), sender.clone());
        }
        Watchable {
            supervision: self.clone(),
            employees,
            sender,
            requests,
        }
    }

    /// Asks the call `employee` is in to let supervisor `by` in as `mode`: the room's name, or
    /// why not.
    pub async fn ask(&self, employee: &str, by: &str, mode: Mode) -> Result<String, String> {
        let call = self.0.lock().get(employee).cloned();
        let (reply, answer) = oneshot::channel();
        let watch = Visit {
            employee: employee.to_owned(),
            by: by.to_owned(),
            mode,
            reply,
        };
        if call.is_none_or(|c| c.send(watch).is_err()) {
            return Err(format!("{employee} is not in a conversation"));
        }
        match tokio::time::timeout(ANSWER_WITHIN, answer).await {
            Ok(Ok(answer)) => answer,
            _ => Err(format!("{employee}'s call did not let the supervisor in")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_and_digits() {
        assert_eq!(Mode::parse_code("*55102"), Some((Mode::Listen, "102")));
        assert_eq!(Mode::parse_code("*56102"), Some((Mode::Whisper, "102")));
        assert_eq!(Mode::parse_code("*57102"), Some((Mode::Barge, "102")));
        assert_eq!(Mode::parse_code("*55"), None);
        assert_eq!(Mode::parse_code("*551"), None);
        assert_eq!(Mode::parse_code("*551234567"), None);
        assert_eq!(Mode::parse_code("*55a02"), None);
        assert_eq!(Mode::of_digit('5'), Some(Mode::Whisper));
        assert_eq!(Mode::of_digit('7'), None);
        assert_eq!(Mode::parse("barge"), Some(Mode::Barge));
    }

    #[tokio::test]
    async fn a_call_answers_while_it_is_open_and_only_for_its_employees() {
        let supervision = Arc::new(Supervision::default());
        assert!(supervision.ask("bob", "alice", Mode::Listen).await.is_err());
        let mut call = supervision.open(vec!["bob".into()]);
        let answering = tokio::spawn(async move {
            let watch = call.requests.recv().await.unwrap();
            assert_eq!((watch.employee.as_str(), watch.by.as_str()), ("bob", "alice"));
            watch.reply.send(Ok("room-1".into())).unwrap();
            call
        });
        assert_eq!(
            supervision.ask("bob", "alice", Mode::Whisper).await,
            Ok("room-1".into())
        );
        assert!(supervision.ask("carol", "alice", Mode::Listen).await.is_err());
        drop(answering.await.unwrap());
        assert!(
            supervision.ask("bob", "alice", Mode::Listen).await.is_err(),
            "closed with the call"
        );
    }
}
