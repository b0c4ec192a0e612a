//! "<time ago>" strings of the user prompt: how long before the moment of recommendation
//! (the target's timestamp) each history item was consumed.

/// Render the gap between `then` and `now` (Unix seconds) as "3 days ago".
/// Gaps under a minute (and clock skew, where `then` is after `now`) read "just now".
pub fn time_ago(now: i64, then: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const WEEK: i64 = 7 * DAY;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    let gap = now - then;
    if gap < MINUTE {
        return "just now".to_string();
    }
    let (n, unit) = if gap < HOUR {
        (gap / MINUTE, "minute")
    } else if gap < DAY {
        (gap / HOUR, "hour")
    } else if gap < WEEK {
        (gap / DAY, "day")
    } else if gap < MONTH {
        (gap / WEEK, "week")
    } else if gap < YEAR {
        (gap / MONTH, "month")
    } else {
        (gap / YEAR, "year")
    };
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {unit}{s} ago")
}

#[cfg(test)]
mod tests {
    use super::time_ago;

    #[test]
    fn units_and_plurals() {
        let now = 1_000_000_000;
        assert_eq!(time_ago(now, now), "just now");
        assert_eq!(time_ago(now, now + 50), "just now");
        assert_eq!(time_ago(now, now - 59), "just now");
        assert_eq!(time_ago(now, now - 60), "1 minute ago");
        assert_eq!(time_ago(now, now - 3 * 60 - 5), "3 minutes ago");
        assert_eq!(time_ago(now, now - 3600), "1 hour ago");
        assert_eq!(time_ago(now, now - 86_400 * 2), "2 days ago");
        assert_eq!(time_ago(now, now - 86_400 * 7), "1 week ago");
        assert_eq!(time_ago(now, now - 86_400 * 29), "4 weeks ago");
        assert_eq!(time_ago(now, now - 86_400 * 30), "1 month ago");
        assert_eq!(time_ago(now, now - 86_400 * 364), "12 months ago");
        assert_eq!(time_ago(now, now - 86_400 * 365 * 3), "3 years ago");
    }
}
