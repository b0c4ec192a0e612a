//! UTC calendar arithmetic on Unix seconds: dates for the statistics and the month steps
//! of the Amazon time window (SPEC §3). Proleptic Gregorian, no leap seconds.
//!
//! The day-count conversions follow Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>).

const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date (month 1..=12, day 1..=31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds at midnight UTC of a civil date.
pub fn unix_at(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * SECONDS_PER_DAY
}

/// `YYYY-MM-DD` of a Unix time, in UTC.
pub fn utc_date(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Midnight UTC of the first day of the month `months` away from the month of
/// `first_of_month` (which is expected to be a first-of-month midnight).
pub fn add_months(first_of_month: i64, months: i64) -> i64 {
    let (y, m, _) = civil_from_days(first_of_month.div_euclid(SECONDS_PER_DAY));
    let index = y * 12 + i64::from(m) - 1 + months;
    unix_at(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(unix_at(1970, 1, 1), 0);
        assert_eq!(unix_at(2022, 10, 1), 1_664_582_400);
        assert_eq!(unix_at(2023, 10, 1), 1_696_118_400);
        assert_eq!(utc_date(881_250_949), "1997-12-04");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(unix_at(2000, 2, 29)), "2000-02-29");
    }

    #[test]
    fn round_trip_over_many_days() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn month_steps_cross_years() {
        let oct_2022 = unix_at(2022, 10, 1);
        assert_eq!(utc_date(add_months(oct_2022, -3)), "2022-07-01");
        assert_eq!(utc_date(add_months(oct_2022, 3)), "2023-01-01");
        assert_eq!(utc_date(add_months(oct_2022, -12 * 3 - 10)), "2018-12-01");
    }
}
