//! What a finished call is as data: its call record (CDR), the legs it rang and its decision
//! trace. Below both `call/` (which makes them) and `store/` (which keeps them).

use serde::{Deserialize, Serialize};

/// One step of the flow, with its time since the call started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TraceEntry {
    pub at_ms: u64,
    pub event: String,
}

/// The call record written when a call ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CallRecord {
    pub id: String,
    pub sip_call_id: String,
    pub caller: String,
    pub dialled: String,
    /// sha256 of the flow version that handled the call.
    pub flow: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    /// Login of the employee the caller talked to (last, after transfers).
    #[serde(default)]
    pub answered_by: Option<String>,
    pub ended_at: i64,
    /// `completed`, `caller-hangup`, `flow-failed`, `rejected`... (how the call ended, for the
    /// engineer; `result` says what it came to for the company).
    pub outcome: String,
    pub trace: Vec<TraceEntry>,
    /// Every leg the call's dials rang, in the order they started.
    #[serde(default)]
    pub legs: Vec<LegRecord>,
    /// What the call came to: answered, missed, abandoned, voicemail, failed, self-service.
    #[serde(default)]
    pub result: CallResult,
    /// Whom the call's dials offered it to, in order: `department:sales`, `employee:alice`,
    /// `extension:101`, `external:+15550100199`.
    #[serde(default)]
    pub offered_to: Vec<String>,
    /// A call nobody answered: the last it was offered to (where it ended).
    #[serde(default)]
    pub ended_in: Option<String>,
    /// How long the caller waited: until someone answered, else until the call ended (ms).
    #[serde(default)]
    pub wait_ms: i64,
}

impl CallRecord {
    /// Who took part, as `call_parties` keeps them: `login:<login>` for an employee who
    /// answered, was offered the call, rang in it or made it; `ext:<extension>` for an
    /// extension offered it or that made it (a desk phone's caller is its extension or login).
    pub fn parties(&self) -> std::collections::BTreeSet<String> {
        let mut parties = std::collections::BTreeSet::new();
        let login = |l: &str| format!("login:{l}");
        parties.extend(self.answered_by.as_deref().map(login));
        parties.extend(self.legs.iter().filter_map(|l| l.employee.as_deref()).map(login));
        for offered in &self.offered_to {
            if let Some(l) = offered.strip_prefix("employee:") {
                parties.insert(login(l));
            } else if let Some(extension) = offered.strip_prefix("extension:") {
                parties.insert(format!("ext:{extension}"));
            }
        }
        let caller = self.caller.as_str();
        let digits = caller.bytes().all(|b| b.is_ascii_digit());
        if !caller.is_empty() && !caller.starts_with('+') {
            match digits {
                // 2 to 6 digits is an extension; longer is a number written without its '+'.
                true if (2..=6).contains(&caller.len()) => {
                    parties.insert(format!("ext:{caller}"));
                }
                true => {}
                false => {
                    parties.insert(login(caller));
                }
            }
        }
        parties
    }
}

/// What a call came to, as the people who run the company count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CallResult {
    /// Someone talked to the caller.
    Answered,
    /// Offered to someone (an employee, a department, a number), and nobody answered; no
    /// message was left.
    Missed,
    /// The caller hung up while waiting in a queue (`ended_in` names it, `wait_ms` says how
    /// long he waited).
    Abandoned,
    /// Nobody answered, and the caller left a message.
    Voicemail,
    /// The flow failed, or the call could not be placed (no such number, refused).
    Failed,
    /// The flow ended it without offering it to anyone (an announcement, a conference, a feature
    /// code, a caller who left the menu before choosing).
    #[default]
    SelfService,
}

impl CallResult {
    pub const ALL: [CallResult; 6] = [
        CallResult::Answered,
        CallResult::Missed,
        CallResult::Abandoned,
        CallResult::Voicemail,
        CallResult::Failed,
        CallResult::SelfService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::Missed => "missed",
            CallResult::Abandoned => "abandoned",
            CallResult::Voicemail => "voicemail",
            CallResult::Failed => "failed",
            CallResult::SelfService => "self-service",
        }
    }

    /// Classifies a finished call: who answered, whether a message was left, how it ended
    /// (`outcome`), whom it was offered to, and whether the caller hung up waiting in a queue.
    pub fn of(answered: bool, voicemail_left: bool, outcome: &str, offered: bool, abandoned: bool) -> CallResult {
        const FAILED: [&str; 6] = [
            "flow-trapped",
            "flow-error",
            "flow-bypassed",
            "not-found",
            "refused",
            "error",
        ];
        if answered {
            CallResult::Answered
        } else if voicemail_left {
            CallResult::Voicemail
        } else if abandoned {
            CallResult::Abandoned
        } else if FAILED.contains(&outcome) {
            CallResult::Failed
        } else if offered {
            CallResult::Missed
        } else {
            CallResult::SelfService
        }
    }
}

impl CallResult {
    /// Where a call that came to this ended, of those it was `offered` to: the last, for a call
    /// nobody answered (missed, voicemail); none otherwise.
    pub fn ended_in(self, offered: &[String]) -> Option<String> {
        match self {
            CallResult::Missed | CallResult::Abandoned | CallResult::Voicemail => offered.last().cloned(),
            CallResult::Answered | CallResult::SelfService | CallResult::Failed => None,
        }
    }
}

impl std::str::FromStr for CallResult {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        CallResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?}: use answered, missed, abandoned, voicemail, failed or self-service"))
    }
}

#[cfg(test)]
mod tests {
    use super::CallResult::{self, *};
    use super::{CallRecord, LegRecord};

    fn record(caller: &str) -> CallRecord {
        CallRecord {
            id: "c".into(),
            sip_call_id: "x".into(),
            caller: caller.into(),
            dialled: "+15550100100".into(),
            flow: None,
            started_at: 1,
            answered_at: None,
            answered_by: None,
            ended_at: 2,
            outcome: "completed".into(),
            trace: Vec::new(),
            legs: Vec::new(),
            result: Missed,
            offered_to: Vec::new(),
            ended_in: None,
            wait_ms: 0,
        }
    }

    #[test]
    fn who_took_part_in_a_call() {
        let mut rang = record("+15550100001");
        rang.answered_by = Some("bob".into());
        rang.offered_to = vec![
            "department:sales".into(),
            "employee:alice".into(),
            "extension:103".into(),
        ];
        rang.legs = vec![LegRecord {
            to: "carol".into(),
            employee: Some("carol".into()),
            started_at: 1,
            answered_at: None,
            ended_at: Some(2),
            result: "busy".into(),
        }];
        let parties: Vec<String> = rang.parties().into_iter().collect();
        assert_eq!(parties, ["ext:103", "login:alice", "login:bob", "login:carol"]);
        let made = |caller: &str| record(caller).parties().into_iter().collect::<Vec<_>>();
        assert_eq!(made("101"), ["ext:101"], "a desk phone by its extension");
        assert_eq!(made("alice"), ["login:alice"], "a desk phone by its login");
        assert!(made("15550100001").is_empty(), "a number written without its '+'");
        assert!(made("").is_empty());
    }

    #[test]
    fn what_a_call_came_to() {
        assert_eq!(
            CallResult::of(true, true, "completed", true, false),
            Answered,
            "answered, then a message"
        );
        assert_eq!(CallResult::of(false, true, "caller-hangup", true, false), Voicemail);
        assert_eq!(CallResult::of(false, false, "completed", true, false), Missed);
        assert_eq!(
            CallResult::of(false, false, "caller-hangup", true, false),
            Missed,
            "hung up while it rang"
        );
        assert_eq!(CallResult::of(false, false, "flow-trapped", true, false), Failed);
        assert_eq!(CallResult::of(false, false, "not-found", false, false), Failed);
        assert_eq!(CallResult::of(false, false, "completed", false, false), SelfService);
        assert_eq!(
            CallResult::of(false, false, "caller-hangup", true, true),
            Abandoned,
            "hung up waiting in a queue"
        );
        assert_eq!(CallResult::of(true, false, "completed", true, false), Answered);
        let offered = ["department:sales".to_string(), "department:support".to_string()];
        assert_eq!(Missed.ended_in(&offered).as_deref(), Some("department:support"));
        assert_eq!(Answered.ended_in(&offered), None);
        for result in CallResult::ALL {
            assert_eq!(result.as_str().parse(), Ok(result));
        }
        assert!("lost".parse::<CallResult>().is_err());
    }
}

/// One leg a dial rang: who, when, and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LegRecord {
    /// Who was rung: the To user (a login, an extension, an external number).
    pub to: String,
    /// The employee behind it, if any.
    pub employee: Option<String>,
    /// Unix ms.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    /// When it stopped ringing, or (answered) when the conversation ended.
    pub ended_at: Option<i64>,
    /// `answered`, `busy`, `declined`, `failed <status>`, `stopped` (its ringing time was over:
    /// in turn moved on), `answered-elsewhere`, `cancelled` (the caller left or the dial timed
    /// out) or `unreachable`; a supervisor's leg: `listened`, `whispered` or `barged` (the mode
    /// he came in with).
    pub result: String,
}

/// The results of a supervisor's leg, by the mode he came in with: listen, whisper, barge.
pub const SUPERVISOR_LEG_RESULTS: [&str; 3] = ["listened", "whispered", "barged"];

impl LegRecord {
    /// A supervisor's leg: he watched the call, he was not offered it.
    pub fn is_supervisor(&self) -> bool {
        SUPERVISOR_LEG_RESULTS.contains(&self.result.as_str())
    }
}
