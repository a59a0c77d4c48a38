//! How a department's members ring: everyone at once, in turn, or increasingly. The plan is a
//! list of ring steps for the fork, built from the members' reachable places in hunting order.

use std::time::Duration;

use super::fork::RingStep;

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

/// The ring steps for members (each with their own steps — phones now, the mobile after his
/// "mobile after N s" — in hunting order). A member's steps count from his turn: in turn they
/// end with it (a mobile due after the turn never rings). Members nobody can reach take no turn;
/// nothing rings after `timeout`.
pub fn plan(strategy: Strategy, step: Duration, timeout: Duration, members: Vec<Vec<RingStep>>) -> Vec<RingStep> {
    let reachable = members
        .into_iter()
        .filter(|steps| steps.iter().any(|s| !s.places.is_empty()));
    let mut plan = Vec::new();
    for (turn, steps) in reachable.enumerate() {
        let start = match strategy {
            Strategy::RingAll => Duration::ZERO,
            _ => step * turn as u32,
        };
        // How long the member's turn lasts from its start.
        let turn_length = match strategy {
            Strategy::InTurn => step,
            _ => timeout,
        };
        for own in steps.into_iter().filter(|s| !s.places.is_empty()) {
            let after = start + own.after;
            if own.after >= turn_length || after >= timeout {
                continue;
            }
            let left = (turn_length - own.after).min(timeout - after);
            plan.push(RingStep {
                after,
                ring_for: Some(own.ring_for.map_or(left, |r| r.min(left))),
                ..own
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::fork::Reachable;

    fn place(who: &str) -> Reachable {
        Reachable {
            uri: format!("sip:{who}@127.0.0.1"),
            destination: "127.0.0.1:5060".parse().unwrap(),
            route: String::new(),
            user: who.into(),
            employee: Some(who.into()),
            caller_id: None,
            login: None,
            toll: None,
        }
    }

    /// A member with one registered phone.
    fn phone(who: &str) -> Vec<RingStep> {
        RingStep::now(vec![place(who)])
    }

    /// A member with a phone and a mobile `after` into his turn.
    fn phone_and_mobile(who: &str, after: u64) -> Vec<RingStep> {
        let mut steps = phone(who);
        steps.push(RingStep {
            after: Duration::from_secs(after),
            ring_for: None,
            places: vec![place(&format!("{who}-mobile"))],
            mobile: true,
        });
        steps
    }

    fn nobody() -> Vec<RingStep> {
        RingStep::now(vec![])
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
        let steps = plan(Strategy::RingAll, S, T, vec![phone("a"), nobody(), phone("c")]);
        assert_eq!(timing(&steps), [(0, Some(25), 1), (0, Some(25), 1)]);
    }

    #[test]
    fn in_turn_skips_the_unreachable_and_stops_at_the_timeout() {
        let steps = plan(
            Strategy::InTurn,
            S,
            T,
            vec![phone("a"), nobody(), phone("b"), phone("c"), phone("d")],
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

    #[test]
    fn each_members_mobile_rings_by_his_own_rule_within_his_turn() {
        let members = || vec![phone_and_mobile("a", 5), phone_and_mobile("b", 12), phone("c")];
        // In turn (10 s each): a's mobile at 5 s for the rest of his turn; b's would come after
        // his turn ends, so it never rings.
        let steps = plan(Strategy::InTurn, S, T, members());
        assert_eq!(
            timing(&steps),
            [(0, Some(10), 1), (5, Some(5), 1), (10, Some(10), 1), (20, Some(5), 1)]
        );
        assert!(steps[1].mobile && !steps[2].mobile);
        // Increasingly: b's mobile 12 s into his turn (at 22 s), until the timeout.
        let steps = plan(Strategy::Increasingly, S, T, members());
        assert_eq!(
            timing(&steps),
            [
                (0, Some(25), 1),
                (5, Some(20), 1),
                (10, Some(15), 1),
                (22, Some(3), 1),
                (20, Some(5), 1)
            ]
        );
        // A member whose only way in is his mobile still takes his turn.
        let offline = vec![nobody()[0].clone(), phone_and_mobile("d", 0)[1].clone()];
        let steps = plan(Strategy::InTurn, S, T, vec![offline, phone("e")]);
        assert_eq!(timing(&steps), [(0, Some(10), 1), (10, Some(10), 1)]);
    }
}
