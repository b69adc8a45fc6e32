//! Small helpers: ids, time formats, query decoding.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;

use crate::sign::percent_decode;

/// A fresh upper-case UUID-like request id (`8-4-4-4-12` hex digits).
pub fn request_id() -> String {
    let v: u128 = rand::random();
    let hex = format!("{v:032X}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `n` random characters from `[A-Z0-9]`.
pub fn random_upper_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// `n` random characters from `[A-Za-z0-9]`.
pub fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// An HTTP `Date` header value (RFC 7231 IMF-fixdate).
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// RFC 3339 with milliseconds and `Z`.
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Alibaba's `yyyy-MM-ddTHH:mm:ssZ`.
pub fn parse_acs_timestamp(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|n| n.and_utc())
}

/// Decodes an `application/x-www-form-urlencoded` string (a raw query string or a form
/// body): pairs split at `&`, name and value at the first `=`, `+` is a space, `%XY` escapes
/// are decoded. `None` when an escape is malformed or the bytes are not UTF-8.
pub fn decode_form(raw: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_component(name)?, decode_component(value)?));
    }
    Some(out)
}

fn decode_component(text: &str) -> Option<String> {
    if text.contains('+') {
        percent_decode(&text.replace('+', " "))
    } else {
        percent_decode(text)
    }
}

/// Byte-wise comparison that does not stop at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn request_ids_look_like_upper_case_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        let parts: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(request_id(), request_id());
    }

    #[test]
    fn formats_times() {
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap();
        assert_eq!(http_date(t), "Sun, 29 Nov 2026 10:00:00 GMT");
        assert_eq!(rfc3339_millis(t), "2026-11-29T10:00:00.000Z");
        assert_eq!(parse_acs_timestamp("2026-11-29T10:00:00Z"), Some(t));
        assert_eq!(parse_acs_timestamp("2026-11-29T10:00:00"), None);
        assert_eq!(parse_acs_timestamp("2026-11-29 10:00:00Z"), None);
    }

    #[test]
    fn decodes_form_and_rfc3986_queries_alike() {
        let python = "Description=Hello+world+%26+100%25+%C3%BC%C3%B1%C3%AD&Subject=Test+subject&empty=&flag";
        let rust = "Description=Hello%20world%20%26%20100%25%20%C3%BC%C3%B1%C3%AD&Subject=Test%20subject&empty=&flag";
        let expected = vec![
            (
                "Description".to_string(),
                "Hello world & 100% üñí".to_string(),
            ),
            ("Subject".to_string(), "Test subject".to_string()),
            ("empty".to_string(), String::new()),
            ("flag".to_string(), String::new()),
        ];
        assert_eq!(decode_form(python), Some(expected.clone()));
        assert_eq!(decode_form(rust), Some(expected));
        assert_eq!(
            decode_form("a=%2B+b"),
            Some(vec![("a".into(), "+ b".into())])
        );
        assert_eq!(decode_form("a=%zz"), None);
        assert_eq!(decode_form(""), Some(vec![]));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
