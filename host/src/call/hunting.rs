//! How a department's members ring: everyone at once, in turn, or increasingly. The plan is a
//! list of ring steps for the fork, built from the members' reachable places in hunting order.

use std::time::Duration;

use super::fork::{Reachable, RingStep};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every member at once.
    RingAll,
    /// One member at a time, each for a step; the previous stops as the next starts.
    InTurn,
    /// One more member every step; earlier ones keep ringing.
    Increasingly,
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ring_all" => Ok(Strategy::RingAll),
            "in_turn" => Ok(Strategy::InTurn),
            "increasingly" => Ok(Strategy::Increasingly),
            other => Err(format!("{other:?}: use ring_all, in_turn or increasingly")),
        }
    }
}

/// The ring steps for members (each with their places, in hunting order). Members nobody can
/// reach take no turn; nothing rings after `timeout`.
pub fn plan(strategy: Strategy, step: Duration, timeout: Duration, members: Vec<Vec<Reachable>>) -> Vec<RingStep> {
    let reachable: Vec<Vec<Reachable>> = members.into_iter().filter(|p| !p.is_empty()).collect();
    if strategy == Strategy::RingAll {
        return vec![RingStep {
            after: Duration::ZERO,
            ring_for: Some(timeout),
            places: reachable.into_iter().flatten().collect(),
            mobile: false,
        }];
    }
    reachable
        .into_iter()
        .enumerate()
        .map(|(turn, places)| (step * turn as u32, places))
        .take_while(|(after, _)| *after < timeout)
        .map(|(after, places)| {
            let left = timeout - after;
            RingStep {
                after,
                ring_for: Some(match strategy {
                    Strategy::InTurn => step.min(left),
                    _ => left,
                }),
                places,
                mobile: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(who: &str) -> Vec<Reachable> {
        vec![Reachable {
            uri: format!("sip:{who}@127.0.0.1"),
            destination: "127.0.0.1:5060".parse().unwrap(),
            user: who.into(),
            employee: Some(who.into()),
            caller_id: None,
            login: None,
        }]
    }

    fn timing(steps: &[RingStep]) -> Vec<(u64, Option<u64>, usize)> {
        steps
            .iter()
            .map(|s| (s.after.as_secs(), s.ring_for.map(|d| d.as_secs()), s.places.len()))
            .collect()
    }

    const S: Duration = Duration::from_secs(10);
    const T: Duration = Duration::from_secs(25);

    #[test]
    fn ring_all_rings_every_reachable_member_at_once() {
        let steps = plan(Strategy::RingAll, S, T, vec![phone("a"), vec![], phone("c")]);
        assert_eq!(timing(&steps), [(0, Some(25), 2)]);
    }

    #[test]
    fn in_turn_skips_the_unreachable_and_stops_at_the_timeout() {
        let steps = plan(
            Strategy::InTurn,
            S,
            T,
            vec![phone("a"), vec![], phone("b"), phone("c"), phone("d")],
        );
        assert_eq!(timing(&steps), [(0, Some(10), 1), (10, Some(10), 1), (20, Some(5), 1)]);
    }

    #[test]
    fn increasingly_keeps_earlier_members_ringing() {
        let steps = plan(Strategy::Increasingly, S, T, vec![phone("a"), phone("b")]);
        assert_eq!(timing(&steps), [(0, Some(25), 1), (10, Some(15), 1)]);
        assert_eq!("in_turn".parse(), Ok(Strategy::InTurn));
        assert!("round_robin".parse::<Strategy>().is_err());
    }
}
