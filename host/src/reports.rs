//! Call reports: per employee, department or number over a period, what the company's call
//! records add up to — calls offered, answered, missed, left as voicemail, the callers' average
//! and longest wait, talk time, and the service level (answered within N seconds). Computed
//! from the records themselves (one pass, in memory), so every store computes them alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::records::{CallRecord, CallResult};

/// What a report's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportBy {
    /// Each employee whose phones the calls rang.
    Employee,
    /// Each department the calls were offered to.
    Department,
    /// Each of the company's numbers that was dialled.
    Number,
}

/// One row of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The employee's login, the department's id or the number.
    pub key: String,
    /// Calls offered to it (rang it, were routed to it, were dialled).
    pub offered: u64,
    /// Of those, answered by it (an employee: he answered; a department: answered while it was
    /// the last department the call was offered to; a number: by anyone).
    pub answered: u64,
    /// Of those, nobody answered and the caller left no message.
    pub missed: u64,
    /// Of the missed, the caller hung up while waiting in a queue.
    pub abandoned: u64,
    /// Of those, nobody answered and the caller left a message.
    pub voicemail: u64,
    /// Offered to it, answered elsewhere (an overflow, a colleague).
    pub answered_elsewhere: u64,
    /// The callers' average wait until answered, over the answered calls (ms).
    pub average_wait_ms: u64,
    /// The longest any caller waited, answered or not (ms).
    pub longest_wait_ms: u64,
    /// Talk time of the answered calls (s).
    pub talk_secs: u64,
    /// Answered within the service level's seconds, as a share of those offered (0–100).
    pub service_level_percent: f64,
}

/// A report over `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub by: ReportBy,
    /// Unix ms.
    pub since: i64,
    pub until: i64,
    pub service_level_secs: u32,
    /// Call records the report was made from.
    pub calls: usize,
    pub rows: Vec<ReportRow>,
}

/// Per-row sums before the averages.
#[derive(Default)]
struct Tally {
    row: ReportRow,
    answered_wait_ms: u64,
    within_level: u64,
}

impl Tally {
    fn count(&mut self, call: &CallRecord, answered_here: bool, level_ms: i64) {
        let wait = call.wait_ms.max(0);
        self.row.offered += 1;
        self.row.longest_wait_ms = self.row.longest_wait_ms.max(wait as u64);
        match call.result {
            CallResult::Answered if answered_here => {
                self.row.answered += 1;
                self.answered_wait_ms += wait as u64;
                self.row.talk_secs += talk_secs(call);
                if wait <= level_ms {
                    self.within_level += 1;
                }
            }
            CallResult::Answered => self.row.answered_elsewhere += 1,
            CallResult::Voicemail => self.row.voicemail += 1,
            CallResult::Abandoned => {
                self.row.missed += 1;
                self.row.abandoned += 1;
            }
            CallResult::Missed | CallResult::Failed | CallResult::SelfService => self.row.missed += 1,
        }
    }

    fn finish(mut self) -> ReportRow {
        self.row.average_wait_ms = self.answered_wait_ms.checked_div(self.row.answered).unwrap_or(0);
        if self.row.offered > 0 {
            let share = self.within_level as f64 * 100.0 / self.row.offered as f64;
            self.row.service_level_percent = (share * 10.0).round() / 10.0;
        }
        self.row
    }
}

/// Seconds the caller talked to whoever answered (the answered legs' time; supervisors only
/// watched).
fn talk_secs(call: &CallRecord) -> u64 {
    let ms: i64 = parties(call)
        .filter_map(|l| Some(l.ended_at? - l.answered_at?))
        .filter(|ms| *ms > 0)
        .sum();
    (ms as u64).div_ceil(1000)
}

/// The legs of the call's parties: those offered it, not its supervisors.
fn parties(call: &CallRecord) -> impl Iterator<Item = &crate::records::LegRecord> {
    call.legs.iter().filter(|l| !l.is_supervisor())
}

/// The report of `calls` (the company's records of the period) by `by`, counting answers
/// within `service_level_secs` towards the service level.
pub fn report(calls: &[CallRecord], by: ReportBy, since: i64, until: i64, service_level_secs: u32) -> Report {
    let level_ms = i64::from(service_level_secs) * 1000;
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for call in calls {
        match by {
            ReportBy::Number => {
                // Calls to the company's numbers (run by a flow); not employees' own calls.
                if call.flow.is_some() && call.result != CallResult::SelfService {
                    tallies
                        .entry(call.dialled.clone())
                        .or_default()
                        .count(call, true, level_ms);
                }
            }
            ReportBy::Department => {
                let departments: Vec<&str> = call
                    .offered_to
                    .iter()
                    .filter_map(|o| o.strip_prefix("department:"))
                    .collect();
                for (i, department) in departments.iter().enumerate() {
                    // The call was the last department's to answer; earlier ones overflowed.
                    let last = i + 1 == departments.len();
                    let tally = tallies.entry(department.to_string()).or_default();
                    match (last, call.result) {
                        (
                            false,
                            CallResult::Answered | CallResult::Missed | CallResult::Abandoned | CallResult::Voicemail,
                        ) => {
                            tally.row.offered += 1;
                            tally.row.answered_elsewhere += 1;
                        }
                        _ => tally.count(call, last, level_ms),
                    }
                }
            }
            ReportBy::Employee => {
                let mut rung: Vec<&str> = parties(call).filter_map(|l| l.employee.as_deref()).collect();
                rung.sort_unstable();
                rung.dedup();
                for employee in rung {
                    let his = parties(call).any(|l| l.employee.as_deref() == Some(employee) && l.answered_at.is_some());
                    tallies
                        .entry(employee.to_string())
                        .or_default()
                        .count(call, his, level_ms);
                }
            }
        }
    }
    Report {
        by,
        since,
        until,
        service_level_secs,
        calls: calls.len(),
        rows: tallies
            .into_iter()
            .map(|(key, tally)| ReportRow { key, ..tally.finish() })
            .collect(),
    }
}

impl Report {
    /// The report as CSV: a header line, then one line per row.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "key,offered,answered,missed,abandoned,voicemail,answered_elsewhere,average_wait_ms,longest_wait_ms,talk_secs,service_level_percent\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{:.1}\n",
                csv_field(&r.key),
                r.offered,
                r.answered,
                r.missed,
                r.abandoned,
                r.voicemail,
                r.answered_elsewhere,
                r.average_wait_ms,
                r.longest_wait_ms,
                r.talk_secs,
                r.service_level_percent
            ));
        }
        out
    }
}

/// A CSV field, quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_field(value: &str) -> String {
    let value = match value.starts_with(['=', '+', '-', '@']) && !value[1..].bytes().all(|b| b.is_ascii_digit()) {
        true => format!("'{value}"),
        false => value.to_string(),
    };
    match value.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", value.replace('"', "\"\"")),
        false => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::LegRecord;

    fn leg(employee: &str, started_at: i64, answered_at: Option<i64>, ended_at: i64) -> LegRecord {
        LegRecord {
            to: employee.into(),
            employee: Some(employee.into()),
            started_at,
            answered_at,
            ended_at: Some(ended_at),
            result: if answered_at.is_some() { "answered" } else { "stopped" }.into(),
        }
    }

    fn call(id: &str, result: CallResult, offered: &[&str], legs: Vec<LegRecord>, wait_ms: i64) -> CallRecord {
        CallRecord {
            id: id.into(),
            sip_call_id: id.into(),
            caller: "+15550100001".into(),
            dialled: "+15550100400".into(),
            flow: Some("f".into()),
            started_at: 0,
            answered_at: Some(0),
            answered_by: None,
            ended_at: 100_000,
            outcome: "completed".into(),
            trace: Vec::new(),
            legs,
            result,
            offered_to: offered.iter().map(|s| s.to_string()).collect(),
            ended_in: None,
            wait_ms,
        }
    }

    /// Three calls to sales: bob answers one after 10 s and talks 60 s (carol, a supervisor,
    /// listens for 30 s of it); one overflows to support where dave answers after 30 s; one
    /// nobody answers (alice and bob rang), a message is left.
    fn calls() -> Vec<CallRecord> {
        let carol_listens = LegRecord {
            result: "listened".into(),
            ..leg("carol", 20_000, Some(20_000), 50_000)
        };
        vec![
            call(
                "a",
                CallResult::Answered,
                &["department:sales"],
                vec![
                    leg("alice", 0, None, 5_000),
                    leg("bob", 5_000, Some(10_000), 70_000),
                    carol_listens,
                ],
                10_000,
            ),
            call(
                "b",
                CallResult::Answered,
                &["department:sales", "department:support"],
                vec![leg("alice", 0, None, 20_000), leg("dave", 20_000, Some(30_000), 40_000)],
                30_000,
            ),
            call(
                "c",
                CallResult::Voicemail,
                &["department:sales"],
                vec![leg("alice", 0, None, 20_000), leg("bob", 0, None, 20_000)],
                40_000,
            ),
        ]
    }

    fn row<'a>(report: &'a Report, key: &str) -> &'a ReportRow {
        report.rows.iter().find(|r| r.key == key).unwrap()
    }

    #[test]
    fn by_department_the_call_counts_for_the_department_that_took_it() {
        let report = report(&calls(), ReportBy::Department, 0, 1, 20);
        let sales = row(&report, "sales");
        assert_eq!((sales.offered, sales.answered, sales.answered_elsewhere), (3, 1, 1));
        assert_eq!((sales.missed, sales.voicemail), (0, 1));
        assert_eq!(
            (sales.average_wait_ms, sales.longest_wait_ms, sales.talk_secs),
            (10_000, 40_000, 60)
        );
        // One of the three offered to it was answered within 20 s.
        assert_eq!(sales.service_level_percent, 33.3);
        let support = row(&report, "support");
        assert_eq!((support.offered, support.answered, support.talk_secs), (1, 1, 10));
        assert_eq!(support.service_level_percent, 0.0, "answered after 30 s");
    }

    #[test]
    fn by_employee_each_counts_what_rang_him() {
        let report = report(&calls(), ReportBy::Employee, 0, 1, 20);
        let alice = row(&report, "alice");
        assert_eq!(
            (alice.offered, alice.answered, alice.answered_elsewhere, alice.voicemail),
            (3, 0, 2, 1)
        );
        let bob = row(&report, "bob");
        assert_eq!((bob.offered, bob.answered, bob.talk_secs), (2, 1, 60));
        assert_eq!(row(&report, "dave").answered, 1);
        assert!(
            report.rows.iter().all(|r| r.key != "carol"),
            "a supervisor is not offered the call"
        );
    }

    #[test]
    fn by_number_and_as_csv() {
        let mut all = calls();
        all.push(CallRecord {
            flow: None,
            dialled: "102".into(),
            ..all[0].clone()
        });
        let report = report(&all, ReportBy::Number, 0, 1, 20);
        assert_eq!(report.rows.len(), 1, "employees' own calls are not a number's");
        let number = &report.rows[0];
        assert_eq!((number.offered, number.answered, number.voicemail), (3, 2, 1));
        assert_eq!(
            report.to_csv().lines().nth(1),
            Some("+15550100400,3,2,0,0,1,0,20000,40000,70,33.3")
        );
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
