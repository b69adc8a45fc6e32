//! The signing primitives the verifier recomputes: RFC 3986 encoding, the canonical query,
//! the V3 (`ACS3-HMAC-SHA256`) and RPC (HMAC-SHA1) strings-to-sign and signatures.

// Deliberately NOT shared with the operator's `src/cams/sign.rs` and `src/cams/encode.rs`:
// the simulator is an independent oracle of Alibaba's signature rules, so a mistake in the
// operator's signer must show up as `SignatureDoesNotMatch` here instead of being agreed
// with. Keep the two implementations separate; the official SDK tier checks both.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The V3 algorithm name: the first word of `Authorization` and first line of the
/// string-to-sign.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Whether a byte stays literal in RFC 3986 encoding (the unreserved set).
fn unreserved(byte: u8) -> bool {
    matches!(byte, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes the UTF-8 bytes of `text`: unreserved bytes stay, every other byte becomes
/// `%XY` in upper-case hex (a space is `%20`, `*` is `%2A`, `~` stays).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XY` escapes only (`+` stays `+`); `None` for a malformed escape or a result that
/// is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The canonical query of both schemes: every pair encoded, sorted by encoded name then
/// encoded value (byte order), joined as `k=v&k=v` (an empty value gives `k=`).
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut encoded: Vec<String> = Vec::with_capacity(pairs.len());
    let mut sorted: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    sorted.sort();
    for (k, v) in sorted {
        encoded.push(format!("{k}={v}"));
    }
    encoded.join("&")
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The V3 string-to-sign of a canonical request: the algorithm, a newline, and the hex
/// SHA-256 of the canonical request.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    let hash = sha256_hex(canonical_request.as_bytes());
    format!("{V3_ALGORITHM}\n{hash}")
}

/// The V3 signature: hex HMAC-SHA256 of the string-to-sign keyed with the secret.
pub fn v3_signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of every length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The RPC string-to-sign: `METHOD&%2F&` followed by the encoded canonical query of every
/// parameter except `Signature`.
pub fn rpc_string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, pairs: &[(K, V)]) -> String {
    let signed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(&signed))
    )
}

/// The RPC signature: base64 HMAC-SHA1 of the string-to-sign keyed with `secret&`.
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    // HMAC accepts keys of every length, so `new_from_slice` cannot fail here.
    match Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        assert_eq!(percent_encode("a b*~/ü"), "a%20b%2A~%2F%C3%BC");
        assert_eq!(
            percent_decode("a%20b%2A~%2F%C3%BC").as_deref(),
            Some("a b*~/ü")
        );
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn canonical_query_sorts_encoded_pairs() {
        let q = canonical_query(&[("b", "2"), ("a", "x y"), ("a", ""), ("A", "1")]);
        assert_eq!(q, "A=1&a=&a=x%20y&b=2");
    }

    #[test]
    fn published_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            v3_signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            rpc_string_to_sign("GET", &[("Signature", "x"), ("Action", "A B")]),
            "GET&%2F&Action%3DA%2520B"
        );
    }
}
