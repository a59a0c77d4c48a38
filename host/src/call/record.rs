//! What a call leaves behind: its decision trace as it grows, the recordings it made, and (the
//! data in `records`, below both this layer and the store) its call record.

use tokio::time::Instant;

pub use crate::records::{CallRecord, CallResult, LegRecord, TraceEntry};

/// The decision trace: every verb the flow performed and how it ended, on the call's clock
/// (virtual in the simulator). It is stored with the call record, so a flow cannot make it
/// grow without end: past [`MAX_ENTRIES`] entries or [`MAX_BYTES`] it keeps one line saying so
/// and drops the rest — except the exchange's own notes ([`Trace::note`]: the outcome, the
/// fallback), which always find room.
#[derive(Debug, Clone)]
pub struct Trace {
    start: Instant,
    entries: Vec<TraceEntry>,
    bytes: usize,
    full: bool,
}

/// What a flow's verbs may put into the trace (the exchange's notes come on top).
pub const MAX_ENTRIES: usize = 500;
pub const MAX_BYTES: usize = 48 * 1024;
const MAX_EVENT_LEN: usize = 500;
/// Room kept for the exchange's own notes after the flow's.
const MAX_NOTES: usize = 32;

impl Default for Trace {
    fn default() -> Self {
        Trace {
            start: Instant::now(),
            entries: Vec::new(),
            bytes: 0,
            full: false,
        }
    }
}

impl Trace {
    /// An entry of the flow's (a verb and its result, a log line), while there is room.
    pub fn push(&mut self, event: impl Into<String>) {
        if self.full {
            return;
        }
        let event = shortened(event.into());
        if self.entries.len() + 1 >= MAX_ENTRIES || self.bytes + event.len() > MAX_BYTES {
            self.full = true;
            let full = format!(
                "trace full ({} entries, {} bytes): the flow's later steps are left out",
                self.entries.len(),
                self.bytes
            );
            return self.append(full);
        }
        self.append(event);
    }

    /// An entry of the exchange's own (how the call ended, the fallback): kept even when the
    /// flow filled the trace.
    pub fn note(&mut self, event: impl Into<String>) {
        if self.entries.len() < MAX_ENTRIES + MAX_NOTES {
            self.append(shortened(event.into()));
        }
    }

    fn append(&mut self, event: String) {
        self.bytes += event.len();
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

/// `event` cut to [`MAX_EVENT_LEN`] bytes (on a character boundary), marked when cut.
fn shortened(mut event: String) -> String {
    if event.len() > MAX_EVENT_LEN {
        let cut = (0..=MAX_EVENT_LEN)
            .rev()
            .find(|i| event.is_char_boundary(*i))
            .unwrap_or(0);
        event.truncate(cut);
        event.push('…');
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooded_trace_says_so_once_and_keeps_the_exchanges_notes() {
        let mut trace = Trace::default();
        for i in 0..10_000 {
            trace.push(format!("step {i} {}", "x".repeat(200)));
        }
        let entries = trace.entries();
        assert!(entries.len() < MAX_ENTRIES);
        let bytes: usize = entries.iter().map(|e| e.event.len()).sum();
        assert!(bytes <= MAX_BYTES + 200, "{bytes}");
        assert!(entries.last().unwrap().event.starts_with("trace full"));
        assert_eq!(entries.iter().filter(|e| e.event.starts_with("trace full")).count(), 1);
        trace.note("flow failed: CPU budget exceeded");
        assert_eq!(
            trace.entries().last().unwrap().event,
            "flow failed: CPU budget exceeded"
        );
        assert!(trace.entries()[0].event.len() <= MAX_EVENT_LEN + 3);
    }
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
