//! What a call leaves behind: the call record (CDR) and its decision trace.

use serde::Serialize;
use tokio::time::Instant;

/// One step of the flow, with its time since the call started.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TraceEntry {
    pub at_ms: u64,
    pub event: String,
}

/// The decision trace: every verb the flow performed and how it ended, on the call's clock
/// (virtual in the simulator).
#[derive(Debug, Clone)]
pub struct Trace {
    start: Instant,
    entries: Vec<TraceEntry>,
}

/// A flow cannot flood the host through its trace.
const MAX_ENTRIES: usize = 1_000;
const MAX_EVENT_LEN: usize = 500;

impl Default for Trace {
    fn default() -> Self {
        Trace {
            start: Instant::now(),
            entries: Vec::new(),
        }
    }
}

impl Trace {
    pub fn push(&mut self, event: impl Into<String>) {
        if self.entries.len() >= MAX_ENTRIES {
            return;
        }
        let mut event = event.into();
        if event.len() > MAX_EVENT_LEN {
            let cut = (0..=MAX_EVENT_LEN)
                .rev()
                .find(|i| event.is_char_boundary(*i))
                .unwrap_or(0);
            event.truncate(cut);
            event.push('…');
        }
        self.entries.push(TraceEntry {
            at_ms: self.start.elapsed().as_millis() as u64,
            event,
        });
    }

    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<TraceEntry> {
        self.entries
    }
}

/// The call record written when a call ends.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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

/// A recording the call made, waiting to be stored with the call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    pub id: String,
    /// `voicemail` (the `record` verb) or `call` (the number records its calls).
    pub kind: &'static str,
    /// 8 kHz 16-bit mono WAV.
    pub wav: Vec<u8>,
    pub duration_ms: u32,
    /// `max-length`, `silence`, `hangup` or the terminator digit.
    pub ended_by: String,
    /// Unix ms.
    pub made_at: i64,
    /// The employee whose mailbox the flow chose for it (else the number's).
    pub mailbox: Option<String>,
}

pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
