//! Deadlines (办理时限) in working time: a holiday calendar with make-up working days
//! (调休), office hours, and deadline classes such as `2h`, `8wh` or `7wd`.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// How long a department has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Clock hours, nights and holidays included: emergencies do not wait for Monday.
    Hours(u32),
    /// Hours inside office hours on working days.
    WorkingHours(u32),
    /// Until the end of the N-th working day after the day the clock starts.
    WorkingDays(u32),
}

/// Why a deadline class such as `7wd` does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("`{0}`: expected a number followed by h, wh or wd (e.g. 2h, 8wh, 7wd)")]
    NoNumber(String),
    #[error("`{0}`: a deadline of zero is not a deadline")]
    Zero(String),
    #[error("`{span}`: unknown unit `{unit}`; use h (clock hours), wh (working hours) or wd (working days)")]
    Unit { span: String, unit: String },
}

impl FromStr for Span {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u32 = n.parse().map_err(|_| SpanError::NoNumber(s.to_string()))?;
        if n == 0 {
            return Err(SpanError::Zero(s.to_string()));
        }
        match unit.trim() {
            "h" => Ok(Span::Hours(n)),
            "wh" => Ok(Span::WorkingHours(n)),
            "wd" => Ok(Span::WorkingDays(n)),
            other => Err(SpanError::Unit {
                span: s.to_string(),
                unit: other.to_string(),
            }),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Hours(n) => write!(f, "{n}h"),
            Span::WorkingHours(n) => write!(f, "{n}wh"),
            Span::WorkingDays(n) => write!(f, "{n}wd"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    office_hours: Vec<String>,
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    workdays: Vec<NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("office hours `{0}`: expected HH:MM-HH:MM, in order, not overlapping")]
    OfficeHours(String),
    #[error("{0} is listed both as a holiday and as a working day")]
    Both(NaiveDate),
}

/// Working days and hours in the hotline's time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    office: Vec<(NaiveTime, NaiveTime)>,
    holidays: HashSet<NaiveDate>,
    workdays: HashSet<NaiveDate>,
}

impl Calendar {
    pub fn parse(text: &str, tz: Tz) -> Result<Calendar, CalendarError> {
        let file: CalendarFile = toml::from_str(text)?;
        let mut office = Vec::new();
        for span in &file.office_hours {
            let bad = || CalendarError::OfficeHours(span.clone());
            let (a, b) = span.split_once('-').ok_or_else(bad)?;
            let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| bad())?;
            let b = NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| bad())?;
            if a >= b || office.last().is_some_and(|&(_, prev_end)| a < prev_end) {
                return Err(bad());
            }
            office.push((a, b));
        }
        if office.is_empty() {
            return Err(CalendarError::OfficeHours(String::new()));
        }
        let holidays: HashSet<NaiveDate> = file.holidays.into_iter().collect();
        let workdays: HashSet<NaiveDate> = file.workdays.into_iter().collect();
        if let Some(d) = holidays.intersection(&workdays).next() {
            return Err(CalendarError::Both(*d));
        }
        Ok(Calendar {
            tz,
            office,
            holidays,
            workdays,
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Whether the calendar lists any holiday in `year` (a missing year is a likely mistake).
    pub fn knows_year(&self, year: i32) -> bool {
        self.holidays.iter().any(|d| d.year() == year)
    }

    /// Whether `t` falls inside office hours on a working day.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz);
        self.is_working_day(local.date_naive())
            && self
                .office
                .iter()
                .any(|&(a, b)| local.time() >= a && local.time() < b)
    }

    fn at(&self, d: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        // Asia/Shanghai has no DST; `earliest` keeps other zones total.
        self.tz
            .from_local_datetime(&d.and_time(t))
            .earliest()
            .unwrap_or_else(|| {
                Utc.from_utc_datetime(&d.and_time(t))
                    .with_timezone(&self.tz)
            })
            .with_timezone(&Utc)
    }

    /// The moment a deadline of `span` started at `start` falls due.
    pub fn deadline(&self, start: DateTime<Utc>, span: Span) -> DateTime<Utc> {
        match span {
            Span::Hours(h) => start + Duration::hours(h as i64),
            Span::WorkingDays(n) => {
                let mut d = start.with_timezone(&self.tz).date_naive();
                let mut left = n;
                while left > 0 {
                    d = d.succ_opt().unwrap_or(d);
                    if self.is_working_day(d) {
                        left -= 1;
                    }
                }
                let end = self
                    .office
                    .last()
                    .map(|&(_, e)| e)
                    .unwrap_or(NaiveTime::MIN);
                self.at(d, end)
            }
            Span::WorkingHours(h) => {
                let mut left = Duration::hours(h as i64);
                let mut d = start.with_timezone(&self.tz).date_naive();
                // Bounded: a year of days is far beyond any deadline class.
                for _ in 0..400 {
                    if self.is_working_day(d) {
                        for &(a, b) in &self.office {
                            let from = self.at(d, a).max(start);
                            let to = self.at(d, b);
                            if to <= from {
                                continue;
                            }
                            if to - from >= left {
                                return from + left;
                            }
                            left -= to - from;
                        }
                    }
                    d = d.succ_opt().unwrap_or(d);
                }
                start + Duration::hours(h as i64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calendar {
        Calendar::parse(
            include_str!("../../config/calendar.toml"),
            chrono_tz::Asia::Shanghai,
        )
        .unwrap()
    }

    fn sh(s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Asia::Shanghai
            .from_local_datetime(&naive)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn show(t: DateTime<Utc>) -> String {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn spans_parse_and_reject_nonsense() {
        assert_eq!("2h".parse::<Span>().unwrap(), Span::Hours(2));
        assert_eq!("7wd".parse::<Span>().unwrap(), Span::WorkingDays(7));
        assert_eq!("8wh".parse::<Span>().unwrap(), Span::WorkingHours(8));
        assert!("0h".parse::<Span>().is_err());
        assert!("7 days"
            .parse::<Span>()
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
    }

    #[test]
    fn make_up_days_and_holidays_are_respected() {
        let c = cal();
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 10).unwrap())); // Saturday 调休
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 9, 20).unwrap())); // Sunday 调休
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()));
        // plain Saturday
    }

    #[test]
    fn working_days_skip_the_national_day_week() {
        // Accepted Wednesday 30 September 2026: 1–7 October are holidays, 8 Oct (Thu),
        // 9 Oct (Fri), 10 Oct (Sat, make-up day) count.
        let d = cal().deadline(sh("2026-09-30 10:00"), Span::WorkingDays(3));
        assert_eq!(show(d), "2026-10-10 17:30");
    }

    #[test]
    fn working_hours_pause_over_lunch_nights_and_weekends() {
        let c = cal();
        // Friday 16:30 + 3 working hours: 1 h on Friday, Monday 08:30–10:30.
        let d = c.deadline(sh("2026-11-27 16:30"), Span::WorkingHours(3));
        assert_eq!(show(d), "2026-11-30 10:30");
        // Starting at lunch counts from 14:00.
        let d = c.deadline(sh("2026-11-26 12:30"), Span::WorkingHours(1));
        assert_eq!(show(d), "2026-11-26 15:00");
    }

    #[test]
    fn clock_hours_ignore_the_calendar() {
        let d = cal().deadline(sh("2026-10-01 23:00"), Span::Hours(2));
        assert_eq!(show(d), "2026-10-02 01:00");
    }

    #[test]
    fn broken_calendars_are_rejected() {
        let tz = chrono_tz::Asia::Shanghai;
        assert!(Calendar::parse("office_hours = [\"12:00-08:00\"]", tz).is_err());
        let both =
            "office_hours=[\"08:00-17:00\"]\nholidays=[\"2026-10-10\"]\nworkdays=[\"2026-10-10\"]";
        assert!(Calendar::parse(both, tz)
            .unwrap_err()
            .to_string()
            .contains("2026-10-10"));
    }
}
