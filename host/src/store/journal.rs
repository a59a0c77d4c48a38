//! Call records are written off the call's path, in groups (group commit): a call that ends
//! queues its record and is done; one writer takes whatever is queued within [`LINGER`] of the
//! first — one record when calls are few, dozens when many end together — and writes them with
//! their contact-card lines in a few statements and one transaction. Per call, that was a
//! transaction with four statements, each a round trip to the database's thread and a commit
//! (docs/benchmarks.md).
//!
//! No record is lost silently. While the database cannot be reached (restarting, the network)
//! the writer keeps the group and tries again, waiting longer each time up to 5 s
//! ([`super::until_reachable`]); the queue behind it holds [`QUEUE`] records, then calls that
//! end wait for room. A group the database refuses is written again one record at a time, and
//! a record that still fails goes to the log in full. [`Store::flush_call_records`] waits until
//! everything queued is written; a node that stops waits so for a while, then gives up on the
//! database and logs the rest in full ([`Store::flush_call_records_within`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{CompanyId, NewLogEntry, Store, Tenant};
use crate::records::CallRecord;

/// Records queued at most; a call ending beyond it waits for room (the database is behind).
const QUEUE: usize = 8192;
/// Records written in one group at most (the statements' bound values stay far below
/// PostgreSQL's 65,535 and SQLite's 32,766).
const GROUP: usize = 64;
/// How long the writer lets a group gather after its first record: a record is in the store
/// this much later, and at hundreds of calls a second a commit serves dozens of them.
const LINGER: Duration = Duration::from_millis(10);

pub(super) enum Queued {
    /// A record, and whether its lines go on its numbers' contact cards.
    Record(CompanyId, Box<CallRecord>, bool),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

pub(super) struct Journal {
    queue: mpsc::Sender<Queued>,
    /// Set when the node stops with the database unreachable: the rest goes to the log.
    give_up: Arc<AtomicBool>,
}

/// Starts the writer for `store`'s records; it ends when every sender is gone.
pub(super) fn start(store: Store) -> Journal {
    let (queue, rx) = mpsc::channel(QUEUE);
    let give_up = Arc::new(AtomicBool::new(false));
    // The writer holds the store without its journal (no cycle keeps it alive).
    let writer = Writer {
        store,
        give_up: give_up.clone(),
    };
    tokio::spawn(write_records(rx, writer));
    Journal { queue, give_up }
}

struct Writer {
    store: Store,
    give_up: Arc<AtomicBool>,
}

impl Writer {
    /// Runs `write` until it is done or fails for another reason than an unreachable database
    /// (that error is returned); waits between tries. Gives up at once when told to.
    async fn persist<F: Future<Output = super::Result<()>>>(
        &self,
        what: &str,
        write: impl Fn() -> F,
    ) -> super::Result<()> {
        super::until_reachable(Some(what), || self.give_up.load(Ordering::Relaxed), write).await
    }
}

async fn write_records(mut queue: mpsc::Receiver<Queued>, writer: Writer) {
    let mut group = Vec::with_capacity(GROUP);
    let mut flushes = Vec::new();
    while let Some(first) = queue.recv().await {
        tokio::time::sleep(LINGER).await;
        let mut next = Some(first);
        while let Some(queued) = next.take() {
            match queued {
                Queued::Record(company, record, on_cards) => group.push((company, *record, on_cards)),
                Queued::Flush(done) => flushes.push(done),
            }
            if group.len() < GROUP {
                next = queue.try_recv().ok();
            }
        }
        write_group(&writer, &group).await;
        group.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one group: the contact cards' lines first (once a call's record is there, everything
/// of the call is), then the records.
async fn write_group(writer: &Writer, queued: &[(CompanyId, CallRecord, bool)]) {
    if queued.is_empty() {
        return;
    }
    let store = &writer.store;
    let mut companies: Vec<CompanyId> = queued.iter().map(|(c, _, _)| *c).collect();
    companies.sort_unstable();
    companies.dedup();
    for company in companies {
        let records = queued
            .iter()
            .filter(|(c, _, on_cards)| *c == company && *on_cards)
            .map(|(_, r, _)| r);
        let (tenant, lines) = (store.company(company), card_lines(records));
        let written = writer
            .persist("contact cards' lines", || tenant.log_call_on_cards(&lines))
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not log calls on the contact cards");
        }
    }
    let group: Vec<(CompanyId, &CallRecord)> = queued.iter().map(|(c, r, _)| (*c, r)).collect();
    let written = writer
        .persist("call records", || store.insert_call_records(&group))
        .await;
    let Err(e) = written else {
        return;
    };
    if e.is_unreachable() {
        // Given up on (the node stops): trying each record would only wait for the database.
        for one in &group {
            tracing::error!(error = %e, record = ?one.1, "could not store the call record");
        }
        return;
    }
    tracing::warn!(error = %e, records = group.len(), "a group of call records: written one by one");
    for one in &group {
        if let Err(e) = store.insert_call_records(std::slice::from_ref(one)).await {
            // Never lose a record silently: it goes to the log in full.
            tracing::error!(error = %e, record = ?one.1, "could not store the call record");
        }
    }
}

/// A call from or to a number with a contact card goes into the card's history; a call in which
/// someone talked to the contact makes it the last contact.
fn card_lines<'a>(records: impl Iterator<Item = &'a CallRecord>) -> Vec<(&'a str, NewLogEntry<'a>, bool)> {
    let mut lines = Vec::new();
    for record in records {
        let line = |action| NewLogEntry {
            at: record.started_at,
            action,
            result: &record.outcome,
            employee: record.answered_by.as_deref(),
            call_id: Some(&record.id),
        };
        let reached = record.answered_by.is_some();
        lines.push((record.caller.as_str(), line("call-in"), reached));
        lines.push((record.dialled.as_str(), line("call-out"), reached));
    }
    lines
}

impl Tenant {
    /// Queues a finished call's record for the writer, with its lines on its numbers' contact
    /// cards (`on_cards`); waits only when the queue is full.
    pub async fn save_call_record(&self, record: CallRecord, on_cards: bool) {
        let queued = Queued::Record(self.id, Box::new(record), on_cards);
        if let Err(mpsc::error::SendError(Queued::Record(_, record, _))) = self.store.journal().queue.send(queued).await
        {
            tracing::error!(record = ?record, "the call record writer is gone: record not stored");
        }
    }
}

impl Store {
    /// Waits until every call record queued so far is written.
    pub async fn flush_call_records(&self) {
        let (done, written) = oneshot::channel();
        if self.journal().queue.send(Queued::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Waits until every call record queued so far is written, for `patience` at most while the
    /// database is unreachable; then logs what is left in full instead (a node that stops).
    /// False when it had to.
    pub async fn flush_call_records_within(&self, patience: Duration) -> bool {
        if tokio::time::timeout(patience, self.flush_call_records()).await.is_ok() {
            return true;
        }
        tracing::error!(
            ?patience,
            "the database stayed unreachable: the call records still queued go to the log"
        );
        self.journal().give_up.store(true, Ordering::Relaxed);
        self.flush_call_records().await;
        false
    }
}
