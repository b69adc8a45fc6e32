//! Settings validation, table-driven over command lines as clap parses them.

use chrono::TimeZone;
use clap::error::ErrorKind;
use clap::Parser;

use super::*;
use crate::cams::RateLimit;

fn run_args(flags: &[&str]) -> RunArgs {
    let argv = ["cams-operator", "run"].iter().chain(flags);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Run(args) => *args,
        other => panic!("{other:?}"),
    }
}

fn call_args(flags: &[&str]) -> CallArgs {
    let argv = ["cams-operator", "call", "ListChatGroup"]
        .iter()
        .chain(flags);
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Call(args) => *args,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_defaults_and_sensible_settings_are_accepted() {
    let ok: &[&[&str]] = &[
        &[],
        &["--qps=0", "--burst=0"],
        &["--qps=0.5", "--burst=1"],
        &[
            "--regions=ap-southeast-1,cn-hangzhou",
            "--region=cn-hangzhou",
        ],
        &["--regions= ap-southeast-1 , ,cn-hangzhou"],
        &["--retry-base=2s", "--retry-max=2s"],
        &[
            "--request-timeout=10m",
            "--api-timeout=1s",
            "--shutdown-grace=0s",
        ],
        &["--slow-retry=24h", "--retry-max=24h"],
        &[
            "--lease-duration=60s",
            "--lease-renew-deadline=40s",
            "--lease-retry-period=5s",
        ],
        &[
            "--endpoint=http://127.0.0.1:8080",
            "--sts-endpoint=sts.aliyuncs.com",
        ],
        &["--signature=v2"],
    ];
    for flags in ok {
        assert_eq!(run_args(flags).validate(), Ok(()), "{flags:?}");
    }
    let args = run_args(&["--regions= ap-southeast-1 , ,cn-hangzhou"]);
    assert_eq!(
        args.cams.allowed_regions(),
        ["ap-southeast-1", "cn-hangzhou"]
    );
}

#[test]
fn settings_that_make_no_sense_are_refused_naming_the_flag() {
    let bad: &[(&[&str], &str)] = &[
        (&["--qps=-1"], "--qps"),
        (&["--qps=NaN"], "--qps"),
        (&["--qps=inf"], "--qps"),
        (&["--qps=0.0001"], "--qps"),
        (&["--qps=1000000"], "--qps"),
        (&["--burst=0"], "--burst"),
        (&["--retry-base=0s"], "--retry-base"),
        (&["--retry-base=10s", "--retry-max=5s"], "--retry-max"),
        (&["--retry-max=25h"], "--retry-max"),
        (&["--slow-retry=0s"], "--slow-retry"),
        (&["--slow-retry=48h"], "--slow-retry"),
        (&["--request-timeout=0s"], "--request-timeout"),
        (&["--request-timeout=11m"], "--request-timeout"),
        (&["--api-timeout=0s"], "--api-timeout"),
        (&["--api-timeout=1h"], "--api-timeout"),
        (&["--shutdown-grace=25h"], "--shutdown-grace"),
        (&["--concurrency=0"], "--concurrency"),
        (&["--lease-duration=10s"], "--lease-renew-deadline"),
        (&["--lease-renew-deadline=2s"], "--lease-retry-period"),
        (&["--lease-retry-period=0s"], "--lease-retry-period"),
        (&["--lease-duration=0s"], "--lease-duration"),
        (&["--lease-duration=30h"], "--lease-duration"),
        (&["--leader-election-name= "], "--leader-election-name"),
        (&["--region=cn-hangzhou"], "--region"),
        (&["--region=Hangzhou", "--regions=Hangzhou"], "--regions"),
        (&["--regions=ap-southeast-1,evil.com/x"], "--regions"),
        (&["--regions=,"], "--regions"),
    ];
    for (flags, flag) in bad {
        let err = run_args(flags).validate().unwrap_err();
        let SettingsError::Invalid { flag: got, .. } = &err;
        assert_eq!(got, flag, "{flags:?}: {err}");
        let line = err.to_string();
        assert!(
            line.starts_with(&format!("invalid setting {flag}: ")) && !line.contains('\n'),
            "{line}"
        );
    }
}

#[test]
fn messages_quote_the_value_and_the_rule() {
    let message = |flags: &[&str]| run_args(flags).validate().unwrap_err().to_string();
    assert_eq!(
        message(&["--retry-base=10s", "--retry-max=5s"]),
        "invalid setting --retry-max: 5s is shorter than --retry-base 10s"
    );
    assert_eq!(
        message(&["--region=cn-hangzhou"]),
        "invalid setting --region: \"cn-hangzhou\" is not in --regions (ap-southeast-1); add it there"
    );
    assert_eq!(
        message(&["--request-timeout=11m"]),
        "invalid setting --request-timeout: 11m is longer than the maximum 10m"
    );
}

#[test]
fn call_checks_the_settings_it_shares() {
    assert_eq!(call_args(&[]).cams.validate(), Ok(()));
    assert_eq!(
        call_args(&["--region=cn-hangzhou", "--regions=cn-hangzhou"])
            .cams
            .validate(),
        Ok(())
    );
    for flags in [
        &["--region=cn-hangzhou"][..],
        &["--qps=-1"],
        &["--request-timeout=0s"],
    ] {
        assert!(call_args(flags).cams.validate().is_err(), "{flags:?}");
    }
}

#[test]
fn typed_values_are_parsed_at_the_boundary() {
    let run = run_args(&[]);
    assert_eq!(run.cams.endpoint, None);
    assert_eq!(run.cams.sts_endpoint, None);
    assert_eq!(run.cams.signature, SignatureVersion::V3);
    let run = run_args(&[
        "--endpoint= http://127.0.0.1:8080 ",
        "--sts-endpoint=sts.aliyuncs.com",
        "--signature=V2",
    ]);
    assert_eq!(
        run.cams.endpoint,
        Some(Endpoint::parse("http://127.0.0.1:8080").unwrap())
    );
    assert_eq!(
        run.cams.sts_endpoint.map(|e| e.origin()).as_deref(),
        Some("https://sts.aliyuncs.com")
    );
    assert_eq!(run.cams.signature, SignatureVersion::V1);
    // A blank endpoint (an empty environment variable) means none.
    assert_eq!(run_args(&["--endpoint="]).cams.endpoint, None);

    let call = call_args(&[
        "--param=Subject=a=b",
        "--param=Description=",
        "--timestamp=2025-01-01T00:00:00Z",
    ]);
    assert_eq!(
        call.params,
        [
            ("Subject".to_string(), "a=b".to_string()),
            ("Description".to_string(), String::new())
        ]
    );
    assert_eq!(
        call.timestamp,
        Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
    );
}

#[test]
fn typed_values_are_refused_at_parse_time_on_one_line_naming_the_flag() {
    let bad: &[(&[&str], &str)] = &[
        (&["run", "--endpoint=ftp://x"], "--endpoint"),
        (
            &["run", "--sts-endpoint=sts.example.com/path"],
            "--sts-endpoint",
        ),
        (&["run", "--signature=v4"], "--signature"),
        (&["call", "ListChatGroup", "--param=NoEquals"], "--param"),
        (
            &["call", "ListChatGroup", "--timestamp=2025-01-01 00:00:00"],
            "--timestamp",
        ),
    ];
    for (args, flag) in bad {
        let err = Cli::try_parse_from(["cams-operator"].iter().chain(*args)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
        let line = refused_value_line(&err).unwrap();
        assert!(
            line.starts_with("error: invalid value ") && line.contains(&format!("'{flag} <")),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
    assert_eq!(
        refused_value_line(
            &Cli::try_parse_from(["cams-operator", "run", "--endpoint=ftp://x"]).unwrap_err()
        )
        .unwrap(),
        "error: invalid value 'ftp://x' for '--endpoint <ENDPOINT>': \"ftp://x\": only http:// and https:// are allowed"
    );
    // Help and unknown flags are clap's to print.
    let help = Cli::try_parse_from(["cams-operator", "run", "--help"]).unwrap_err();
    assert_eq!(refused_value_line(&help), None);
}

#[test]
fn flag_groups_feed_the_runtime_settings() {
    let run = run_args(&[
        "--namespaces=a,,b",
        "--label-selector=tier=x",
        "--retry-base=2s",
        "--retry-max=1m",
        "--slow-retry=10m",
        "--leader-election-name=lease",
        "--lease-duration=30s",
        "--lease-renew-deadline=20s",
        "--lease-retry-period=3s",
    ]);
    let scope = WatchScope::from(&run.watch);
    assert_eq!(scope.namespaces, ["a", "b"]);
    assert_eq!(scope.label_selector.as_deref(), Some("tier=x"));
    let retry = RetryPolicy::from(&run.retry);
    assert_eq!(
        (retry.base, retry.cap, retry.slow),
        (
            Duration::from_secs(2),
            Duration::from_secs(60),
            Duration::from_secs(600)
        )
    );
    let lease = run
        .leader
        .lease_config("me".into(), Duration::from_secs(5), Some("pods".into()));
    assert_eq!(
        (
            lease.namespace.as_str(),
            lease.name.as_str(),
            lease.identity.as_str()
        ),
        ("pods", "lease", "me")
    );
    assert_eq!(
        (
            lease.lease_duration,
            lease.renew_deadline,
            lease.retry_period
        ),
        (
            Duration::from_secs(30),
            Duration::from_secs(20),
            Duration::from_secs(3)
        )
    );
    assert_eq!(lease.api_timeout, Duration::from_secs(5));
    assert_eq!(
        run.leader
            .lease_config("me".into(), Duration::from_secs(5), None)
            .namespace,
        "default"
    );
    assert!(WatchScope::from(&run_args(&[]).watch).namespaces.is_empty());
}

#[test]
fn observation_defaults_to_the_contract_and_zero_turns_it_off() {
    let run = run_args(&[]);
    assert_eq!(run.observe_settings(), ObserveSettings::default());
    assert_eq!(
        run.observe.list_rate_limit(),
        Some(RateLimit {
            qps: 5.0,
            burst: 10
        })
    );
    let run = run_args(&[
        "--observe-interval=0",
        "--observe-min-interval=1h",
        "--settle=30s",
        "--observe-page-size=1000",
        "--list-qps=0",
        "--list-burst=0",
    ]);
    assert_eq!(run.validate(), Ok(()));
    assert_eq!(
        run.observe_settings(),
        ObserveSettings {
            interval: None,
            min_interval: Duration::from_secs(3600),
            settle: Duration::from_secs(30),
            page_size: 1000,
        }
    );
    assert_eq!(run.observe.list_rate_limit(), None);
    let run = run_args(&[
        "--observe-interval=1m",
        "--observe-min-interval=1m",
        "--settle=0s",
    ]);
    assert_eq!(run.validate(), Ok(()));
    assert_eq!(
        run.observe_settings().interval,
        Some(Duration::from_secs(60))
    );
}

#[test]
fn observation_settings_that_make_no_sense_are_refused() {
    let bad: &[(&[&str], &str)] = &[
        (
            &["--observe-interval=1m", "--observe-min-interval=2m"],
            "--observe-min-interval",
        ),
        (&["--observe-min-interval=0s"], "--observe-min-interval"),
        (&["--observe-interval=25h"], "--observe-interval"),
        (&["--settle=25h"], "--settle"),
        (&["--observe-page-size=0"], "--observe-page-size"),
        (&["--observe-page-size=1001"], "--observe-page-size"),
        (&["--list-qps=-1"], "--list-qps"),
        (&["--list-qps=100000"], "--list-qps"),
        (&["--list-burst=0"], "--list-burst"),
    ];
    for (flags, flag) in bad {
        let err = run_args(flags).validate().unwrap_err();
        let SettingsError::Invalid { flag: got, .. } = &err;
        assert_eq!(got, flag, "{flags:?}: {err}");
    }
    let message = |flags: &[&str]| run_args(flags).validate().unwrap_err().to_string();
    assert_eq!(
        message(&["--observe-interval=1m", "--observe-min-interval=2m"]),
        "invalid setting --observe-min-interval: 2m is longer than --observe-interval 1m"
    );
    assert_eq!(
        message(&["--observe-page-size=0"]),
        "invalid setting --observe-page-size: 0 would list no group; use 1 to 1000"
    );
    assert_eq!(
        message(&["--list-burst=0"]),
        "invalid setting --list-burst: 0 lets no call through; use 1 or more (or --list-qps 0 for no limit)"
    );
}

fn export_args(flags: &[&str]) -> ExportArgs {
    let argv = ["cams-operator", "export"].iter().chain(flags);
    match Cli::try_parse_args(argv).unwrap().command {
        Command::Export(args) => *args,
        other => panic!("{other:?}"),
    }
}

const ACCOUNT: [&str; 2] = [
    "--cust-space-id=cams-abc",
    "--business-number=8613800001234",
];

#[test]
fn export_takes_the_account_and_what_the_manifests_name() {
    let args = export_args(&ACCOUNT);
    assert_eq!(args.validate(), Ok(()));
    assert_eq!(args.management_policy, ManagementPolicy::Manage);
    assert_eq!(args.page_size, 100);
    assert!(!args.region_given, "the default region is not written");
    assert_eq!(args.cams.region, "ap-southeast-1");
    let args = export_args(&[
        ACCOUNT[0],
        ACCOUNT[1],
        "--namespace=team-a",
        "--secret-ref=cams.credentials",
        "--management-policy=observe",
        "--page-size=20",
        "--region=cn-hangzhou",
        "--regions=cn-hangzhou",
        "--endpoint=http://127.0.0.1:9",
    ]);
    assert_eq!(args.validate(), Ok(()));
    assert_eq!(args.management_policy, ManagementPolicy::Observe);
    assert!(args.region_given);
    assert_eq!(args.cams.region, "cn-hangzhou");
    assert_eq!(args.namespace.as_deref(), Some("team-a"));
    assert_eq!(args.secret_ref.as_deref(), Some("cams.credentials"));
    // The account is required.
    let err = Cli::try_parse_args(["cams-operator", "export", ACCOUNT[0]]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    let err =
        Cli::try_parse_args(["cams-operator", "export", "--management-policy=Delete"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    assert_eq!(
        refused_value_line(&err).unwrap(),
        "error: invalid value 'Delete' for '--management-policy <MANAGEMENT_POLICY>': must be Manage or Observe"
    );
}

#[test]
fn export_refuses_what_the_crd_or_kubernetes_would() {
    let bad: &[(&[&str], &str)] = &[
        (&["--business-number=+86 138"], "--business-number"),
        (&["--business-number="], "--business-number"),
        (&["--cust-space-id= "], "--cust-space-id"),
        (&["--namespace=Team_A"], "--namespace"),
        (&["--secret-ref=a..b"], "--secret-ref"),
        (&["--page-size=0"], "--page-size"),
        (&["--page-size=1001"], "--page-size"),
        (&["--region=cn-hangzhou"], "--region"),
        (&["--qps=-1"], "--qps"),
    ];
    for (flags, flag) in bad {
        // A flag given here replaces the account's.
        let name = |flag: &str| flag.split('=').next().unwrap_or_default().to_string();
        let mut argv: Vec<&str> = ACCOUNT
            .into_iter()
            .filter(|a| flags.iter().all(|f| name(f) != name(a)))
            .collect();
        argv.extend_from_slice(flags);
        let err = export_args(&argv).validate().unwrap_err();
        let SettingsError::Invalid { flag: got, .. } = &err;
        assert_eq!(got, flag, "{flags:?}: {err}");
    }
}
