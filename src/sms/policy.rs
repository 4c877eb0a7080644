//! Which template a ticket event uses, which notices are essential, and quiet hours.

use chrono::{NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::config::{SmsConfig, SmsTemplates};

/// Template for a ticket event kind, or None when residents are not texted about it.
pub fn template_for<'a>(t: &'a SmsTemplates, kind: &str) -> Option<&'a str> {
    Some(match kind {
        "accepted" => &t.accepted,
        "dispatched" => &t.dispatched,
        "extension_granted" => &t.extension_granted,
        "resolved" => &t.resolved,
        "follow_up" => &t.follow_up,
        "overdue" => &t.overdue,
        "reopened" => &t.reopened,
        _ => return None,
    })
}

/// Essential notices go out even at night and to residents who sent TD: the receipt of
/// their request, the answer, and direct replies to what they texted.
pub fn is_essential(kind: &str) -> bool {
    matches!(kind, "accepted" | "resolved" | "reply")
}

pub fn signed(t: &SmsTemplates, body: &str) -> String {
    format!("{}{}", t.signature, body)
}

fn parse_hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// When a non-essential notice may go out: `now_ms` itself outside quiet hours, else the
/// end of the quiet period (local time of `cfg.timezone`), as unix ms.
pub fn not_before(cfg: &SmsConfig, now_ms: i64) -> i64 {
    let (Some(start), Some(end)) = (parse_hm(&cfg.quiet_start), parse_hm(&cfg.quiet_end)) else {
        return now_ms;
    };
    if start == end {
        return now_ms;
    }
    let tz: Tz = cfg.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
        return now_ms;
    };
    let local = now.with_timezone(&tz);
    let t = local.time();
    let quiet = if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    };
    if !quiet {
        return now_ms;
    }
    let mut day = local.date_naive();
    if t >= end {
        day = day.succ_opt().unwrap_or(day);
    }
    tz.from_local_datetime(&day.and_time(end))
        .earliest()
        .map(|d| d.timestamp_millis())
        .unwrap_or(now_ms)
}

/// Start of the local day containing `now_ms`, for the per-phone daily cap.
pub fn local_day_start(cfg: &SmsConfig, now_ms: i64) -> i64 {
    let tz: Tz = cfg.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
        return now_ms;
    };
    let day = now.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .map(|d| d.timestamp_millis())
        .unwrap_or(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn renders_placeholders() {
        let t = SmsTemplates::default();
        let s = crate::notify::templates::render(
            &t.dispatched,
            &[
                ("number", "202611260001"),
                ("department", "城管局"),
                ("deadline", "11月27日18:00"),
            ],
        );
        assert_eq!(
            s,
            "您的工单202611260001已转城管局办理，办理时限11月27日18:00。"
        );
        assert_eq!(signed(&t, "a"), "【12345】a");
    }

    #[test]
    fn quiet_hours_over_midnight_in_shanghai() {
        let cfg = SmsConfig::default(); // 22:00–08:00 Asia/Shanghai
                                        // 12:00 Shanghai = 04:00Z: not quiet
        let noon = ms("2026-11-26T04:00:00Z");
        assert_eq!(not_before(&cfg, noon), noon);
        // 23:30 Shanghai = 15:30Z → next day 08:00 Shanghai = 00:00Z
        assert_eq!(
            not_before(&cfg, ms("2026-11-26T15:30:00Z")),
            ms("2026-11-27T00:00:00Z")
        );
        // 03:00 Shanghai (19:00Z the day before) → same day 08:00
        assert_eq!(
            not_before(&cfg, ms("2026-11-26T19:00:00Z")),
            ms("2026-11-27T00:00:00Z")
        );
        let mut day = cfg.clone();
        day.quiet_start = "12:00".into();
        day.quiet_end = "14:00".into();
        assert_eq!(
            not_before(&day, ms("2026-11-26T05:00:00Z")),
            ms("2026-11-26T06:00:00Z")
        );
    }

    #[test]
    fn day_start() {
        let cfg = SmsConfig::default();
        assert_eq!(
            local_day_start(&cfg, ms("2026-11-26T17:00:00Z")),
            ms("2026-11-26T16:00:00Z")
        );
    }

    #[test]
    fn essential_kinds() {
        assert!(is_essential("accepted") && is_essential("resolved") && is_essential("reply"));
        assert!(!is_essential("dispatched") && !is_essential("follow_up"));
    }
}
