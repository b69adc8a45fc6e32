//! The two Alibaba Cloud request signers: V3 `ACS3-HMAC-SHA256` and RPC HMAC-SHA1
//! (`SignatureVersion=1.0`). Pure functions over strings, so tests can reproduce the published
//! vectors byte for byte.

// The CAMS simulator verifies signatures with its own implementation
// (crates/cams-simulator/src/sign.rs), deliberately not this one: it is an independent oracle,
// and sharing the code would let a signing bug verify itself. Keep them separate.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::encode::{canonical_query, percent_encode};

/// The V3 algorithm name, first line of its string-to-sign and of `Authorization`.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// Hex SHA-256 of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Whether V3 signs a header: `host`, `content-type` and every `x-acs-*` header.
pub fn v3_signs_header(lower_name: &str) -> bool {
    lower_name == "host" || lower_name == "content-type" || lower_name.starts_with("x-acs-")
}

/// The canonical headers block and the `SignedHeaders` list of V3.
///
/// `headers` is a multimap: names are compared in lower case, values of one name are
/// trimmed, sorted and joined with `,`. Only headers for which `v3_signs_header` holds are
/// included.
pub fn v3_canonical_headers<N: AsRef<str>, V: AsRef<str>>(headers: &[(N, V)]) -> (String, String) {
    let mut merged: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        let lower = name.as_ref().to_ascii_lowercase();
        if v3_signs_header(&lower) {
            merged
                .entry(lower)
                .or_default()
                .push(value.as_ref().trim().to_string());
        }
    }
    let mut block = String::new();
    let mut names = Vec::with_capacity(merged.len());
    for (name, mut values) in merged {
        values.sort();
        block.push_str(&name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
        names.push(name);
    }
    (block, names.join(";"))
}

/// The V3 canonical request and the `SignedHeaders` value it signed.
///
/// `method` is taken as given (the Go SDK vector signs an empty method); an empty `path`
/// canonicalises to `/`.
pub fn v3_canonical_request<K, V, N, H>(
    method: &str,
    path: &str,
    query: &[(K, V)],
    headers: &[(N, H)],
    hashed_payload: &str,
) -> (String, String)
where
    K: AsRef<str>,
    V: AsRef<str>,
    N: AsRef<str>,
    H: AsRef<str>,
{
    let uri = if path.is_empty() { "/" } else { path };
    let (header_block, signed) = v3_canonical_headers(headers);
    let canonical = format!(
        "{method}\n{uri}\n{}\n{header_block}\n{signed}\n{hashed_payload}",
        canonical_query(query)
    );
    (canonical, signed)
}

/// `ACS3-HMAC-SHA256\n` + hex(sha256(canonical request)).
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// hex(hmac_sha256(secret, string_to_sign)).
pub fn v3_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    // HMAC takes keys of any length, so the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The V3 `Authorization` header value.
pub fn v3_authorization(access_key_id: &str, signed_headers: &str, signature: &str) -> String {
    format!("{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
}

/// RPC string-to-sign: `METHOD&%2F&enc(canonicalised params)`; `Signature` itself is left out.
pub fn rpc_string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    let without_signature: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(&without_signature))
    )
}

/// base64(hmac_sha1(secret + "&", string_to_sign)).
pub fn rpc_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    hmac_sha1_base64(string_to_sign, &format!("{access_key_secret}&"))
}

/// base64(hmac_sha1(key, data)) with the key used as is.
pub fn hmac_sha1_base64(data: &str, key: &str) -> String {
    // HMAC takes keys of any length, so the error arm cannot happen.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn six_headers(
        host: &str,
        action: &str,
        version: &str,
        date: &str,
        nonce: &str,
    ) -> Vec<(String, String)> {
        vec![
            ("host".into(), host.into()),
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), version.into()),
            ("x-acs-date".into(), date.into()),
            ("x-acs-signature-nonce".into(), nonce.into()),
            ("x-acs-content-sha256".into(), EMPTY_BODY_SHA256.into()),
        ]
    }

    #[test]
    fn v3_official_run_instances_example() {
        let headers = six_headers(
            "ecs.cn-shanghai.aliyuncs.com",
            "RunInstances",
            "2014-05-26",
            "2023-10-26T10:22:32Z",
            "3156853299f313e23d1673dc12e1703d",
        );
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ];
        let (canonical, signed) =
            v3_canonical_request("POST", "/", &query, &headers, EMPTY_BODY_SHA256);
        assert_eq!(
            signed,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        let sig = v3_signature("YourAccessKeySecret", &v3_string_to_sign(&canonical));
        assert_eq!(
            sig,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    pub(crate) fn update_chat_group_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("BusinessNumber", "8613800001234"),
            ("ChannelType", "WHATSAPP"),
            ("CustSpaceId", "cams-test123"),
            ("Description", "Hello world & 100% üñí"),
            ("GroupId", "EA303TEST"),
            ("ProfilePictureFile", "https://example.com/img.jpg"),
            ("Subject", "Test subject"),
        ]
    }

    #[test]
    fn v3_update_chat_group_vector() {
        let headers = six_headers(
            "cams.ap-southeast-1.aliyuncs.com",
            "UpdateChatGroup",
            "2020-06-06",
            "2025-01-01T00:00:00Z",
            "3156853299f313e23d1673dc12e1703d",
        );
        let params = update_chat_group_params();
        assert_eq!(
            canonical_query(&params),
            "BusinessNumber=8613800001234&ChannelType=WHATSAPP&CustSpaceId=cams-test123&Description=Hello%20world%20%26%20100%25%20%C3%BC%C3%B1%C3%AD&GroupId=EA303TEST&ProfilePictureFile=https%3A%2F%2Fexample.com%2Fimg.jpg&Subject=Test%20subject"
        );
        let (canonical, _) =
            v3_canonical_request("POST", "/", &params, &headers, EMPTY_BODY_SHA256);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "96d3e9135b3eaa8e8bd567e67829ed5dbdb3601c6430ed331ac98c9152e6d386"
        );
        assert_eq!(
            v3_signature("testsecret", &v3_string_to_sign(&canonical)),
            "e8fb5f348a31495d9e144f378c4470c3e925e127763bc9557300e16c8b285bb2"
        );
    }

    #[test]
    fn v3_go_openapi_util_vector_with_empty_method_and_case_duplicate_headers() {
        let headers = [("x-acs-test", "http"), ("x-acs-TEST", "https")];
        let query = [("test", "ok"), ("empty", "")];
        let (canonical, signed) = v3_canonical_request(
            "",
            "",
            &query,
            &headers,
            "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
        );
        assert!(canonical.contains("x-acs-test:http,https\n"));
        let auth = v3_authorization(
            "acesskey",
            &signed,
            &v3_signature("secret", &v3_string_to_sign(&canonical)),
        );
        assert_eq!(
            auth,
            "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,Signature=4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3"
        );
    }

    #[test]
    fn v3_sdk_capture_with_extra_signed_headers_and_sts() {
        // From official-sdk-capture.txt: the SDK signs accept, user-agent and its own headers.
        let mut headers: Vec<(String, String)> = vec![
            ("accept".into(), "application/json".into()),
            ("host".into(), "127.0.0.1:46537".into()),
            (
                "user-agent".into(),
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2".into(),
            ),
            ("x-acs-accesskey-id".into(), "testid".into()),
            ("x-acs-action".into(), "UpdateChatGroup".into()),
            ("x-acs-content-sha256".into(), EMPTY_BODY_SHA256.into()),
            ("x-acs-credentials-provider".into(), "static_sts".into()),
            ("x-acs-date".into(), "2026-11-26T01:23:37Z".into()),
            ("x-acs-security-token".into(), "teststsToken".into()),
            (
                "x-acs-signature-nonce".into(),
                "e41ba51472d0aa047fae93b706138585".into(),
            ),
            ("x-acs-version".into(), "2020-06-06".into()),
        ];
        // accept and user-agent are not in our default signed set; the capture signed them,
        // so canonicalise with an explicit list as the simulator does.
        let signed_list = "accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version";
        headers.retain(|(n, _)| signed_list.split(';').any(|s| s == n));
        let block: String = {
            let mut h = headers.clone();
            h.sort();
            h.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
        };
        let canonical = format!(
            "POST\n/\n{}\n{block}\n{signed_list}\n{EMPTY_BODY_SHA256}",
            canonical_query(&update_chat_group_params())
        );
        assert_eq!(
            v3_string_to_sign(&canonical),
            "ACS3-HMAC-SHA256\nf65db784e45aeb7561642614cb0341972d49dd810c698ab25d97fb012cd1c911"
        );
        assert_eq!(
            v3_signature("testsecret", &v3_string_to_sign(&canonical)),
            "760fb3d4627753686f6bfc8feaa85e0d85d195a556f46592af6beb5b0e5ae90f"
        );
    }

    fn rpc_common(
        action: &str,
        format: &str,
        nonce: &str,
        ts: &str,
        version: &str,
    ) -> Vec<(String, String)> {
        vec![
            ("AccessKeyId".into(), "testid".into()),
            ("Action".into(), action.into()),
            ("Format".into(), format.into()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureNonce".into(), nonce.into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("Timestamp".into(), ts.into()),
            ("Version".into(), version.into()),
        ]
    }

    #[test]
    fn rpc_official_describe_regions_example_get_and_post() {
        let params = rpc_common(
            "DescribeRegions",
            "XML",
            "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
            "2016-02-23T12:46:24Z",
            "2014-05-26",
        );
        let sts = rpc_string_to_sign("GET", &params);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature("testsecret", &sts),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        assert_eq!(
            rpc_signature("testsecret", &rpc_string_to_sign("POST", &params)),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
    }

    #[test]
    fn rpc_describe_dedicated_hosts_example() {
        let mut params = rpc_common(
            "DescribeDedicatedHosts",
            "JSON",
            "edb2b34af0af9a6d14deaf7c1a5315eb",
            "2023-03-13T08:34:30Z",
            "2014-05-26",
        );
        params.push(("RegionId".into(), "cn-beijing".into()));
        assert_eq!(
            rpc_signature("testsecret", &rpc_string_to_sign("GET", &params)),
            "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
        );
    }

    #[test]
    fn rpc_update_chat_group_vector_and_format_case() {
        for (format, expected) in [
            ("JSON", "2ldeFJ2/QhbnrMPsCzdK7tkv6tY="),
            ("json", "gQgQ3EOR4WjoQ9bCsFte2QPK/uY="),
        ] {
            let mut params = rpc_common(
                "UpdateChatGroup",
                format,
                "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
                "2025-01-01T00:00:00Z",
                "2020-06-06",
            );
            params.extend(
                update_chat_group_params()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            assert_eq!(
                rpc_signature("testsecret", &rpc_string_to_sign("POST", &params)),
                expected
            );
        }
    }

    #[test]
    fn rpc_sdk_capture() {
        let mut params = rpc_common(
            "UpdateChatGroup",
            "json",
            "d9d9db0528ee9459f5c53cc8e3a657e0",
            "2026-11-26T01:23:37Z",
            "2020-06-06",
        );
        params.extend(
            update_chat_group_params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        params.push(("Signature".into(), "ignored".into()));
        assert_eq!(
            rpc_signature("testsecret", &rpc_string_to_sign("POST", &params)),
            "fCmTzzMbnh6WYu8Q15JpUtBZ4ak="
        );
    }

    #[test]
    fn raw_hmac_sha1_vectors() {
        assert_eq!(
            hmac_sha1_base64("source", "secret"),
            "Jv4yi8SobFhg5t1C7nWLbhBSFZQ="
        );
        assert_eq!(
            hmac_sha1_base64("中文unicode", "secret"),
            "szlfHs3WVaO/HgY3Cg7/uyXDaRw="
        );
    }

    #[test]
    fn sdk_capture_list_chat_group_page_json() {
        let params = [
            ("BusinessNumber", "8613800001234"),
            ("ChannelType", "WHATSAPP"),
            ("CustSpaceId", "cams-test123"),
            ("Page", r#"{"Index":1,"Size":20}"#),
        ];
        assert_eq!(
            canonical_query(&params),
            "BusinessNumber=8613800001234&ChannelType=WHATSAPP&CustSpaceId=cams-test123&Page=%7B%22Index%22%3A1%2C%22Size%22%3A20%7D"
        );
    }
}
