//! Signing one UpdateChatGroup request in each scheme (`cargo bench --bench signer`, run by
//! `make bench`): the canonical request, the HMAC and the URL, with realistic parameters
//! (CJK subject, a description and a picture URL) and an STS security token.

use std::hint::black_box;

use cams_operator::cams::request::{sign_request, Freshness, RequestSpec, SignatureVersion};
use cams_operator::cams::{Credentials, Endpoint, UpdateChatGroup};
use chrono::TimeZone;
use criterion::{criterion_group, criterion_main, Criterion};

fn signer(c: &mut Criterion) {
    let request = UpdateChatGroup {
        business_number: "8613800001234".into(),
        cust_space_id: "cams-bench123".into(),
        group_id: "EA303BENCH0001".into(),
        channel_type: Some("WHATSAPP".into()),
        subject: Some("销售团队 Sales 0001".into()),
        description: Some("Priority line for our VIP customers & partners: 100% coverage".into()),
        profile_picture_file: Some("https://cdn.example.com/groups/vip-0001.jpg".into()),
    };
    let params = request.params();
    let endpoint = Endpoint::for_region("ap-southeast-1").expect("endpoint");
    let credentials = Credentials::new("STS.NUbenchAccessKeyId0001", "benchAccessKeySecret0001")
        .with_security_token("CAIS".to_string() + &"t".repeat(400));
    let extra = [(
        "user-agent".to_string(),
        "cams-operator/0.1.0 (replica bench)".to_string(),
    )];
    let fresh = Freshness {
        nonce: "3f1c2b8e9d0a4f6e8b7c6d5e4f3a2b1c".into(),
        timestamp: chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .single()
            .expect("time"),
    };
    let mut group = c.benchmark_group("sign_update_chat_group");
    for (name, signature) in [
        ("v3_acs3_hmac_sha256", SignatureVersion::V3),
        ("v1_rpc_hmac_sha1", SignatureVersion::V1),
    ] {
        let spec = RequestSpec {
            action: UpdateChatGroup::ACTION,
            params: &params,
            endpoint: &endpoint,
            signature,
            extra_headers: &extra,
        };
        group.bench_function(name, |b| {
            b.iter(|| sign_request(black_box(&spec), black_box(&credentials), black_box(&fresh)))
        });
    }
    group.finish();
}

criterion_group!(benches, signer);
criterion_main!(benches);
