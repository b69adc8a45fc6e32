//! A new ChatGroup: read its Secret, one UpdateChatGroup with only the set fields, one
//! server-side-apply status write carrying CAMS's envelope as returned, one Normal event.

use chrono::{SubsecRound, Utc};

use super::*;

#[tokio::test]
async fn first_apply_reads_the_secret_calls_cams_once_writes_status_once_and_publishes_updated() {
    let obj = base().build();
    let h = answering(vec![Ok(alibaba_example_response())]);

    let before = Utc::now().trunc_subsecs(0);
    let action = h.reconcile(&obj).await;
    let after = Utc::now();

    // Exactly these requests, in this order: nothing else reached the API server.
    h.api.assert_one_call_recorded();

    // One CAMS call, with only the fields the spec sets.
    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1, "exactly one UpdateChatGroup");
    let call = &calls[0];
    assert_eq!(
        call.request,
        UpdateChatGroup {
            business_number: "8613800001234".into(),
            cust_space_id: "cams-abc123".into(),
            group_id: "EA303XYZ".into(),
            channel_type: Some("WHATSAPP".into()),
            subject: Some("VIP support".into()),
            description: None,
            profile_picture_file: None,
        }
    );
    assert_eq!(call.region, None, "no region in the spec: the default");
    assert_eq!(call.credentials.access_key_id, ACCESS_KEY_ID);
    assert_eq!(
        call.credentials.access_key_secret.expose(),
        ACCESS_KEY_SECRET
    );
    assert!(call.credentials.security_token.is_none());

    // The status write: server-side apply, forced, with our field manager.
    let patch = &h.api.status_patches()[0];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/apply-patch+yaml"),
        "server-side apply"
    );
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some(FIELD_MANAGER)
    );
    assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
    let body = patch.body.as_ref().expect("JSON body");
    assert_eq!(body["apiVersion"], "cams.dev/v1alpha1");
    assert_eq!(body["kind"], "ChatGroup");

    // The envelope exactly as CAMS returned it (Success false with Code OK, the RequestId's
    // trailing newline kept), under the status field names the README documents.
    let wire = &body["status"];
    assert_eq!(wire["success"], false);
    assert_eq!(wire["code"], "OK");
    assert_eq!(wire["message"], "None");
    assert_eq!(wire["requestId"], REQUEST_ID);
    assert_eq!(wire["accessDeniedDetail"], "None");
    assert_eq!(wire["result"], 1);
    assert_eq!(wire["observedGeneration"], 1);
    assert!(
        wire.get("retry").is_none(),
        "no retry after success: {wire}"
    );
    assert!(wire.get("lastHandledReconcileAt").is_none());

    let status = h.api.written_status();
    for (type_, value, reason) in [
        ("Ready", "True", "Available"),
        ("Synced", "True", "ReconcileSuccess"),
        ("Stalled", "False", ""),
    ] {
        let c = condition(&status, type_);
        assert_eq!(c.status, value, "{type_}");
        if !reason.is_empty() {
            assert_eq!(c.reason, reason, "{type_}");
        }
        assert_eq!(c.observed_generation, Some(1), "{type_}");
    }
    let hash = status.applied_hash.as_deref().expect("appliedHash");
    assert!(hash.starts_with("v1:") && hash.len() > 3, "{hash}");
    let synced_at = parse_time(status.last_sync_time.as_deref().expect("lastSyncTime"));
    assert!(
        before <= synced_at && synced_at <= after + chrono::Duration::milliseconds(1),
        "lastSyncTime {synced_at} not within [{before}, {after}]"
    );

    // One Normal "Updated" event about this object.
    let events = h.api.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], "Updated");
    assert_eq!(event["action"], "UpdateChatGroup");
    assert_eq!(event["regarding"]["kind"], "ChatGroup");
    assert_eq!(event["regarding"]["name"], NAME);
    assert_eq!(event["regarding"]["namespace"], NS);
    assert_eq!(event["reportingController"], "cams-operator");
    assert!(
        event["note"]
            .as_str()
            .unwrap_or_default()
            .contains("90E63D28-E31D-1EB2-8939-A94866411B2O"),
        "{event}"
    );

    // Nothing more to do until the object changes.
    assert_eq!(action, Requeue::OnChange);
}

#[tokio::test]
async fn first_apply_sends_every_set_optional_field_and_the_region() {
    let obj = base()
        .subject(Some("客服 VIP"))
        .description(Some(""))
        .profile_picture_url(Some("https://cdn.example.com/vip.jpg"))
        .region(Some("cn-hangzhou"))
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);

    h.reconcile(&obj).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    let request = &calls[0].request;
    assert_eq!(request.subject.as_deref(), Some("客服 VIP"));
    assert_eq!(
        request.description.as_deref(),
        Some(""),
        "an empty description is sent (it clears the group's)"
    );
    assert_eq!(
        request.profile_picture_file.as_deref(),
        Some("https://cdn.example.com/vip.jpg")
    );
    assert_eq!(calls[0].region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}

#[tokio::test]
async fn first_apply_without_optional_fields_sends_none_of_them() {
    let obj = base().subject(None).build();
    let h = answering(vec![Ok(alibaba_example_response())]);

    h.reconcile(&obj).await;

    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1);
    let request = &calls[0].request;
    assert_eq!(request.subject, None);
    assert_eq!(request.description, None);
    assert_eq!(request.profile_picture_file, None);
    assert_eq!(request.channel_type.as_deref(), Some("WHATSAPP"));
}

/// The status write asks the API server for the written object's metadata only: the
/// reconcile reads nothing else back.
#[tokio::test]
async fn the_status_write_reads_back_metadata_only() {
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&base().build()).await;
    let patch = &h.api.status_patches()[0];
    assert_eq!(
        patch.accept.as_deref(),
        Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
    );
}
