//! Redaction: secret values that print as `***`, and the scrubber that masks them in text
//! (error messages, CAMS answers) before it is stored, logged or shown.

use std::fmt;

use super::encode::percent_encode;

/// A secret string: `Debug` and `Display` print `***`; read it with [`SecretString::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// The mask that replaces a secret value in scrubbed text.
pub const MASK: &str = "***";

/// Replaces every known secret value — raw and in the encoded forms that appear in a
/// string-to-sign or a URL (once and twice percent-encoded) — with `***`.
#[derive(Clone, Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} needles)", self.needles.len())
    }
}

impl Scrubber {
    /// A scrubber for these secrets; values shorter than 4 characters are ignored, since
    /// masking them would shred ordinary text while hiding nothing worth hiding.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let raw = secret.expose();
            if raw.chars().count() < 4 {
                continue;
            }
            let once = percent_encode(raw);
            let twice = percent_encode(&once);
            let plus = form_encode(raw);
            for candidate in [raw.to_string(), once, twice, plus] {
                if !needles.contains(&candidate) {
                    needles.push(candidate);
                }
            }
        }
        // Longest first, so an encoded form is replaced before a shorter raw form inside it.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Self { needles }
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), MASK);
            }
        }
        out
    }

    /// `error` and every cause in its source chain, joined with `": "`, scrubbed. Callers
    /// drop what they know to hold secrets first (a `reqwest::Error`'s URL).
    pub fn scrub_error(&self, error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.scrub(&text)
    }
}

/// `application/x-www-form-urlencoded` (space as `+`), the form some clients put on the wire.
fn form_encode(raw: &str) -> String {
    percent_encode(raw).replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = SecretString::new("hunter2-secret");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "hunter2-secret");
    }

    #[test]
    fn scrubs_raw_and_encoded_forms() {
        let token = SecretString::new("tok/en+with space=");
        let scrubber = Scrubber::new([&token]);
        let once = percent_encode(token.expose());
        let twice = percent_encode(&once);
        let text = format!("a {} b {} c {} d", token.expose(), once, twice);
        let scrubbed = scrubber.scrub(&text);
        assert_eq!(scrubbed, "a *** b *** c *** d");
    }

    #[test]
    fn scrubs_every_cause_of_an_error() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let token = SecretString::new("the-secret-token");
        let error = Outer(std::io::Error::other("proxy said the-secret-token"));
        assert_eq!(
            Scrubber::new([&token]).scrub_error(&error),
            "request failed: proxy said ***"
        );
    }

    #[test]
    fn short_values_are_not_masked() {
        let scrubber = Scrubber::new([&SecretString::new("a")]);
        assert_eq!(scrubber.scrub("banana"), "banana");
    }
}
