//! RRSA: with a token file and the role variables set, calls are signed with the STS
//! credentials the simulator issued, and an expiry triggers a refresh before any call fails.

use std::time::Duration;

use cams_simulator::StsConfig;
use serde_json::json;

use crate::harness::World;

#[tokio::test]
async fn rrsa_credentials_are_assumed_used_and_refreshed_before_expiry() {
    let world = World::new("rrsa").await;
    let oidc_token = format!("OIDC-TOKEN-{}", world.ns);
    let token_file = world.env.work.join(format!("{}-oidc-token", world.ns));
    std::fs::write(&token_file, &oidc_token).unwrap();
    // Issued credentials live 20 s, so the operator must refresh within this test.
    let sts = StsConfig {
        accepted_tokens: Some(vec![oidc_token.clone()]),
        duration_secs: 20,
        ..StsConfig::default()
    };
    world
        .sim
        .set_sts(&sts)
        .await
        .expect("simulator STS settings");
    let since = world.last_seq().await;
    let token_path = token_file.display().to_string();
    let operator = world.operator_with_env(
        &[
            "--sts-endpoint",
            &world.env.simulator,
            "--lend-credentials-to",
            &world.ns,
        ],
        &[
            (
                "ALIBABA_CLOUD_ROLE_ARN",
                "acs:ram::1234567890123456:role/cams-operator",
            ),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1234567890123456:oidc-provider/ack-rrsa-test",
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_path),
        ],
    );

    world
        .create_group("rrsa", "EA303RRSA", |b| {
            b.subject(Some("first")).secret_ref(None)
        })
        .await;
    world.wait_ready("rrsa").await;
    let calls = world
        .expect_calls("UpdateChatGroup", 1, Duration::from_millis(500))
        .await;
    let first_key = calls[0].access_key_id.as_deref().unwrap_or("").to_string();
    assert!(
        first_key.starts_with("STS."),
        "not signed with issued STS credentials: {calls:#?}"
    );
    assert!(calls[0].sts_issued, "{calls:#?}");
    assert_eq!(
        world
            .all_calls_since("AssumeRoleWithOIDC", since)
            .await
            .len(),
        1
    );

    // Past the refresh point (a third of the 20 s lifetime before expiry) but before the
    // credentials would be refused with InvalidSecurityToken.Expired if not refreshed… and
    // then past expiry: the next call must still succeed, with new credentials.
    tokio::time::sleep(Duration::from_secs(21)).await;
    world
        .patch("rrsa", json!({"spec": {"subject": "second"}}))
        .await;
    world.wait_ready_at("rrsa", 2).await;
    let calls = world
        .expect_calls("UpdateChatGroup", 2, Duration::ZERO)
        .await;
    assert_eq!(calls[1].code, "OK", "{calls:#?}");
    let second_key = calls[1].access_key_id.as_deref().unwrap_or("").to_string();
    assert!(
        second_key.starts_with("STS.") && second_key != first_key,
        "credentials were not refreshed: {calls:#?}"
    );
    let assumed = world.all_calls_since("AssumeRoleWithOIDC", since).await;
    assert_eq!(assumed.len(), 2, "{assumed:#?}");
    println!("rrsa: 2 UpdateChatGroup calls, {} AssumeRoleWithOIDC calls, keys {first_key} -> {second_key}", assumed.len());
    // The OIDC token never reaches the operator's log.
    assert!(!operator.logs().contains(&oidc_token));
}
