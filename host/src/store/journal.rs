//! Call records are written off the call's path, in groups (group commit): a call that ends
//! queues its record and is done; one writer takes whatever is queued within [`LINGER`] of the
//! first — one record when calls are few, dozens when many end together — and writes them with
//! their contact-card lines in a few statements and one transaction. Per call, that was a
//! transaction with four statements, each a round trip to the database's thread and a commit
//! (docs/benchmarks.md).
//!
//! No record is lost silently: a group the database refuses is written again one record at a
//! time, and a record that still fails goes to the log in full. [`Store::flush_call_records`]
//! waits until everything queued is written (a node that stops calls it).

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
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

pub(super) enum Queued {
    /// A record, and whether its lines go on its numbers' contact cards.
    Record(CompanyId, Box<CallRecord>, bool),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

pub(super) type Journal = mpsc::Sender<Queued>;

/// Starts the writer for `store`'s records; it ends when every sender is gone.
pub(super) fn start(store: Store) -> Journal {
    let (tx, rx) = mpsc::channel(QUEUE);
    // The writer holds the store without its journal (no cycle keeps it alive).
    tokio::spawn(write_records(rx, store));
    tx
}

async fn write_records(mut queue: mpsc::Receiver<Queued>, store: Store) {
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
        write_group(&store, &group).await;
        group.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one group: the contact cards' lines first (once a call's record is there, everything
/// of the call is), then the records.
async fn write_group(store: &Store, queued: &[(CompanyId, CallRecord, bool)]) {
    if queued.is_empty() {
        return;
    }
    let mut companies: Vec<CompanyId> = queued.iter().map(|(c, _, _)| *c).collect();
    companies.sort_unstable();
    companies.dedup();
    for company in companies {
        let records = queued
            .iter()
            .filter(|(c, _, on_cards)| *c == company && *on_cards)
            .map(|(_, r, _)| r);
        log_on_contact_cards(&store.company(company), records).await;
    }
    let group: Vec<(CompanyId, &CallRecord)> = queued.iter().map(|(c, r, _)| (*c, r)).collect();
    if let Err(e) = store.insert_call_records(&group).await {
        tracing::warn!(error = %e, records = group.len(), "a group of call records: written one by one");
        for one in &group {
            if let Err(e) = store.insert_call_records(std::slice::from_ref(one)).await {
                // Never lose a record silently: it goes to the log in full.
                tracing::error!(error = %e, record = ?one.1, "could not store the call record");
            }
        }
    }
}

/// A call from or to a number with a contact card goes into the card's history; a call in which
/// someone talked to the contact makes it the last contact.
async fn log_on_contact_cards<'a>(tenant: &Tenant, records: impl Iterator<Item = &'a CallRecord>) {
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
    if let Err(e) = tenant.log_call_on_cards(&lines).await {
        tracing::warn!(error = %e, "could not log calls on the contact cards");
    }
}

impl Tenant {
    /// Queues a finished call's record for the writer, with its lines on its numbers' contact
    /// cards (`on_cards`); waits only when the queue is full.
    pub async fn save_call_record(&self, record: CallRecord, on_cards: bool) {
        let queued = Queued::Record(self.id, Box::new(record), on_cards);
        if let Err(mpsc::error::SendError(Queued::Record(_, record, _))) = self.store.journal().send(queued).await {
            tracing::error!(record = ?record, "the call record writer is gone: record not stored");
        }
    }
}

impl Store {
    /// Waits until every call record queued so far is written.
    pub async fn flush_call_records(&self) {
        let (done, written) = oneshot::channel();
        if self.journal().send(Queued::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}
