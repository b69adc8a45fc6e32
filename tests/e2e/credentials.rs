//! Wrong credentials -> CredentialsInvalid, and neither the secret nor the security token
//! appear in status, events or the operator's logs.

use std::time::Duration;

use cams_operator::cams::encode::percent_encode;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};

use crate::harness::{condition, World};

#[tokio::test]
async fn wrong_credentials_are_reported_and_never_leak() {
    for signature in ["v1", "v3"] {
        let world = World::new(&format!("creds-{signature}")).await;
        // The simulator knows this key with an STS token; the Secret has the token right but
        // the secret wrong, so CAMS answers SignatureDoesNotMatch echoing its string-to-sign
        // (which holds the token).
        let token = format!("TOKEN-E2E-{}", world.ns);
        let key_id = format!("STS-{}", world.ns);
        world
            .sim_put_key(&key_id, "the-right-secret", &[&token])
            .await;
        let wrong_secret = format!("WRONG-SECRET-{}", world.ns);
        world
            .create_secret("wrong", &key_id, &wrong_secret, Some(&token))
            .await;
        let operator = world.operator(&["--signature", signature]);

        world
            .create_group("bad-creds", "EA303BAD", |b| {
                b.subject(Some("x")).secret_ref(Some("wrong"))
            })
            .await;
        world
            .create_group("no-secret", "EA303MISS", |b| {
                b.secret_ref(Some("does-not-exist"))
            })
            .await;
        world
            .create_group("not-lent", "EA303LEND", |b| b.secret_ref(None))
            .await;

        for name in ["bad-creds", "no-secret", "not-lent"] {
            let obj = world
                .wait_reason(name, "Synced", "CredentialsInvalid")
                .await;
            assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"), "{name}");
            assert_eq!(
                condition(&obj, "Stalled").as_deref(),
                Some("True"),
                "{name}"
            );
            assert_eq!(obj.status.as_ref().unwrap().observed_generation, Some(1));
        }
        let bad = world.get("bad-creds").await;
        assert_eq!(
            bad.status.as_ref().unwrap().code.as_deref(),
            Some("SignatureDoesNotMatch")
        );
        let msg = serde_json::to_string(&world.get("not-lent").await.status).unwrap();
        assert!(
            msg.contains("not allowed to use the operator's own credentials"),
            "{msg}"
        );
        let msg = serde_json::to_string(&world.get("no-secret").await.status).unwrap();
        assert!(
            msg.contains("does-not-exist") && msg.contains("not found"),
            "{msg}"
        );
        // Only the object with a usable Secret reached CAMS, exactly once.
        world
            .expect_calls("UpdateChatGroup", 1, Duration::from_secs(2))
            .await;

        // The echo really contained the token (so the scrubbing below is not vacuous)…
        let calls = world.calls("UpdateChatGroup").await;
        assert_eq!(
            Some(calls[0].code.as_str()),
            Some("SignatureDoesNotMatch"),
            "{calls:#?}"
        );

        // …and neither secret value appears anywhere the operator writes.
        let events: Api<Event> = Api::namespaced(world.client.clone(), &world.ns);
        let events = events.list(&ListParams::default()).await.unwrap();
        assert!(
            events
                .items
                .iter()
                .any(|e| e.reason.as_deref() == Some("CredentialsInvalid")),
            "no CredentialsInvalid event"
        );
        let chatgroups = world
            .chatgroups()
            .list(&ListParams::default())
            .await
            .unwrap();
        let haystacks = [
            ("status", serde_json::to_string(&chatgroups.items).unwrap()),
            ("events", serde_json::to_string(&events.items).unwrap()),
            ("operator log", operator.logs()),
        ];
        for needle in [wrong_secret.as_str(), token.as_str()] {
            for form in [
                needle.to_string(),
                percent_encode(needle),
                percent_encode(&percent_encode(needle)),
            ] {
                for (place, text) in &haystacks {
                    assert!(
                        !text.contains(&form),
                        "{signature}: {form} leaked into {place}"
                    );
                }
            }
        }
        assert!(
            haystacks[2].1.contains("SignatureDoesNotMatch"),
            "the operator log does not show the failure"
        );
    }
}
