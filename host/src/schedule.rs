//! Business hours: weekly opening hours, holidays (closed all day) and extra working days (open
//! at hours of their own), as admins set them for a number's flow to consult. Times are local
//! to the number (its timezone); this module works on local dates and times only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A schedule as stored and shown (`PUT /schedules/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Opening hours per weekday (`mon` … `sun`): `[["09:00", "13:00"], ["14:00", "18:00"]]`.
    /// A day that is missing is closed.
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<(String, String)>>,
    /// Dates (`YYYY-MM-DD`) closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Dates open at their own hours, e.g. a Saturday that is worked.
    #[serde(default)]
    pub extra_days: Vec<ExtraDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtraDay {
    pub date: String,
    pub hours: Vec<(String, String)>,
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A local moment: the date, its weekday (0 = Monday) and the minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: (i32, u32, u32),
    pub weekday: usize,
    pub minute: u32,
}

impl LocalTime {
    /// The moment `at` on the clocks of `zone`.
    pub fn of(at: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> LocalTime {
        let local = zone.to_datetime(at);
        LocalTime {
            date: (i32::from(local.year()), local.month() as u32, local.day() as u32),
            weekday: local.weekday().to_monday_zero_offset() as usize,
            minute: local.hour() as u32 * 60 + local.minute() as u32,
        }
    }

    /// The moment `at` on the clocks of `zone`, and the zone's IANA name (what a flow is told).
    pub fn with_zone_name(at: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> (LocalTime, String) {
        let name = zone.iana_name().unwrap_or("UTC").to_owned();
        (LocalTime::of(at, zone), name)
    }

    /// `YYYY-MM-DD`.
    pub fn date_text(&self) -> String {
        let (y, m, d) = self.date;
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// How far [`Schedule::next_open`] looks for an opening (a long holiday season fits).
pub const LOOK_AHEAD_DAYS: usize = 31;

impl Schedule {
    /// What is wrong with it, for a 422 (`None`: nothing).
    pub fn problem(&self) -> Option<String> {
        for (day, hours) in &self.weekly {
            if !WEEKDAYS.contains(&day.as_str()) {
                return Some(format!("weekly: {day:?} is not one of {}", WEEKDAYS.join(", ")));
            }
            if let Some(p) = hours_problem(hours) {
                return Some(format!("weekly.{day}: {p}"));
            }
        }
        for date in &self.holidays {
            if parse_date(date).is_none() {
                return Some(format!("holidays: {date:?} is not a date (YYYY-MM-DD)"));
            }
        }
        for extra in &self.extra_days {
            if parse_date(&extra.date).is_none() {
                return Some(format!("extra_days: {:?} is not a date (YYYY-MM-DD)", extra.date));
            }
            if let Some(p) = hours_problem(&extra.hours) {
                return Some(format!("extra_days.{}: {p}", extra.date));
            }
        }
        None
    }

    /// The first moment from `from` (itself, when open) at which it is open on the clocks of
    /// `zone`, to the minute; none within the next [`LOOK_AHEAD_DAYS`] (a schedule with no hours).
    pub fn next_open(&self, from: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> Option<jiff::Timestamp> {
        if self.is_open(LocalTime::of(from, zone)) {
            return Some(from);
        }
        // Openings fall on whole minutes: step from the next one.
        let minute = jiff::SignedDuration::from_secs(60);
        let mut at = from.checked_add(minute).ok()?;
        at = jiff::Timestamp::from_second(at.as_second() - at.as_second().rem_euclid(60)).ok()?;
        for _ in 0..LOOK_AHEAD_DAYS * 24 * 60 {
            if self.is_open(LocalTime::of(at, zone)) {
                return Some(at);
            }
            at = at.checked_add(minute).ok()?;
        }
        None
    }

    /// Whether it is open at `at`: an extra working day's hours, else closed on a holiday,
    /// else the weekday's hours.
    pub fn is_open(&self, at: LocalTime) -> bool {
        let same_day = |date: &str| parse_date(date) == Some(at.date);
        let hours = if let Some(extra) = self.extra_days.iter().find(|e| same_day(&e.date)) {
            &extra.hours
        } else if self.holidays.iter().any(|d| same_day(d)) {
            return false;
        } else {
            match self.weekly.get(WEEKDAYS[at.weekday % 7]) {
                Some(hours) => hours,
                None => return false,
            }
        };
        hours.iter().any(|(open, close)| {
            matches!((parse_time(open), parse_time(close)), (Some(o), Some(c)) if (o..c).contains(&at.minute))
        })
    }
}

fn hours_problem(hours: &[(String, String)]) -> Option<String> {
    for (open, close) in hours {
        match (parse_time(open), parse_time(close)) {
            (Some(o), Some(c)) if o < c => {}
            (Some(_), Some(_)) => return Some(format!("{open}-{close} closes before it opens")),
            _ => return Some(format!("{open}-{close}: write times as HH:MM (24:00 for midnight)")),
        }
    }
    None
}

/// `HH:MM` as minutes of the day; `24:00` is the end of the day.
fn parse_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// `YYYY-MM-DD` when it names a real day.
fn parse_date(text: &str) -> Option<(i32, u32, u32)> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&d).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_opening_is_found_on_the_schedules_own_clock() {
        let office: Schedule = serde_json::from_str(
            r#"{"weekly": {"mon": [["09:00","18:00"]], "fri": [["09:00","17:00"]]}, "holidays": ["2026-12-28"]}"#,
        )
        .unwrap();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap();
        // Friday 2026-12-25 20:30 in Berlin (19:30 UTC): closed until Monday — a holiday —
        // so Friday 2027-01-01 09:00 Berlin, 08:00 UTC.
        assert_eq!(
            office.next_open(at("2026-12-25T19:30:10Z"), &berlin),
            Some(at("2027-01-01T08:00:00Z"))
        );
        // Open now: now.
        assert_eq!(
            office.next_open(at("2027-01-04T10:00:10Z"), &berlin),
            Some(at("2027-01-04T10:00:10Z"))
        );
        let never: Schedule = serde_json::from_str(r#"{"weekly": {}}"#).unwrap();
        assert_eq!(never.next_open(at("2027-01-04T10:00:00Z"), &berlin), None);
    }

    #[test]
    fn local_time_follows_the_zone() {
        // 2026-11-27 23:30 UTC is Saturday 00:30 in Berlin and Friday 18:30 in New York.
        let at: jiff::Timestamp = "2026-11-27T23:30:00Z".parse().unwrap();
        let berlin = LocalTime::of(at, &jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!((berlin.date, berlin.weekday, berlin.minute), ((2026, 11, 28), 5, 30));
        assert_eq!(berlin.date_text(), "2026-11-28");
        let new_york = LocalTime::of(at, &jiff::tz::TimeZone::get("America/New_York").unwrap());
        assert_eq!(
            (new_york.date, new_york.weekday, new_york.minute),
            ((2026, 11, 27), 4, 18 * 60 + 30)
        );
    }

    fn office() -> Schedule {
        serde_json::from_value(serde_json::json!({
            "weekly": {
                "mon": [["09:00", "13:00"], ["14:00", "18:00"]],
                "fri": [["09:00", "16:00"]],
            },
            "holidays": ["2026-12-25"],
            "extra_days": [{ "date": "2026-12-26", "hours": [["10:00", "12:00"]] }],
        }))
        .unwrap()
    }

    fn at(date: (i32, u32, u32), weekday: usize, hh: u32, mm: u32) -> LocalTime {
        LocalTime {
            date,
            weekday,
            minute: hh * 60 + mm,
        }
    }

    #[test]
    fn opening_hours_holidays_and_extra_days() {
        let s = office();
        assert_eq!(s.problem(), None);
        assert!(s.is_open(at((2026, 11, 30), 0, 9, 0)), "Monday morning");
        assert!(!s.is_open(at((2026, 11, 30), 0, 13, 30)), "lunch");
        assert!(!s.is_open(at((2026, 11, 30), 0, 18, 0)), "closing time is closed");
        assert!(!s.is_open(at((2026, 12, 1), 1, 10, 0)), "Tuesday is not listed");
        assert!(!s.is_open(at((2026, 12, 25), 4, 10, 0)), "a Friday holiday");
        assert!(s.is_open(at((2026, 12, 26), 5, 11, 0)), "an extra Saturday");
        assert!(!s.is_open(at((2026, 12, 26), 5, 13, 0)));
    }

    #[test]
    fn mistakes_are_named() {
        let bad = |v: serde_json::Value| serde_json::from_value::<Schedule>(v).unwrap().problem().unwrap();
        assert!(bad(serde_json::json!({ "weekly": { "monday": [] } })).contains("monday"));
        assert!(bad(serde_json::json!({ "weekly": { "mon": [["18:00", "09:00"]] } })).contains("closes before"));
        assert!(bad(serde_json::json!({ "weekly": { "mon": [["9", "10:00"]] } })).contains("HH:MM"));
        assert!(bad(serde_json::json!({ "holidays": ["2026-02-30"] })).contains("2026-02-30"));
        assert!(bad(serde_json::json!({ "extra_days": [{ "date": "2026-13-01", "hours": [] }] })).contains("date"));
        let ok: Schedule = serde_json::from_value(
            serde_json::json!({ "weekly": { "sun": [["00:00", "24:00"]] }, "holidays": ["2028-02-29"] }),
        )
        .unwrap();
        assert_eq!(ok.problem(), None);
    }
}
