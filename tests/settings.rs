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
        (
            &["run", "--observe-interval=1m", "--observe-min-interval=5m"],
            "invalid setting --observe-min-interval: 5m is longer than --observe-interval 1m",
        ),
        (
            &["run", "--observe-page-size=0"],
            "invalid setting --observe-page-size: 0 would list no group",
        ),
        (
            &[
                "export",
                "--cust-space-id=cams-abc",
                "--business-number=+86 138",
            ],
            "invalid setting --business-number: \"+86 138\"",
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

#[test]
fn observation_settings_come_from_the_environment_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_cams-operator"))
        .args(["run"])
        .env_clear()
        .env("CAMS_OPERATOR_OBSERVE_INTERVAL", "30s")
        .env("CAMS_OPERATOR_OBSERVE_MIN_INTERVAL", "1m")
        .output()
        .expect("running cams-operator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "cams-operator: invalid setting --observe-min-interval: 1m is longer than --observe-interval 30s"
    );
}

#[test]
fn values_refused_while_parsing_are_one_line_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--endpoint=ftp://x"],
            "error: invalid value 'ftp://x' for '--endpoint <ENDPOINT>': ",
        ),
        (
            &["run", "--signature=v4"],
            "error: invalid value 'v4' for '--signature <SIGNATURE>': ",
        ),
        (
            &["call", "ListChatGroup", "--param=NoEquals", "--dry-run"],
            "error: invalid value 'NoEquals' for '--param <KEY=VALUE>': must be Key=Value",
        ),
        (
            &["call", "ListChatGroup", "--timestamp=yesterday", "--dry-run"],
            "error: invalid value 'yesterday' for '--timestamp <TIMESTAMP>': must be yyyy-MM-ddTHH:mm:ssZ",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = operator(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr:?}");
    }
}

#[test]
fn an_empty_endpoint_variable_means_no_override() {
    let out = Command::new(env!("CARGO_BIN_EXE_cams-operator"))
        .args(["call", "ListChatGroup", "--dry-run"])
        .env_clear()
        .env("CAMS_OPERATOR_ENDPOINT", "")
        .env("CAMS_OPERATOR_STS_ENDPOINT", "")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
        .output()
        .expect("running cams-operator");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"url\": \"https://cams.ap-southeast-1.aliyuncs.com/\""),
        "{stdout}"
    );
}
