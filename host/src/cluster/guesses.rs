//! Password guessing across nodes: each node tells the others through the database's NOTIFY
//! (`Change::Guesses`) of every wrong password it counts, and of a right one that forgave
//! wrong ones, and counts what they tell it as its own. The proxy spreads a guesser's requests
//! over the nodes by Call-ID; counted together, he is locked out after as many wrong guesses
//! as one node allows. A node that was not listening (its connection to the database dropped)
//! misses some: it then counts fewer, never more.

use std::sync::Arc;

use super::{MAX_BATCH, from_another, notices};
use crate::store::{Change, Store};
use crate::throttle::{Guess, Guesses};

/// The counters of wrong passwords the nodes share: SIP digests' and API logins'.
#[derive(Clone)]
pub struct GuessCounters {
    pub sip: Arc<Guesses>,
    pub logins: Arc<Guesses>,
}

impl GuessCounters {
    /// Each counter with the letter that names it in a notice.
    fn each(&self) -> [(char, &Arc<Guesses>); 2] {
        [('s', &self.sip), ('a', &self.logins)]
    }
}

/// Tells the other nodes of this node's guesses from now on, a round of notices at a time.
pub(super) fn share(store: &Store, node: &str, counters: &GuessCounters) {
    for (kind, guesses) in counters.each() {
        let Some(mut told) = guesses.share() else { continue };
        let (store, node) = (store.clone(), node.to_owned());
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while told.recv_many(&mut batch, MAX_BATCH).await > 0 {
                for notice in notices(&node, batch.drain(..).map(|guess| encode(kind, &guess))) {
                    store.announce(Change::Guesses(notice)).await;
                }
            }
        });
    }
}

/// Counts the guesses another node told of; nothing for this node's own notices.
pub(super) fn heard(notice: &str, own: &str, counters: &GuessCounters) {
    let Some((_, entries)) = from_another(notice, own) else {
        return;
    };
    for (kind, guess) in entries.filter_map(decode) {
        if let Some((_, guesses)) = counters.each().into_iter().find(|(k, _)| *k == kind) {
            guesses.heard(guess);
        }
    }
}

/// One guess, a line: the counter's letter and `w` (wrong) or `r` (right), the address, the
/// account (a line break in it, which no account has, becomes a space).
fn encode(kind: char, guess: &Guess) -> String {
    let outcome = if guess.right { 'r' } else { 'w' };
    let account = guess.account.replace(['\n', '\r'], " ");
    format!("{kind}{outcome} {} {account}", guess.ip)
}

fn decode(entry: &str) -> Option<(char, Guess)> {
    let mut fields = entry.splitn(3, ' ');
    let mut letters = fields.next()?.chars();
    let (kind, right) = match (letters.next()?, letters.next()?, letters.next()) {
        (kind, 'w', None) => (kind, false),
        (kind, 'r', None) => (kind, true),
        _ => return None,
    };
    let ip = fields.next()?.parse().ok()?;
    let account = fields.next()?.to_owned();
    Some((kind, Guess { ip, account, right }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::GuessLimits;

    fn counters() -> GuessCounters {
        GuessCounters {
            sip: Arc::new(Guesses::new(GuessLimits::SIP)),
            logins: Arc::new(Guesses::new(GuessLimits::API)),
        }
    }

    /// Five wrong SIP passwords for alice from one address, told by node b, lock that address
    /// out of alice on node a — for SIP only; an API login guess lands in the logins' counter;
    /// a node's own notices and malformed entries count for nothing.
    #[test]
    fn what_another_node_counted_locks_here() {
        let a = counters();
        let stranger: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let wrong = |account: &str| Guess {
            ip: stranger,
            account: account.into(),
            right: false,
        };
        let said: Vec<String> = (0..5).map(|_| encode('s', &wrong("alice"))).collect();
        heard(&notices("b", said.clone()).remove(0), "b", &a);
        assert_eq!(a.sip.locked(stranger, "alice"), None, "a node's own notice");
        let junk = [
            "sx 192.0.2.7 alice",
            "s 192.0.2.7 alice",
            "sww 192.0.2.7 alice",
            "sw nowhere alice",
        ];
        heard(&notices("b", junk.map(String::from)).remove(0), "a", &a);
        assert_eq!(decode("sw 192.0.2.7"), None);
        assert_eq!(a.sip.locked(stranger, "alice"), None, "malformed entries");

        heard(&notices("b", said).remove(0), "a", &a);
        assert!(a.sip.locked(stranger, "alice").is_some());
        assert_eq!(a.logins.locked(stranger, "alice"), None);

        let login = encode('a', &wrong("bob\nsw 192.0.2.7 carol"));
        assert_eq!(login, "aw 192.0.2.7 bob sw 192.0.2.7 carol", "one entry, one line");
        let (kind, guess) = decode(&login).unwrap();
        assert_eq!((kind, guess.account.as_str()), ('a', "bob sw 192.0.2.7 carol"));
        let forgiven = Guess {
            right: true,
            ..wrong("alice")
        };
        heard(&notices("b", [encode('s', &forgiven)]).remove(0), "a", &a);
        assert_eq!(a.sip.locked(stranger, "alice"), None, "the right password, on b");
    }
}
