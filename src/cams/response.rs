//! The CAMS response envelope, decoded as returned.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::redact::{Scrubber, SecretString, MASK};

/// The fields every CAMS response carries (`Result` for the update/delete actions), kept
/// exactly as CAMS returned them. A field CAMS left out stays `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `RequestId`: CAMS's id for the call, for support tickets.
    pub request_id: Option<String>,
    /// `Code`; `OK` means success.
    pub code: Option<String>,
    /// `Message`: CAMS's explanation of the code.
    pub message: Option<String>,
    /// `Success` as returned (Alibaba's own example answers `false` with Code OK).
    pub success: Option<bool>,
    /// `AccessDeniedDetail`: why RAM denied the call, on a permission error.
    pub access_denied_detail: Option<String>,
    /// `Result` (affected rows).
    pub result: Option<i64>,
}

impl Envelope {
    /// Decodes a response body; `None` when it is not a JSON object.
    pub fn decode(body: &[u8]) -> Option<Self> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let success = match map.get("Success") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let result = match map.get("Result") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        Some(Self {
            request_id: text("RequestId"),
            code: text("Code"),
            message: text("Message"),
            success,
            access_denied_detail: text("AccessDeniedDetail"),
            result,
        })
    }

    /// Applies `f` to every free-text field (used to scrub secrets).
    pub fn map_text(mut self, f: impl Fn(&str) -> String) -> Self {
        self.message = self.message.as_deref().map(&f);
        self.access_denied_detail = self.access_denied_detail.as_deref().map(&f);
        self.code = self.code.as_deref().map(&f);
        self.request_id = self.request_id.as_deref().map(&f);
        self
    }
}

/// A CAMS answer: HTTP status, envelope and the headers that matter for retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The decoded envelope.
    pub envelope: Envelope,
    /// `x-acs-retry-after`, when sent.
    pub retry_after: Option<Duration>,
    /// The `Date` header, for measuring clock skew.
    pub server_date: Option<DateTime<Utc>>,
    /// The whole body as JSON (scrubbed), for callers that need the action's own fields.
    pub body: Value,
}

impl Response {
    /// Success is HTTP 2xx and `Code` `OK`.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status) && self.envelope.code.as_deref() == Some("OK")
    }

    /// Takes the top-level body field `key` out as a secret (an invite link): the field is
    /// replaced by `***`, and every other occurrence of its value in the body's strings and
    /// the envelope's text is masked too (raw and percent-encoded, as [`Scrubber`] does).
    /// `None` when the field is absent, null or not a non-empty string (a value of another
    /// type is masked all the same).
    pub fn take_secret(&mut self, key: &str) -> Option<SecretString> {
        let field = self.body.get_mut(key)?;
        let secret = match field {
            Value::Null => return None,
            Value::String(s) if !s.is_empty() => Some(SecretString::new(s.as_str())),
            _ => None,
        };
        *field = Value::String(MASK.to_string());
        if let Some(secret) = &secret {
            let scrubber = Scrubber::new([secret]);
            scrub_json(&mut self.body, &scrubber);
            self.envelope = std::mem::take(&mut self.envelope).map_text(|t| scrubber.scrub(t));
        }
        secret
    }
}

/// Masks the scrubber's secrets in every string of `value`, at any depth.
fn scrub_json(value: &mut Value, scrubber: &Scrubber) {
    match value {
        Value::String(s) => *s = scrubber.scrub(s),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, scrubber)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, scrubber)),
        _ => {}
    }
}

/// Parses `x-acs-retry-after` (seconds, possibly fractional).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    // Like the official SDK, a value of zero or less means "no advice".
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Parses an HTTP `Date` header.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_example_as_returned() {
        let body = br#"{"AccessDeniedDetail":"None","Message":"None","RequestId":"90E63D28-E31D-1EB2-8939-A94866411B2O\n","Code":"OK","Success":false,"Result":1}"#;
        let e = Envelope::decode(body).unwrap();
        assert_eq!(
            e.request_id.as_deref(),
            Some("90E63D28-E31D-1EB2-8939-A94866411B2O\n")
        );
        assert_eq!(e.success, Some(false));
        assert_eq!(e.result, Some(1));
        assert_eq!(e.message.as_deref(), Some("None"));
        let r = Response {
            status: 200,
            envelope: e,
            retry_after: None,
            server_date: None,
            body: Value::Null,
        };
        assert!(
            r.is_success(),
            "Code OK with Success false is still success"
        );
    }

    #[test]
    fn missing_fields_stay_none_and_non_objects_fail() {
        let e = Envelope::decode(br#"{"Code":"Throttling.User"}"#).unwrap();
        assert_eq!(e.request_id, None);
        assert_eq!(e.result, None);
        assert!(Envelope::decode(b"<html>bad gateway</html>").is_none());
        assert!(Envelope::decode(b"[1]").is_none());
    }

    #[test]
    fn success_needs_2xx_and_code_ok() {
        let ok = Envelope {
            code: Some("OK".into()),
            ..Default::default()
        };
        let r = |status, envelope: Envelope| Response {
            status,
            envelope,
            retry_after: None,
            server_date: None,
            body: Value::Null,
        };
        assert!(!r(500, ok.clone()).is_success());
        assert!(!r(
            200,
            Envelope {
                code: Some("InternalError".into()),
                ..Default::default()
            }
        )
        .is_success());
        assert!(!r(200, Envelope::default()).is_success());
    }

    #[test]
    fn a_taken_secret_is_masked_in_the_body_and_the_envelope() {
        let link = "https://chat.whatsapp.com/SECRETCODE123";
        let body = serde_json::json!({
            "Code": "OK", "InviteLink": link, "RequestId": "R",
            "Message": format!("made {link}"),
            "Echo": {"List": [format!("x {link} y"), format!("{}", crate::cams::encode::percent_encode(link))]},
        });
        let mut r = Response {
            status: 200,
            envelope: Envelope::decode(body.to_string().as_bytes()).unwrap(),
            retry_after: None,
            server_date: None,
            body,
        };
        let secret = r.take_secret("InviteLink").unwrap();
        assert_eq!(secret.expose(), link);
        let shown = format!("{r:?} {} {secret:?}", r.body);
        assert!(!shown.contains("SECRETCODE123"), "{shown}");
        assert_eq!(r.body["InviteLink"], "***");
        assert_eq!(r.body["Echo"]["List"][0], "x *** y");
        assert_eq!(r.body["Echo"]["List"][1], "***");
        assert_eq!(r.envelope.message.as_deref(), Some("made ***"));
        assert_eq!(r.envelope.request_id.as_deref(), Some("R"));
        // Absent, null, empty or another type: no secret (a value is masked all the same).
        for (value, masked) in [
            (serde_json::json!({}), false),
            (serde_json::json!({"InviteLink": null}), false),
            (serde_json::json!({"InviteLink": ""}), true),
            (serde_json::json!({"InviteLink": 12345}), true),
        ] {
            let mut r = Response {
                body: value,
                ..r.clone()
            };
            assert!(r.take_secret("InviteLink").is_none());
            assert_eq!(
                r.body.get("InviteLink") == Some(&Value::from("***")),
                masked
            );
        }
    }

    #[test]
    fn parses_headers() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("0"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert!(parse_http_date("Sun, 29 Nov 2026 10:00:00 GMT").is_some());
    }
}
