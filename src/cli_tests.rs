//! Settings validation, table-driven over command lines as clap parses them.

use clap::Parser;

use super::*;

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
        (&["--endpoint=ftp://x"], "--endpoint"),
        (&["--sts-endpoint=sts.example.com/path"], "--sts-endpoint"),
        (&["--signature=v4"], "--signature"),
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
