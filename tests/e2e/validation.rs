//! Every schema rule is enforced by the real API server, with a message naming the field.

use cams_operator::resource::ChatGroup;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::harness::World;

fn manifest(ns: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "cams.dev/v1alpha1", "kind": "ChatGroup",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .unwrap()
}

fn valid() -> Value {
    json!({"businessNumber": "8613800001234", "custSpaceId": "cams-x", "groupId": "G1"})
}

fn with(key: &str, value: Value) -> Value {
    let mut spec = valid();
    spec[key] = value;
    spec
}

#[tokio::test]
async fn every_rule_is_refused_with_the_field_named() {
    let world = World::new("validate").await;
    let ar = ApiResource::erase::<ChatGroup>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), &world.ns, &ar);
    let mut without_business_number = valid();
    without_business_number
        .as_object_mut()
        .unwrap()
        .remove("businessNumber");
    let mut without_group_id = valid();
    without_group_id.as_object_mut().unwrap().remove("groupId");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "business number not digits",
            with("businessNumber", json!("86-138")),
            "spec.businessNumber",
        ),
        (
            "business number missing",
            without_business_number,
            "spec.businessNumber",
        ),
        (
            "empty custSpaceId",
            with("custSpaceId", json!("")),
            "spec.custSpaceId",
        ),
        (
            "neither groupId nor subject",
            without_group_id.clone(),
            "creating a group (no groupId) needs a subject",
        ),
        (
            "observe without groupId",
            {
                let mut v = without_group_id.clone();
                v["subject"] = json!("S");
                v["managementPolicy"] = json!("Observe");
                v
            },
            "managementPolicy Observe needs groupId",
        ),
        (
            "invite link without a Secret",
            with("inviteLink", json!({"enabled": true})),
            "inviteLink.secretName is required",
        ),
        (
            "deletion policy",
            with("deletionPolicy", json!("Destroy")),
            "spec.deletionPolicy",
        ),
        ("empty groupId", with("groupId", json!("")), "spec.groupId"),
        (
            "channel type",
            with("channelType", json!("SMS")),
            "spec.channelType",
        ),
        ("empty subject", with("subject", json!("")), "spec.subject"),
        (
            "long subject",
            with("subject", json!("s".repeat(129))),
            "spec.subject",
        ),
        (
            "long description",
            with("description", json!("d".repeat(2049))),
            "spec.description",
        ),
        (
            "ftp picture",
            with("profilePictureUrl", json!("ftp://cdn.example.com/a.jpg")),
            "spec.profilePictureUrl",
        ),
        (
            "javascript picture",
            with("profilePictureUrl", json!("javascript:alert(1)")),
            "spec.profilePictureUrl",
        ),
        (
            "picture not a URL",
            with("profilePictureUrl", json!("https://")),
            "spec.profilePictureUrl",
        ),
        (
            "region with a host",
            with("region", json!("evil.example.com")),
            "spec.region",
        ),
        (
            "upper-case region",
            with("region", json!("AP-SOUTHEAST-1")),
            "spec.region",
        ),
        (
            "secret name",
            with("credentialsSecretRef", json!({"name": "Not_A_Name"})),
            "spec.credentialsSecretRef.name",
        ),
    ];
    for (i, (what, spec, field)) in cases.into_iter().enumerate() {
        let err = api
            .create(
                &PostParams::default(),
                &manifest(&world.ns, &format!("bad-{i}"), spec),
            )
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: the API server accepted it"));
        let text = err.to_string();
        assert!(
            text.contains(field),
            "{what}: message does not name {field}: {text}"
        );
    }

    // Lengths count characters: 128 CJK characters (384 bytes) are a valid subject, and the
    // default channel type is filled in.
    let created = api
        .create(
            &PostParams::default(),
            &manifest(&world.ns, "cjk", with("subject", json!("群".repeat(128)))),
        )
        .await
        .expect("128 CJK characters are a valid subject");
    assert_eq!(created.data["spec"]["channelType"], "WHATSAPP");

    // An empty description is valid ("" clears it).
    api.create(
        &PostParams::default(),
        &manifest(&world.ns, "clear", with("description", json!(""))),
    )
    .await
    .expect("empty description");

    // groupId is immutable.
    let err = api
        .patch(
            "cjk",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"groupId": "OTHER"}})),
        )
        .await
        .expect_err("groupId change accepted");
    let text = err.to_string();
    assert!(
        text.contains("spec.groupId") && text.contains("immutable"),
        "{text}"
    );

    // groupId may be set once later (adopting), never removed.
    let mut creating = valid();
    creating.as_object_mut().unwrap().remove("groupId");
    creating["subject"] = json!("To be adopted");
    api.create(
        &PostParams::default(),
        &manifest(&world.ns, "adopt", creating),
    )
    .await
    .expect("no groupId with a subject");
    api.patch(
        "adopt",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"groupId": "ADOPTED"}})),
    )
    .await
    .expect("groupId set once");
    let err = api
        .patch(
            "adopt",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"groupId": null}})),
        )
        .await
        .expect_err("groupId removed");
    assert!(
        err.to_string().contains("groupId cannot be removed"),
        "{err}"
    );

    // Unknown fields are pruned (kube-rs sends no strict field validation by default).
    let created = api
        .create(
            &PostParams::default(),
            &manifest(
                &world.ns,
                "pruned",
                with("endpoint", json!("https://evil.example.com")),
            ),
        )
        .await
        .expect("unknown field");
    assert!(
        created.data["spec"].get("endpoint").is_none(),
        "unknown field was stored"
    );
}
