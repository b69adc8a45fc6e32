//! Alibaba's timestamp format, `yyyy-MM-ddTHH:mm:ssZ` (RFC 3339 in UTC, whole seconds): the
//! signer's `x-acs-date` and `Timestamp`, STS's `Timestamp` and `Expiration`, and the
//! `call --timestamp` flag.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The `chrono` format string of `yyyy-MM-ddTHH:mm:ssZ`.
const FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Formats `t` as `yyyy-MM-ddTHH:mm:ssZ`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.format(FORMAT).to_string()
}

/// Parses exactly `yyyy-MM-ddTHH:mm:ssZ` (no fraction, no other offset).
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    NaiveDateTime::parse_from_str(text, FORMAT).map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_and_parses_whole_seconds_in_utc() {
        let t = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 7).unwrap();
        assert_eq!(format_timestamp(&t), "2025-01-01T00:00:07Z");
        assert_eq!(parse_timestamp("2025-01-01T00:00:07Z"), Ok(t));
        for bad in [
            "2025-01-01T00:00:07",
            "2025-01-01T00:00:07+08:00",
            "2025-01-01",
            "x",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
