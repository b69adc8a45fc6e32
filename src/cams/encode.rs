//! RFC 3986 percent-encoding as both Alibaba signature schemes require it.

/// Percent-encodes `input` as UTF-8 bytes: `A-Z a-z 0-9 - _ . ~` stay literal, every other
/// byte becomes `%XY` with upper-case hex (so a space is `%20`, `*` is `%2A`).
pub fn percent_encode(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len() * 3);
    for &byte in input.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[(byte >> 4) as usize] as char);
            out.push(HEX[(byte & 0x0f) as usize] as char);
        }
    }
    out
}

/// Decodes `%XY` escapes (and nothing else: `+` stays `+`). Returns `None` on a malformed
/// escape or bytes that are not UTF-8.
pub fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes and sorts `params` into `k=v&k=v` form (an empty value gives `k=`), the canonical
/// query of both schemes. Sorting is by encoded name, then encoded value, in byte order.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_stay_literal() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn reserved_and_special_characters_are_encoded() {
        assert_eq!(percent_encode(" "), "%20");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("+"), "%2B");
        assert_eq!(percent_encode("/"), "%2F");
        assert_eq!(percent_encode("%"), "%25");
        assert_eq!(percent_encode("&="), "%26%3D");
        assert_eq!(percent_encode(":"), "%3A");
    }

    #[test]
    fn non_ascii_is_encoded_as_utf8_bytes_with_upper_case_hex() {
        assert_eq!(percent_encode("üñí"), "%C3%BC%C3%B1%C3%AD");
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
    }

    #[test]
    fn empty_value_encodes_to_empty_and_canonicalises_as_key_equals() {
        assert_eq!(percent_encode(""), "");
        assert_eq!(
            canonical_query(&[("test", "ok"), ("empty", "")]),
            "empty=&test=ok"
        );
    }

    #[test]
    fn decode_inverts_encode() {
        for s in ["a b*c~d+e/f%g", "üñí 中文", "", "plain"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%G1"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn canonical_query_sorts_by_name() {
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "x y"), ("C", "3")]),
            "C=3&a=x%20y&b=2"
        );
    }
}
