//! The lifecycle actions (`AddChatGroup`, `DeleteChatGroup`, `AddChatGroupInviteLink`,
//! `DeleteChatGroupInviteLink`) through the client over plain HTTP to a local listener: the
//! action and parameters on the wire in both schemes, the answers decoded (also when fields
//! are missing), "no such group" told apart, a bucket per action, and the invite link never
//! printable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tests::{client_with, local, server, Body};
use super::*;

const BN: &str = "8613800001234";
const CS: &str = "cams-test123";

fn credentials() -> Credentials {
    Credentials::new("id", "secret")
}

fn ok(body: &'static str) -> Body {
    Body::Json {
        status: 200,
        body,
        retry_after: None,
    }
}

fn add() -> AddChatGroup {
    AddChatGroup {
        business_number: BN.into(),
        cust_space_id: CS.into(),
        channel_type: Some("WHATSAPP".into()),
        subject: Some("VIP support & co".into()),
        description: Some("Priority line".into()),
    }
}

fn delete() -> DeleteChatGroup {
    DeleteChatGroup {
        business_number: BN.into(),
        cust_space_id: CS.into(),
        group_id: "G1".into(),
        channel_type: None,
    }
}

fn add_link() -> AddChatGroupInviteLink {
    AddChatGroupInviteLink {
        business_number: BN.into(),
        cust_space_id: CS.into(),
        group_id: "G1".into(),
        channel_type: Some("WHATSAPP".into()),
    }
}

fn delete_link() -> DeleteChatGroupInviteLink {
    DeleteChatGroupInviteLink {
        business_number: BN.into(),
        cust_space_id: CS.into(),
        group_id: "G1".into(),
        channel_type: None,
    }
}

/// The request line and headers of the only request the server saw.
fn only_head(heads: &Mutex<Vec<String>>) -> String {
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    heads[0].clone()
}

/// The action is named on the wire as the scheme names it, and every parameter is in the
/// query of `POST /`.
fn assert_sent(head: &str, signature: SignatureVersion, action: &str, query: &[&str]) {
    let request_line = head.lines().next().unwrap_or_default();
    assert!(request_line.starts_with("POST /?"), "{request_line}");
    for part in query {
        assert!(request_line.contains(part), "{part} not in {request_line}");
    }
    let lower = head.to_ascii_lowercase();
    match signature {
        SignatureVersion::V3 => assert!(
            lower.contains(&format!("x-acs-action: {}", action.to_ascii_lowercase())),
            "{head}"
        ),
        SignatureVersion::V1 => assert!(
            request_line.contains(&format!("Action={action}&")),
            "{request_line}"
        ),
    }
}

#[tokio::test]
async fn add_chat_group_sends_its_fields_and_decodes_the_unique_code() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let s = server(ok(
            r#"{"RequestId":"R-1","Code":"OK","Message":"None","Success":true,"UniqueCode":"8938abc"}"#,
        ))
        .await;
        let c = client_with(local(s.port), signature, ClientOptions::default());
        let added = c
            .add_chat_group(None, &credentials(), &add())
            .await
            .unwrap();
        assert_eq!(added.unique_code.as_deref(), Some("8938abc"));
        assert_eq!(added.response.envelope.request_id.as_deref(), Some("R-1"));
        assert!(added.response.is_success());
        assert_eq!(added.response.body["UniqueCode"], "8938abc");
        assert_sent(
            &only_head(&s.heads),
            signature,
            "AddChatGroup",
            &[
                "BusinessNumber=8613800001234&",
                "ChannelType=WHATSAPP&",
                "CustSpaceId=cams-test123&",
                "Description=Priority%20line&",
                "Subject=VIP%20support%20%26%20co",
            ],
        );
        assert!(!only_head(&s.heads).contains("GroupId="));
    }
}

#[tokio::test]
async fn an_accepted_add_without_a_unique_code_is_still_accepted() {
    let s = server(ok(r#"{"RequestId":"R-2","Code":"OK","Success":true}"#)).await;
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions::default(),
    );
    let added = c
        .add_chat_group(None, &credentials(), &add())
        .await
        .unwrap();
    assert_eq!(added.unique_code, None);
    assert_eq!(added.response.envelope.code.as_deref(), Some("OK"));
}

#[tokio::test]
async fn a_refused_add_is_an_error_of_its_class() {
    let s = server(Body::Json {
        status: 400,
        body: r#"{"RequestId":"R-3","Code":"InvalidParameter.Subject","Message":"Subject must not be empty.","Success":false}"#,
        retry_after: None,
    })
    .await;
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions::default(),
    );
    let err = c
        .add_chat_group(None, &credentials(), &add())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Terminal, "{err:?}");
    assert!(!err.is_group_not_found());
    // A 2xx whose Code is not OK is an error too.
    let s = server(ok(
        r#"{"RequestId":"R-4","Code":"Throttling.Api","Success":false}"#,
    ))
    .await;
    let c = client_with(
        local(s.port),
        SignatureVersion::V1,
        ClientOptions::default(),
    );
    let err = c
        .add_chat_group(None, &credentials(), &add())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Throttled, "{err:?}");
}

#[tokio::test]
async fn delete_chat_group_sends_the_identity_and_tells_a_missing_group_apart() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let s = server(ok(
            r#"{"RequestId":"R-5","Code":"OK","Message":"None","Success":true,"Result":1}"#,
        ))
        .await;
        let c = client_with(local(s.port), signature, ClientOptions::default());
        let response = c
            .delete_chat_group(None, &credentials(), &delete())
            .await
            .unwrap();
        assert_eq!(response.envelope.result, Some(1));
        assert_sent(
            &only_head(&s.heads),
            signature,
            "DeleteChatGroup",
            &[
                "BusinessNumber=8613800001234&",
                "CustSpaceId=cams-test123&",
                "GroupId=G1",
            ],
        );
        assert!(!only_head(&s.heads).contains("ChannelType="));
    }
    let s = server(Body::Json {
        status: 400,
        body: r#"{"RequestId":"R-6","Code":"InvalidParameter.GroupNotExist","Message":"The group G1 does not exist.","Success":false}"#,
        retry_after: None,
    })
    .await;
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions::default(),
    );
    let err = c
        .delete_chat_group(None, &credentials(), &delete())
        .await
        .unwrap_err();
    assert!(err.is_group_not_found(), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Terminal);
    assert_eq!(
        err.envelope().and_then(|e| e.request_id.as_deref()),
        Some("R-6")
    );
}

const LINK_ANSWER: &str = r#"{"RequestId":"R-7","Code":"OK","Message":"link https://chat.whatsapp.com/Kx9SECRETlinkCODE made","Success":true,"InviteLink":"https://chat.whatsapp.com/Kx9SECRETlinkCODE"}"#;

#[tokio::test]
async fn an_added_invite_link_is_returned_as_a_secret_and_printed_nowhere() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let s = server(ok(LINK_ANSWER)).await;
        let c = client_with(local(s.port), signature, ClientOptions::default());
        let added = c
            .add_chat_group_invite_link(None, &credentials(), &add_link())
            .await
            .unwrap();
        assert_eq!(
            added.invite_link.as_ref().map(|l| l.expose()),
            Some("https://chat.whatsapp.com/Kx9SECRETlinkCODE")
        );
        assert_sent(
            &only_head(&s.heads),
            signature,
            "AddChatGroupInviteLink",
            &[
                "BusinessNumber=8613800001234&",
                "ChannelType=WHATSAPP&",
                "CustSpaceId=cams-test123&",
                "GroupId=G1",
            ],
        );
        // Debug (plain and pretty), the body as JSON text and the envelope: masked.
        let printed = format!(
            "{added:?} {added:#?} {} {:?}",
            added.response.body, added.response.envelope
        );
        assert!(!printed.contains("SECRET"), "{printed}");
        assert_eq!(added.response.body["InviteLink"], "***");
        assert_eq!(
            added.response.envelope.message.as_deref(),
            Some("link *** made")
        );
        assert_eq!(added.response.envelope.request_id.as_deref(), Some("R-7"));
    }
}

#[tokio::test]
async fn an_accepted_invite_link_call_without_a_link_has_none() {
    let s = server(ok(r#"{"RequestId":"R-8","Code":"OK","Success":true}"#)).await;
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions::default(),
    );
    let added = c
        .add_chat_group_invite_link(None, &credentials(), &add_link())
        .await
        .unwrap();
    assert!(added.invite_link.is_none());
}

#[tokio::test]
async fn delete_chat_group_invite_link_sends_the_identity() {
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let s = server(ok(
            r#"{"RequestId":"R-9","Code":"OK","Success":true,"Result":1}"#,
        ))
        .await;
        let c = client_with(local(s.port), signature, ClientOptions::default());
        let response = c
            .delete_chat_group_invite_link(None, &credentials(), &delete_link())
            .await
            .unwrap();
        assert_eq!(response.envelope.result, Some(1));
        assert_sent(
            &only_head(&s.heads),
            signature,
            "DeleteChatGroupInviteLink",
            &[
                "BusinessNumber=8613800001234&",
                "CustSpaceId=cams-test123&",
                "GroupId=G1",
            ],
        );
    }
}

/// Records how long each call waited for the rate limiter, in order.
#[derive(Debug, Default)]
struct Waits(Mutex<Vec<(String, Duration)>>);

impl CallObserver for Waits {
    fn on_request(&self, action: &str, _code: &str, _duration: Duration) {
        let mut waits = self.0.lock().unwrap();
        if let Some(last) = waits.last_mut() {
            last.0 = action.to_string();
        }
    }
    fn on_rate_limited(&self, waited: Duration) {
        self.0.lock().unwrap().push((String::new(), waited));
    }
}

#[tokio::test]
async fn each_lifecycle_action_has_a_bucket_of_its_own() {
    let s = server(ok(
        r#"{"RequestId":"R-10","Code":"OK","Success":true,"Result":1,"UniqueCode":"u","InviteLink":"https://chat.whatsapp.com/abcd"}"#,
    ))
    .await;
    let waits = Arc::new(Waits::default());
    let c = client_with(
        local(s.port),
        SignatureVersion::V3,
        ClientOptions {
            // One call per 400 ms per action.
            rate_limit: Some(RateLimit { qps: 2.5, burst: 1 }),
            observer: Some(waits.clone()),
            ..Default::default()
        },
    );
    let creds = credentials();
    // One of each: none waits for another action's bucket.
    c.add_chat_group(None, &creds, &add()).await.unwrap();
    c.delete_chat_group(None, &creds, &delete()).await.unwrap();
    c.add_chat_group_invite_link(None, &creds, &add_link())
        .await
        .unwrap();
    c.delete_chat_group_invite_link(None, &creds, &delete_link())
        .await
        .unwrap();
    // A second AddChatGroup waits for its own bucket.
    c.add_chat_group(None, &creds, &add()).await.unwrap();
    let waits = waits.0.lock().unwrap().clone();
    let actions: Vec<_> = waits.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "AddChatGroup",
            "DeleteChatGroup",
            "AddChatGroupInviteLink",
            "DeleteChatGroupInviteLink",
            "AddChatGroup"
        ]
    );
    for (action, waited) in &waits[..4] {
        assert!(
            *waited < Duration::from_millis(150),
            "{action} waited {waited:?}"
        );
    }
    assert!(
        waits[4].1 >= Duration::from_millis(150),
        "the second AddChatGroup did not wait: {waits:?}"
    );
}
