//! The status never claims more than the operator knows: a refused forced re-apply, a lost
//! answer, an operator misconfiguration, its own status write coming back, and a metadata edit
//! during a call.

use super::*;
use crate::resource::{PAUSED_ANNOTATION, RECONCILE_REQUESTED_AT_ANNOTATION as TOKEN};

fn with_resource_version(obj: &ChatGroup, rv: &str) -> ChatGroup {
    let mut obj = obj.clone();
    obj.metadata.resource_version = Some(rv.into());
    obj
}

/// A group deleted behind the operator's back: the forced re-apply is refused with
/// GroupNotExist, and the next pass must not turn that into "up to date".
#[tokio::test]
async fn a_refused_forced_reapply_never_turns_into_ready_on_the_next_pass() {
    let v1 = accepted(&base().build()).await;
    let poked = ChatGroupBuilder::from(&v1).annotation(TOKEN, "t-1").build();
    let h = answering(vec![Err(api_error(
        400,
        "InvalidParameter.GroupNotExist",
        "The group does not exist.",
        None,
    ))]);
    h.reconcile(&poked).await;
    let refused = h.api.written_status();
    assert_eq!(
        cond(&refused, "Ready"),
        ("False".into(), "InvalidSpec".into())
    );

    // Every later pass (own write, resync, restart) keeps it so, without a call.
    for _ in 0..3 {
        let h = with_secret();
        let requeue = h.reconcile(&with_status(&poked, refused.clone())).await;
        assert_eq!(requeue, Requeue::OnChange);
        assert!(h.cams_calls().is_empty());
        assert!(h.api.status_patches().is_empty(), "{:?}", h.api.routes());
    }
}

/// An edit's update lands but its answer is lost; the spec is reverted to the accepted one:
/// that revert must be applied, not judged "up to date".
#[tokio::test]
async fn a_revert_after_a_lost_answer_calls_again() {
    let v1 = accepted(&base().build()).await;
    let v2 = ChatGroupBuilder::from(&v1)
        .generation(2)
        .subject(Some("Interim subject"))
        .build();
    let h = answering(vec![Err(CamsError::Transport(
        "connection reset by peer".into(),
    ))]);
    h.reconcile(&v2).await;
    let lost = h.api.written_status();
    assert_eq!(lost.applied_hash, None, "the claim is withdrawn");
    assert_eq!(cond(&lost, "Ready").0, "False");

    let reverted = ChatGroupBuilder::from(&with_status(&v2, lost))
        .generation(3)
        .subject(v1.spec.subject.as_deref())
        .build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&reverted).await;
    let calls = h.cams_calls();
    assert_eq!(calls.len(), 1, "the revert was judged up to date");
    assert_eq!(calls[0].request.subject, v1.spec.subject);
    assert_eq!(cond(&h.api.written_status(), "Ready").0, "True");
}

/// The watch brings back the status this process just wrote: the reconcile leaves at once,
/// with the previous reconcile's requeue.
#[tokio::test]
async fn its_own_status_write_coming_back_costs_nothing() {
    let obj = base().build();
    let h = answering(vec![Err(api_error(500, "InternalError", "boom", None))]);
    let first = h.reconcile(&obj).await;
    let routes = h.api.routes().len();
    let echo = with_resource_version(&with_status(&obj, h.api.written_status()), "2001");

    let again = h.reconcile(&echo).await;

    assert_eq!(
        h.api.routes().len(),
        routes,
        "no API request for our own write"
    );
    let (Some(a), Some(b)) = (requeue_after(&first), requeue_after(&again)) else {
        panic!("both requeue: {first:?} {again:?}");
    };
    assert!(b <= a, "the retry keeps its time: {a:?} then {b:?}");
    assert_eq!(h.cams_calls().len(), 1);
    assert!(h.ctx.metrics.encode().contains("outcome=\"own_write\""));
}

/// A metadata edit (here: pausing) lands while a call is in flight; the watch delivers that
/// edit's version, which lacks the status just written. The reconcile must read the object
/// afresh instead of calling again or wiping the fields of the accepted call.
#[tokio::test]
async fn a_metadata_edit_during_a_call_neither_repeats_it_nor_wipes_its_status() {
    let obj = base().build();
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&obj).await;
    let written = h.api.written_status();

    // The edit's version (1500): the old status, the new annotation.
    let edited = with_resource_version(
        &ChatGroupBuilder::from(&obj)
            .annotation(PAUSED_ANNOTATION, "true")
            .build(),
        "1500",
    );
    // What the API server holds now: the edit and our status (2002).
    let current = with_resource_version(&with_status(&edited, written.clone()), "2002");
    let h2 = Harness::builder().chatgroup(&current).build();
    // The same process (its memory of the write) reconciles the edit's version.
    let ctx = Context {
        client: h2.ctx.client.clone(),
        cams: h.ctx.cams.clone(),
        endpoints: h.ctx.endpoints.clone(),
        operator_credentials: OperatorCredentials::none(),
        lend: LendPolicy::Nobody,
        retry: RetryPolicy::default(),
        reporter: h.ctx.reporter.clone(),
        field_manager: FIELD_MANAGER.into(),
        api_timeout: Duration::from_secs(5),
        caches: Default::default(),
        metrics: Default::default(),
        observe: h.ctx.observe,
        lister: h.ctx.lister.clone(),
        observer: Default::default(),
        create_timeout: h.ctx.create_timeout,
        delete_timeout: h.ctx.delete_timeout,
        invite_links: h.ctx.invite_links,
        call_load: Default::default(),
        api_writes: Default::default(),
    };
    ctx.caches
        .record_write(&obj, Some("2001".into()), &written, Requeue::OnChange);
    reconcile_object(Arc::new(edited), Arc::new(ctx))
        .await
        .expect("reconcile");

    assert_eq!(h.cams_calls().len(), 1, "the call was repeated");
    let routes = h2.api.routes();
    assert_eq!(routes[0], chatgroup_get_route(), "{routes:?}");
    let patched = h2.api.written_status();
    assert_eq!(
        patched.request_id, written.request_id,
        "the accepted call's fields were wiped"
    );
    assert_eq!(patched.applied_hash, written.applied_hash);
    assert_eq!(
        cond(&patched, "Synced"),
        ("False".into(), "ReconcilePaused".into())
    );
    assert_eq!(
        cond(&patched, "Ready").0,
        "True",
        "paused after acceptance keeps Ready"
    );
}

/// A bad endpoint setting is the operator's fault, not the spec's: ConfigurationError, no
/// call, and a restart with fixed settings applies the spec.
#[tokio::test]
async fn an_operator_misconfiguration_is_configuration_error_and_clears_on_restart() {
    let obj = base().build();
    let h = answering(vec![Err(CamsError::InvalidEndpoint(
        "cams..example.com".into(),
    ))]);
    h.reconcile(&obj).await;
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Synced"),
        ("False".into(), "ConfigurationError".into())
    );
    assert_eq!(cond(&status, "Stalled").0, "True");
    assert!(condition(&status, "Synced")
        .message
        .contains("operator's settings"));
    assert_eq!(h.api.single_event().1, "ConfigurationError");

    // Restarted with fixed settings: the spec is applied.
    let h = answering(vec![Ok(alibaba_example_response())]);
    h.reconcile(&with_status(&obj, status)).await;
    assert_eq!(h.cams_calls().len(), 1);
    let fixed = h.api.written_status();
    assert_eq!(cond(&fixed, "Ready").0, "True");
    assert_eq!(cond(&fixed, "Stalled").0, "False");
}

/// A region outside the operator's allowlist: Stalled RegionNotAllowed, and no request is
/// even built (the mocked client would panic on a call) nor credentials read.
#[tokio::test]
async fn a_region_outside_the_allowlist_is_stalled_without_a_request() {
    let obj = base().region(Some("oss-cn-hangzhou")).build();
    let h = with_secret();
    h.reconcile(&obj).await;
    assert!(h.cams_calls().is_empty());
    let status = h.api.written_status();
    assert_eq!(
        cond(&status, "Ready"),
        ("False".into(), "RegionNotAllowed".into())
    );
    assert_eq!(
        cond(&status, "Stalled"),
        ("True".into(), "RegionNotAllowed".into())
    );
    assert!(condition(&status, "Synced")
        .message
        .contains("oss-cn-hangzhou"));
    assert!(
        !h.api.routes().iter().any(|r| r.contains("/secrets/")),
        "credentials were read for a request that must not exist"
    );
    // Passes after that change nothing and call nothing.
    let h = with_secret();
    assert_eq!(
        h.reconcile(&with_status(&obj, status)).await,
        Requeue::OnChange
    );
    assert!(h.api.status_patches().is_empty());
}

/// Our status write (a server-side apply without a precondition) landed on a version edited
/// after we read the object: its echo carries a new generation, which must be applied, not
/// taken for "nothing happened since".
#[tokio::test]
async fn an_echo_of_a_write_that_landed_on_an_edited_version_is_new_work() {
    let obj = base().build();
    let h = answering(vec![
        Ok(alibaba_example_response()),
        Ok(alibaba_example_response()),
    ]);
    h.reconcile(&obj).await;
    let written = h.api.written_status();
    let echo = with_resource_version(
        &ChatGroupBuilder::from(&with_status(&obj, written))
            .generation(2)
            .subject(Some("Edited while we wrote"))
            .build(),
        "2001",
    );
    h.reconcile(&echo).await;
    let calls = h.cams_calls();
    assert_eq!(calls.len(), 2, "generation 2 was never applied");
    assert_eq!(
        calls[1].request.subject.as_deref(),
        Some("Edited while we wrote")
    );
}
