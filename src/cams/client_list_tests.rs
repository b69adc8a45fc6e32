//! `ListChatGroup` through the client over plain HTTP to a local listener: the `Page`
//! parameter on the wire, the answer decoded, errors classified like any action's, and the
//! list bucket of the rate limiter apart from the write bucket.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::tests::{client_with, local, server, Body};
use super::*;

const PAGE_ON_THE_WIRE: &str = "Page=%7B%22Index%22%3A1%2C%22Size%22%3A20%7D";

const LISTED: &str = r#"{"RequestId":"R-2","Code":"OK","Message":"None","Success":true,
"Data":{"Total":"2","List":[{"GroupId":"G1","Subject":"VIP","TotalParticipantCount":"3",
"InviteLink":"https://chat.whatsapp.com/abc","GmtModifier":1795000000000},{"GroupId":"G2"}]}}"#;

fn credentials() -> Credentials {
    Credentials::new("id", "secret")
}

fn request() -> ListChatGroup {
    ListChatGroup::first_page("8613800001234", "cams-test123", 20)
}

async fn list(body: Body, signature: SignatureVersion) -> (Result<GroupPage, CamsError>, String) {
    let s = server(body).await;
    let c = client_with(local(s.port), signature, ClientOptions::default());
    let result = c.list_chat_group(None, &credentials(), &request()).await;
    let head = s.heads.lock().unwrap().first().cloned().unwrap_or_default();
    (result, head)
}

#[test]
fn the_signed_url_carries_page_as_one_encoded_json_parameter() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let c = client_with(local(1), signature, ClientOptions::default());
        let signed = c
            .prepare(
                ListChatGroup::ACTION,
                &request().params(),
                None,
                &credentials(),
                &Freshness::now(),
            )
            .unwrap();
        assert!(signed.url.contains(PAGE_ON_THE_WIRE), "{}", signed.url);
        assert!(
            signed.url.contains("BusinessNumber=8613800001234&")
                && signed.url.contains("CustSpaceId=cams-test123&"),
            "{}",
            signed.url
        );
    }
}

#[tokio::test]
async fn a_page_is_sent_in_the_query_and_decoded() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let (result, head) = list(
            Body::Json {
                status: 200,
                body: LISTED,
                retry_after: None,
            },
            signature,
        )
        .await;
        let request_line = head.lines().next().unwrap_or_default();
        assert!(
            request_line.starts_with("POST /?") && request_line.contains(PAGE_ON_THE_WIRE),
            "{request_line}"
        );
        let page = result.unwrap();
        assert_eq!(page.total, Some(2));
        let ids: Vec<_> = page.groups.iter().map(|g| g.group_id.as_deref()).collect();
        assert_eq!(ids, [Some("G1"), Some("G2")]);
        assert_eq!(page.groups[0].total_participant_count, Some(3));
        assert_eq!(
            page.groups[0].invite_link.as_deref(),
            Some("https://chat.whatsapp.com/abc")
        );
    }
}

#[tokio::test]
async fn a_success_without_data_is_undecodable_and_retryable() {
    let (result, _) = list(
        Body::Json {
            status: 200,
            body: r#"{"RequestId":"R-3","Code":"OK","Success":true}"#,
            retry_after: None,
        },
        SignatureVersion::V3,
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, CamsError::Undecodable { status: 200 }),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Retryable);
}

#[tokio::test]
async fn throttled_and_forbidden_answers_are_classified_like_any_action() {
    let (result, _) = list(
        Body::Json {
            status: 400,
            body: r#"{"RequestId":"R-4","Code":"Throttling.User","Message":"Request was denied due to user flow control.","Success":false}"#,
            retry_after: Some("2"),
        },
        SignatureVersion::V3,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Throttled, "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(
        err.envelope().and_then(|e| e.request_id.as_deref()),
        Some("R-4")
    );

    let (result, _) = list(
        Body::Json {
            status: 403,
            body: r#"{"RequestId":"R-5","Code":"Forbidden.RAM","Message":"not allowed","Success":false,"AccessDeniedDetail":"{\"Action\":\"cams:ListChatGroup\"}"}"#,
            retry_after: None,
        },
        SignatureVersion::V1,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Forbidden, "{err:?}");
    assert!(matches!(&err, CamsError::Api { status: 403, code, .. } if code == "Forbidden.RAM"));
}

/// Records how long each call waited for the rate limiter, in order.
#[derive(Debug, Default)]
struct Waits(Mutex<Vec<Duration>>);

impl CallObserver for Waits {
    fn on_request(&self, _action: &str, _code: &str, _duration: Duration) {}
    fn on_rate_limited(&self, waited: Duration) {
        self.0.lock().unwrap().push(waited);
    }
}

impl Waits {
    fn last(&self) -> Duration {
        self.0.lock().unwrap().last().copied().unwrap_or_default()
    }
}

#[tokio::test]
async fn listing_has_a_bucket_and_a_rate_of_its_own() {
    let s = server(Body::Json {
        status: 200,
        body: LISTED,
        retry_after: None,
    })
    .await;
    let waits = Arc::new(Waits::default());
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions {
            // Writes: one call per 400 ms. Listing: one per 10 ms.
            rate_limit: Some(RateLimit { qps: 2.5, burst: 1 }),
            list_rate_limit: Some(RateLimit {
                qps: 100.0,
                burst: 1,
            }),
            observer: Some(waits.clone()),
            ..Default::default()
        },
    );
    let creds = credentials();
    let update = UpdateChatGroup {
        business_number: "8613800001234".into(),
        cust_space_id: "cams-test123".into(),
        group_id: "G1".into(),
        ..Default::default()
    };
    // The write bucket is empty after one write ...
    c.update_chat_group(None, &creds, &update).await.unwrap();
    // ... and listing does not wait for it, only for its own (faster) rate.
    let started = Instant::now();
    for _ in 0..5 {
        c.list_chat_group(None, &creds, &request()).await.unwrap();
        assert!(waits.last() < Duration::from_millis(150), "{waits:?}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(350),
        "listing waited for the write rate: {:?}",
        started.elapsed()
    );
    let listed = started.elapsed();
    assert!(
        listed >= Duration::from_millis(30),
        "listing not limited: {listed:?}"
    );
    // Listing emptied its own bucket, not the write one: the next write waits only for the
    // rest of its 400 ms.
    c.update_chat_group(None, &creds, &update).await.unwrap();
    let waited = waits.last();
    assert!(
        waited + listed >= Duration::from_millis(300),
        "write rate not enforced: waited {waited:?}"
    );
}
