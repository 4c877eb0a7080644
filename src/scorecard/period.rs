//! Periods in the hotline's time zone: a day, an ISO week (Monday first), a month, or any
//! span of whole days; and the bucket of each moment when a report is cut by day, week or
//! month. A report's span is half-open, `[from, to)`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// A report's time cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    Week,
    Month,
}

impl Grain {
    /// The bucket key of a local date: `2026-12-02`, `2026-W49`, `2026-12`.
    pub fn key(self, d: NaiveDate) -> String {
        match self {
            Grain::Day => d.format("%Y-%m-%d").to_string(),
            Grain::Week => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Grain::Month => d.format("%Y-%m").to_string(),
        }
    }

    /// The first day of the bucket holding `d`.
    pub fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Grain::Day => d,
            Grain::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
            Grain::Month => d.with_day(1).unwrap_or(d),
        }
    }

    /// The first day of the next bucket.
    pub fn next(self, d: NaiveDate) -> NaiveDate {
        let s = self.start(d);
        match self {
            Grain::Day => s + Duration::days(1),
            Grain::Week => s + Duration::days(7),
            Grain::Month => {
                let (y, m) = if s.month() == 12 {
                    (s.year() + 1, 1)
                } else {
                    (s.year(), s.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(s)
            }
        }
    }
}

/// Whole local days `[first, end)` in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub tz: Tz,
    pub first: NaiveDate,
    /// The day after the last day.
    pub end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    #[error("`{0}` is not a period: use a day 2026-12-02, a week 2026-W49 or a month 2026-12")]
    Unreadable(String),
    #[error("a report covers at most {max} days; {asked} asked")]
    TooLong { asked: i64, max: i64 },
    #[error("the period ends before it starts")]
    Backwards,
}

/// The longest span one report reads (two years of days).
pub const MAX_DAYS: i64 = 731;

impl Span {
    pub fn new(tz: Tz, first: NaiveDate, end: NaiveDate) -> Result<Span, SpanError> {
        let days = (end - first).num_days();
        if days <= 0 {
            return Err(SpanError::Backwards);
        }
        if days > MAX_DAYS {
            return Err(SpanError::TooLong {
                asked: days,
                max: MAX_DAYS,
            });
        }
        Ok(Span { tz, first, end })
    }

    /// The bucket of `grain` holding `d`.
    pub fn of(tz: Tz, grain: Grain, d: NaiveDate) -> Span {
        Span {
            tz,
            first: grain.start(d),
            end: grain.next(d),
        }
    }

    /// Today in `tz`.
    pub fn today(tz: Tz) -> NaiveDate {
        Utc::now().with_timezone(&tz).date_naive()
    }

    /// The last `n` buckets of `grain`, this one included (`n` ≥ 1).
    pub fn last(tz: Tz, grain: Grain, n: u32, today: NaiveDate) -> Span {
        let mut first = grain.start(today);
        for _ in 1..n.max(1) {
            first = grain.start(first - Duration::days(1));
        }
        Span {
            tz,
            first,
            end: grain.next(today),
        }
    }

    /// Reads `2026-12-02`, `2026-W49` or `2026-12`.
    pub fn parse(tz: Tz, s: &str) -> Result<Span, SpanError> {
        let s = s.trim();
        let bad = || SpanError::Unreadable(s.to_string());
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Span::of(tz, Grain::Day, d));
        }
        if let Some((y, w)) = s.split_once("-W") {
            let (y, w) = (
                y.parse::<i32>().map_err(|_| bad())?,
                w.parse::<u32>().map_err(|_| bad())?,
            );
            let d = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon).ok_or_else(bad)?;
            return Ok(Span::of(tz, Grain::Week, d));
        }
        let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        Ok(Span::of(tz, Grain::Month, d))
    }

    /// The span's bounds as unix milliseconds.
    pub fn bounds_ms(&self) -> (i64, i64) {
        (
            midnight_ms(self.tz, self.first),
            midnight_ms(self.tz, self.end),
        )
    }

    /// The local date of a unix-ms moment.
    pub fn local_date(&self, ms: i64) -> NaiveDate {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.tz)
            .date_naive()
    }

    /// Every bucket of `grain` the span touches, in order, as (key, first day).
    pub fn buckets(&self, grain: Grain) -> Vec<(String, NaiveDate)> {
        let mut out = Vec::new();
        let mut d = grain.start(self.first);
        while d < self.end {
            out.push((grain.key(d), d));
            d = grain.next(d);
        }
        out
    }

    /// `2026-12-01 – 2026-12-31`, or one date for one day.
    pub fn label(&self) -> String {
        let last = self.end - Duration::days(1);
        if last == self.first {
            self.first.to_string()
        } else {
            format!("{} – {}", self.first, last)
        }
    }
}

/// Local midnight of `d` as unix ms (the earliest, where a zone skips midnight).
pub fn midnight_ms(tz: Tz, d: NaiveDate) -> i64 {
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weeks_start_on_monday_and_are_named_by_iso_week() {
        // 2026-12-02 is a Wednesday of ISO week 49.
        assert_eq!(Grain::Week.start(d("2026-12-02")), d("2026-11-30"));
        assert_eq!(Grain::Week.key(d("2026-12-02")), "2026-W49");
        assert_eq!(Grain::Month.next(d("2026-12-15")), d("2027-01-01"));
    }

    #[test]
    fn periods_read_as_people_write_them() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let m = Span::parse(tz, "2026-02").unwrap();
        assert_eq!((m.first, m.end), (d("2026-02-01"), d("2026-03-01")));
        let w = Span::parse(tz, "2026-W49").unwrap();
        assert_eq!((w.first, w.end), (d("2026-11-30"), d("2026-12-07")));
        let day = Span::parse(tz, "2026-12-02").unwrap();
        assert_eq!(day.label(), "2026-12-02");
        assert!(Span::parse(tz, "december").is_err());
        assert!(Span::new(tz, d("2026-12-02"), d("2026-12-01")).is_err());
        assert!(Span::new(tz, d("2020-01-01"), d("2026-01-01")).is_err());
    }

    #[test]
    fn a_day_is_local_midnight_to_midnight() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let (from, to) = Span::parse(tz, "2026-12-02").unwrap().bounds_ms();
        assert_eq!(to - from, 86_400_000);
        // 2026-12-01T16:00Z is midnight in Shanghai.
        assert_eq!(from, 1_796_140_800_000);
    }

    #[test]
    fn the_last_n_buckets_end_with_this_one() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let s = Span::last(tz, Grain::Month, 12, d("2026-12-02"));
        assert_eq!((s.first, s.end), (d("2026-01-01"), d("2027-01-01")));
        assert_eq!(s.buckets(Grain::Month).len(), 12);
        let s = Span::last(tz, Grain::Day, 30, d("2026-12-02"));
        assert_eq!(s.buckets(Grain::Day).len(), 30);
        assert_eq!(s.first, d("2026-11-03"));
    }
}
