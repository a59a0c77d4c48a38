//! Busy lamps across nodes: each node tells the others its lines' states through the database's
//! NOTIFY (`Change::Lines`) — at once when one changes, and again every few seconds for the lines
//! in use — and forgets what another node said once that node stops repeating it (it died, or
//! a notice was lost): a lamp is never left lit by a node that is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{MAX_BATCH, from_another, notices};
use crate::sip::{LineNews, LineState, Presences};
use crate::store::{Change, Store};
use crate::tenant::CompanyId;

/// How often a node says its lines in use again: with its heartbeat.
const REPEAT: Duration = super::HEARTBEAT;
/// What a node said and did not say again for this long is forgotten: when a node counts as
/// gone (three repeats missed).
const FORGET_AFTER: Duration = super::GONE_AFTER;

/// Tells the other nodes of this node's lines from now on, in order, and forgets what they
/// said when they stop saying it.
pub(super) fn share(store: Store, node: String, presences: Arc<Presences>) {
    let Some(mut news) = presences.share() else {
        return;
    };
    tokio::spawn(async move {
        let mut repeat = tokio::time::interval(REPEAT);
        let mut batch = Vec::new();
        loop {
            let said = tokio::select! {
                got = news.recv_many(&mut batch, MAX_BATCH) => {
                    if got == 0 {
                        return;
                    }
                    std::mem::take(&mut batch)
                }
                _ = repeat.tick() => {
                    if let Some(before) = Instant::now().checked_sub(FORGET_AFTER) {
                        presences.forget_elsewhere(before);
                    }
                    presences.in_use_here()
                }
            };
            for notice in encode(&node, &said) {
                store.announce(Change::Lines(notice)).await;
            }
        }
    });
}

/// What another node said of its lines; nothing for this node's own notices.
pub(super) fn heard(notice: &str, own: &str, presences: &Presences) {
    let Some((node, entries)) = from_another(notice, own) else {
        return;
    };
    for news in entries.filter_map(decode) {
        presences.heard(node, news);
    }
}

/// Notices saying `lines` for `node`: a line each — company, state, login.
fn encode(node: &str, lines: &[LineNews]) -> Vec<String> {
    let entries = lines
        .iter()
        .map(|line| format!("{} {} {}", line.company.0, letter(line.state), line.login));
    notices(node, entries)
}

fn decode(entry: &str) -> Option<LineNews> {
    let mut fields = entry.splitn(3, ' ');
    let company = CompanyId(fields.next()?.parse().ok()?);
    let state = match fields.next()? {
        "i" => LineState::Idle,
        "r" => LineState::Ringing,
        "b" => LineState::Busy,
        _ => return None,
    };
    let login = fields.next().filter(|l| !l.is_empty())?.to_owned();
    Some(LineNews { company, login, state })
}

fn letter(state: LineState) -> char {
    match state {
        LineState::Idle => 'i',
        LineState::Ringing => 'r',
        LineState::Busy => 'b',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn news(company: i64, login: &str, state: LineState) -> LineNews {
        LineNews {
            company: CompanyId(company),
            login: login.into(),
            state,
        }
    }

    /// What one node says another hears, in notices PostgreSQL takes; a node ignores its own.
    #[test]
    fn notices_carry_every_line_and_stay_under_the_payload_limit() {
        let said: Vec<LineNews> = (0..500)
            .map(|n| news(n % 3 + 1, &format!("employee-{n}"), LineState::Busy))
            .chain([news(2, "bob", LineState::Idle), news(2, "carol", LineState::Ringing)])
            .collect();
        let notices = encode("a1", &said);
        assert!(notices.len() > 1 && notices.iter().all(|n| n.len() <= super::super::MAX_NOTICE));
        let decoded: Vec<LineNews> = notices
            .iter()
            .flat_map(|n| n.lines().skip(1).filter_map(decode).collect::<Vec<_>>())
            .collect();
        assert_eq!(decoded, said);
        assert_eq!(decode("x b bob"), None);
        assert_eq!(decode("2 z bob"), None);
        assert_eq!(decode("2 b"), None);
    }

    /// Bob's line is busy on node b: node a's lamp for him lights, goes out when b says he is
    /// idle, and goes out too when b stops saying he is busy (b died).
    #[test]
    fn another_nodes_line_lights_the_lamp_until_it_is_idle_or_forgotten() {
        let presences = Presences::default();
        let bob = |state| encode("b", &[news(2, "bob", state)]).remove(0);
        heard(&bob(LineState::Busy), "a", &presences);
        assert_eq!(presences.of(CompanyId(2)).state("bob"), LineState::Busy);
        assert_eq!(
            presences.of(CompanyId(1)).state("bob"),
            LineState::Idle,
            "another company's bob"
        );
        heard(&bob(LineState::Idle), "a", &presences);
        assert_eq!(presences.of(CompanyId(2)).state("bob"), LineState::Idle);
        heard(&bob(LineState::Ringing), "a", &presences);
        heard(&bob(LineState::Busy), "b", &presences);
        assert_eq!(
            presences.of(CompanyId(2)).state("bob"),
            LineState::Ringing,
            "a node's own notices are not news"
        );
        let local = presences.of(CompanyId(2)).talking("bob");
        presences.forget_elsewhere(Instant::now());
        assert_eq!(
            presences.of(CompanyId(2)).state("bob"),
            LineState::Busy,
            "this node's call"
        );
        drop(local);
        assert_eq!(
            presences.of(CompanyId(2)).state("bob"),
            LineState::Idle,
            "b is forgotten"
        );
        assert!(presences.in_use_here().is_empty());
    }

    /// This node's line changes come out for the other nodes, and its lines in use are said again.
    #[tokio::test]
    async fn this_nodes_changes_are_told() {
        let presences = Presences::default();
        let mut told = presences.share().unwrap();
        assert!(presences.share().is_none(), "once per node");
        let ringing = presences.of(CompanyId(3)).ringing("dave");
        assert_eq!(told.recv().await, Some(news(3, "dave", LineState::Ringing)));
        assert_eq!(presences.in_use_here(), [news(3, "dave", LineState::Ringing)]);
        heard(
            &encode("b", &[news(3, "erin", LineState::Busy)]).remove(0),
            "a",
            &presences,
        );
        drop(ringing);
        assert_eq!(told.recv().await, Some(news(3, "dave", LineState::Idle)));
        assert!(told.try_recv().is_err(), "what other nodes said is not told again");
    }
}
