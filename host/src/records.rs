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
    /// `completed`, `caller-hangup`, `flow-failed`, `rejected`...
    pub outcome: String,
    pub trace: Vec<TraceEntry>,
    /// Every leg the call's dials rang, in the order they started.
    #[serde(default)]
    pub legs: Vec<LegRecord>,
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
    /// out) or `unreachable`.
    pub result: String,
}
