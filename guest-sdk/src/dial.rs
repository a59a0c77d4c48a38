//! The dial builder: every ringing strategy is a schedule of timed legs.

use crate::{CallApi, CallError, DialOptions, DialOutcome, ScreenedOutcome, Screening, Target, TimedLeg};

/// Builds a `dial`: which targets ring when, and for how long.
///
/// ```ignore
/// Dial::ring_all([Target::Employee("17".into())]).timeout_secs(30).run(call)?;
/// ```
#[derive(Debug, Clone)]
pub struct Dial {
    legs: Vec<TimedLeg>,
    options: DialOptions,
    /// Ring each employee's mobile this long after his phones (instead of his own rule).
    mobile_after_ms: Option<u32>,
}

impl Dial {
    /// Every target rings at once; the first to answer wins.
    pub fn ring_all(targets: impl IntoIterator<Item = Target>) -> Self {
        Self::from_legs(targets.into_iter().map(|target| TimedLeg {
            target,
            start_after_ms: 0,
            stop_after_ms: None,
        }))
    }

    /// One target at a time, each for `delay_ms`; the previous leg stops when the next starts.
    pub fn in_turn(targets: impl IntoIterator<Item = Target>, delay_ms: u32) -> Self {
        Self::from_legs(targets.into_iter().enumerate().map(|(i, target)| TimedLeg {
            target,
            start_after_ms: delay_ms.saturating_mul(i as u32),
            stop_after_ms: Some(delay_ms),
        }))
    }

    /// One more target every `delay_ms`; earlier legs keep ringing.
    pub fn increasingly(targets: impl IntoIterator<Item = Target>, delay_ms: u32) -> Self {
        Self::from_legs(targets.into_iter().enumerate().map(|(i, target)| TimedLeg {
            target,
            start_after_ms: delay_ms.saturating_mul(i as u32),
            stop_after_ms: None,
        }))
    }

    fn from_legs(legs: impl Iterator<Item = TimedLeg>) -> Self {
        let legs: Vec<TimedLeg> = legs.collect();
        // Default timeout: long enough for the last leg to ring for 30 s.
        let last_start = legs.iter().map(|l| l.start_after_ms).max().unwrap_or(0);
        Dial {
            legs,
            options: DialOptions {
                timeout_ms: last_start.saturating_add(30_000),
                caller_id: None,
                ringback: None,
            },
            mobile_after_ms: None,
        }
    }

    /// Also ring `target` (e.g. a mobile) starting `secs` seconds after the dial begins.
    pub fn then_after(mut self, target: Target, secs: u32) -> Self {
        self.legs.push(TimedLeg {
            target,
            start_after_ms: secs.saturating_mul(1000),
            stop_after_ms: None,
        });
        self
    }

    /// Rings each employee's mobile `secs` seconds after his phones start (and stops it with
    /// them), instead of by the employee's own "mobile after N s" setting — "desk phone now,
    /// mobile after 10 s" for everyone this dial rings. Employees without a mobile ring as
    /// before.
    pub fn then_mobile_after(mut self, secs: u32) -> Self {
        self.mobile_after_ms = Some(secs.saturating_mul(1000));
        self
    }

    pub fn timeout_secs(self, secs: u32) -> Self {
        self.timeout_ms(secs.saturating_mul(1000))
    }

    /// Gives up when nobody answered within `ms` (e.g. a target's own
    /// [`CallApi::ring_time_ms`](crate::CallApi::ring_time_ms)).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.options.timeout_ms = ms;
        self
    }

    pub fn caller_id(mut self, number: impl Into<String>) -> Self {
        self.options.caller_id = Some(number.into());
        self
    }

    /// What the caller hears while the legs ring instead of the ringback tone, e.g. the
    /// built-in `hold-music`: it plays from the start, looped (as early media to a caller not
    /// answered yet).
    pub fn ringback(mut self, prompt: impl Into<String>) -> Self {
        self.options.ringback = Some(prompt.into());
        self
    }

    pub fn legs(&self) -> &[TimedLeg] {
        &self.legs
    }

    pub fn run(&self, call: &impl CallApi) -> Result<DialOutcome, CallError> {
        self.with_legs(call, |legs| call.dial(legs, &self.options))
    }

    /// Rings like [`Dial::run`], but whoever answers first is screened: he hears
    /// `screening.announce` and accepts with `screening.accept_digit` before the caller is put
    /// through.
    pub fn run_screened(&self, call: &impl CallApi, screening: &Screening) -> Result<ScreenedOutcome, CallError> {
        self.with_legs(call, |legs| call.dial_screened(legs, &self.options, screening))
    }

    /// Calls `dial` with this dial's legs — and the employees' mobiles, with
    /// [`Dial::then_mobile_after`], instead of their own rule.
    fn with_legs<T>(&self, call: &impl CallApi, dial: impl FnOnce(&[TimedLeg]) -> T) -> T {
        let Some(after) = self.mobile_after_ms else {
            return dial(&self.legs);
        };
        let mut legs = self.legs.clone();
        for leg in &self.legs {
            let Target::Employee(login) = &leg.target else { continue };
            let Some(mobile) = call.employee(login).map(|e| e.mobile).filter(|m| !m.is_empty()) else {
                continue;
            };
            // A leg that stops before its mobile's turn rings no mobile.
            if leg.stop_after_ms.is_some_and(|stop| stop <= after) {
                continue;
            }
            legs.push(TimedLeg {
                target: Target::External(mobile),
                start_after_ms: leg.start_after_ms.saturating_add(after),
                stop_after_ms: leg.stop_after_ms.map(|stop| stop - after),
            });
        }
        legs.retain(|l| l.start_after_ms < self.options.timeout_ms);
        // The mobiles are this dial's legs now, not the employees' own rule.
        let before = call.rings_mobiles();
        call.ring_mobiles(false);
        let outcome = dial(&legs);
        call.ring_mobiles(before);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Target> {
        (0..n).map(|i| Target::Employee(i.to_string())).collect()
    }

    #[test]
    fn in_turn_staggers_and_stops_each_leg() {
        let d = Dial::in_turn(ids(3), 10_000);
        let starts: Vec<u32> = d.legs().iter().map(|l| l.start_after_ms).collect();
        assert_eq!(starts, [0, 10_000, 20_000]);
        assert!(d.legs().iter().all(|l| l.stop_after_ms == Some(10_000)));
    }

    #[test]
    fn increasingly_keeps_earlier_legs_ringing() {
        let d = Dial::increasingly(ids(3), 5_000);
        let starts: Vec<u32> = d.legs().iter().map(|l| l.start_after_ms).collect();
        assert_eq!(starts, [0, 5_000, 10_000]);
        assert!(d.legs().iter().all(|l| l.stop_after_ms.is_none()));
        assert_eq!(d.options.timeout_ms, 40_000);
    }

    #[test]
    fn then_mobile_after_rings_each_employees_mobile_in_his_turn() {
        use crate::EmployeeCard;
        use crate::testing::{TestCall, employee};
        let with_mobile = |login: &str, mobile: &str| EmployeeCard {
            mobile: mobile.into(),
            ..employee(login)
        };
        let call = TestCall::new()
            .employee(with_mobile("0", "+15550100900"))
            .employee(with_mobile("1", ""))
            .employee(with_mobile("2", "+15550100902"));
        Dial::in_turn(ids(3), 15_000).then_mobile_after(10).run(&call).unwrap();
        let legs = &call.dials()[0];
        let mobiles: Vec<(String, u32, Option<u32>)> = legs[3..]
            .iter()
            .map(|l| match &l.target {
                Target::External(n) => (n.clone(), l.start_after_ms, l.stop_after_ms),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            mobiles,
            [
                ("+15550100900".to_string(), 10_000, Some(5_000)),
                ("+15550100902".to_string(), 40_000, Some(5_000))
            ],
            "employee 1 has no mobile"
        );
        // The employees' own rule is off for this dial only.
        assert!(call.decisions().contains(&"ring-mobiles off".to_string()));
        assert_eq!(call.decisions().last().unwrap(), "ring-mobiles on");
        assert!(call.rings_mobiles());
    }

    #[test]
    fn mobile_after_adds_a_late_leg() {
        let d = Dial::ring_all(ids(1)).then_after(Target::External("+15550100".into()), 10);
        assert_eq!(d.legs()[1].start_after_ms, 10_000);
    }
}
