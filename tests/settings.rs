//! `cams-operator run` and `call` refuse settings that make no sense before they touch
//! anything: one line on stderr, a non-zero exit, no panic. No cluster or network needed.

use std::process::Command;

fn operator(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cams-operator"))
        .args(args)
        // Nothing from the environment this test runs in may change the outcome.
        .env_clear()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("running cams-operator");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nonsense_settings_exit_non_zero_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--qps=-1"], "invalid setting --qps: -1 "),
        (&["run", "--qps=NaN"], "invalid setting --qps: NaN "),
        (
            &["run", "--retry-base=0s"],
            "invalid setting --retry-base: 0s",
        ),
        (
            &["run", "--lease-duration=5s", "--lease-renew-deadline=10s"],
            "invalid setting --lease-renew-deadline: 10s",
        ),
        (
            &["run", "--concurrency=0"],
            "invalid setting --concurrency: 0",
        ),
        (
            &["run", "--region=cn-hangzhou"],
            "invalid setting --region: \"cn-hangzhou\"",
        ),
        (
            &["call", "ListChatGroup", "--region=cn-hangzhou", "--dry-run"],
            "invalid setting --region: \"cn-hangzhou\"",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = operator(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(
            stderr.starts_with(&format!("cams-operator: {expected}")),
            "{args:?}: {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn settings_come_from_the_environment_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_cams-operator"))
        .args(["run"])
        .env_clear()
        .env("CAMS_OPERATOR_REGIONS", "cn-hangzhou,cn-shanghai")
        .output()
        .expect("running cams-operator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "cams-operator: invalid setting --region: \"ap-southeast-1\" is not in --regions (cn-hangzhou,cn-shanghai); add it there"
    );
}
