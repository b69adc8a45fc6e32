//! A terminal error (a profile picture that is not a JPEG: CAMS answers
//! InvalidParameter.ProfilePictureFile): exactly one call, Stalled True with reason
//! InvalidSpec, and no further call for 60 s — through a label edit and an operator restart —
//! until the spec is fixed, which converges with exactly one more call.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{condition, reason, World};

#[tokio::test]
async fn terminal_error_is_called_once_until_the_spec_changes() {
    let world = World::new("terminal").await;
    let mut operator = world.operator(&["--retry-base", "200ms", "--retry-max", "2s"]);
    let cg = world
        .group("png", "7300001", |b| {
            b.subject(Some("terminal"))
                .profile_picture_url(Some("https://cdn.example.com/logo.png"))
        })
        .await;
    let created = Instant::now();
    world.create(&cg).await;

    let obj = world
        .wait_for(
            "png",
            "Stalled (InvalidSpec)",
            Duration::from_secs(30),
            |o| {
                condition(o, "Stalled").as_deref() == Some("True")
                    && o.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
            },
        )
        .await;
    let stalled_after = created.elapsed();
    assert_eq!(reason(&obj, "Stalled").as_deref(), Some("InvalidSpec"));
    assert_eq!(reason(&obj, "Synced").as_deref(), Some("InvalidSpec"));
    assert_eq!(condition(&obj, "Ready").as_deref(), Some("False"));
    let status = obj.status.clone().unwrap();
    assert_eq!(
        status.code.as_deref(),
        Some("InvalidParameter.ProfilePictureFile")
    );
    assert!(
        status.retry.is_none(),
        "a terminal error schedules no retry"
    );
    let calls = world.calls("UpdateChatGroup").await;
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].code, "InvalidParameter.ProfilePictureFile");

    // 60 s of watching the log: no call, not after a label edit (a watch event), nor after
    // a restart of the operator (which reads the outcome back from status).
    let quiet = Instant::now();
    let mut labelled = false;
    let mut restarted = false;
    let mut polls = 0;
    while quiet.elapsed() < Duration::from_secs(60) {
        if !labelled && quiet.elapsed() > Duration::from_secs(15) {
            world
                .patch("png", json!({"metadata": {"labels": {"touched": "yes"}}}))
                .await;
            labelled = true;
        }
        if !restarted && quiet.elapsed() > Duration::from_secs(30) {
            operator.stop().await;
            operator = world.operator(&["--retry-base", "200ms", "--retry-max", "2s"]);
            restarted = true;
        }
        let n = world.calls("UpdateChatGroup").await.len();
        assert_eq!(
            n,
            1,
            "a call {:.1}s after the terminal error",
            quiet.elapsed().as_secs_f64()
        );
        polls += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let quiet = quiet.elapsed();
    let obj = world.get("png").await;
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("True"));

    // The fix: a JPEG URL -> exactly one more call, Ready at generation 2.
    let fixed = Instant::now();
    world
        .patch(
            "png",
            json!({"spec": {"profilePictureUrl": "https://cdn.example.com/logo.jpg"}}),
        )
        .await;
    let obj = world.wait_ready("png").await;
    let ready_after = fixed.elapsed();
    assert_eq!(obj.metadata.generation, Some(2));
    assert_eq!(condition(&obj, "Stalled").as_deref(), Some("False"));
    let calls = world
        .expect_calls("UpdateChatGroup", 2, Duration::from_secs(3))
        .await;
    assert_eq!(calls[1].code, "OK");
    assert_eq!(
        calls[1].param("ProfilePictureFile"),
        Some("https://cdn.example.com/logo.jpg")
    );
    operator.stop().await;
    println!(
        "terminal: Stalled (InvalidSpec) {:.2}s after create with 1 call; 0 calls in {:.0}s ({polls} polls of the log, a label edit and an operator restart); \
         fixed spec Ready {:.2}s after the edit with 1 more call (2 in all)",
        stalled_after.as_secs_f64(),
        quiet.as_secs_f64(),
        ready_after.as_secs_f64()
    );
}
