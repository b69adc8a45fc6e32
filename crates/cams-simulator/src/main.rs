//! `cams-simulator`: a local fake of Alibaba Cloud CAMS's group API (version 2020-06-06) over
//! HTTP on loopback, with both signature schemes verified, in-memory groups per tenant, fault
//! injection and an admin API; also STS `AssumeRoleWithOIDC` for RRSA. The command line
//! around the library; see README.md beside this crate.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

use cams_simulator::server;
use cams_simulator::{apply_seed, AccessKeySpec, App, Seed, State};

/// A local fake of Alibaba Cloud CAMS (Chat App Message Service) group API for tests.
#[derive(Debug, Parser)]
#[command(name = "cams-simulator", version, about)]
struct Cli {
    /// Address to listen on; loopback only (127.0.0.0/8, ::1 or localhost). Port 0 picks a
    /// free port.
    #[arg(long, env = "CAMS_SIMULATOR_LISTEN", default_value = "127.0.0.1:0")]
    listen: String,

    /// JSON seed file: {"accessKeys":[{"accessKeyId","accessKeySecret","securityTokens"}],
    /// "groups":[{"custSpaceId","businessNumber","groupId","subject",...}], "faults":{...},
    /// "sts":{"acceptedTokens","durationSecs","errorCode"}}.
    #[arg(long, env = "CAMS_SIMULATOR_SEED", value_name = "FILE")]
    seed: Option<PathBuf>,

    /// An access key to accept, as ID:SECRET (repeatable).
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    access_keys: Vec<String>,

    /// Write the bound port (digits only) to this file once listening.
    #[arg(long, env = "CAMS_SIMULATOR_PORT_FILE", value_name = "PATH")]
    port_file: Option<PathBuf>,

    /// How many calls the call log keeps (the oldest are dropped).
    #[arg(long, default_value_t = 100_000)]
    call_log_capacity: usize,

    /// How long a signature nonce is remembered (seconds).
    #[arg(long, default_value_t = 900)]
    nonce_window_secs: u64,

    /// On SIGTERM/SIGINT, how long open calls may take to finish before the simulator exits
    /// anyway (milliseconds; hanging calls never finish).
    #[arg(long, default_value_t = 1000)]
    shutdown_grace_ms: u64,

    /// Log format on stderr.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// Parses `--listen` and refuses anything but loopback.
fn listen_addr(text: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = match text.strip_prefix("localhost:") {
        Some(port) => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port.parse()
                .with_context(|| format!("invalid port in {text:?}"))?,
        ),
        None => text
            .parse()
            .with_context(|| format!("--listen {text:?} is not an IP:PORT address"))?,
    };
    if !addr.ip().is_loopback() {
        bail!(
            "refusing to listen on {addr}: the simulator binds loopback addresses only (127.0.0.1, ::1)"
        );
    }
    Ok(addr)
}

/// Parses one `--access-key ID:SECRET`.
fn access_key_arg(text: &str) -> anyhow::Result<(String, AccessKeySpec)> {
    let Some((id, secret)) = text.split_once(':') else {
        bail!("--access-key expects ID:SECRET");
    };
    if id.is_empty() || secret.is_empty() {
        bail!("--access-key expects a non-empty ID and SECRET");
    }
    Ok((
        id.to_string(),
        AccessKeySpec {
            access_key_id: Some(id.to_string()),
            ..AccessKeySpec::new(secret)
        },
    ))
}

fn load_seed(path: &Path) -> anyhow::Result<Seed> {
    let text =
        std::fs::read(path).with_context(|| format!("reading seed file {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing seed file {}", path.display()))
}

fn write_port_file(path: &Path, port: u16) -> anyhow::Result<()> {
    // Write then rename, so a reader never sees a partial file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, port.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cams-simulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cams-simulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let addr = listen_addr(&cli.listen)?;

    let mut state = State::new(
        Duration::from_secs(cli.nonce_window_secs.max(1)),
        cli.call_log_capacity,
    );
    if let Some(path) = &cli.seed {
        let seeded = apply_seed(&mut state, load_seed(path)?)
            .map_err(|e| anyhow::anyhow!("seed file {}: {e}", path.display()))?;
        tracing::info!(
            access_keys = seeded.access_keys,
            groups = seeded.groups.len(),
            "seeded from {}",
            path.display()
        );
    }
    for text in &cli.access_keys {
        let (id, spec) = access_key_arg(text)?;
        state.put_key(id, spec);
    }
    let app = Arc::new(App::new(state));

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    if let Some(path) = &cli.port_file {
        write_port_file(path, local.port())?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "cams-simulator listening on http://{local}")?;
        stdout.flush()?;
    }
    tracing::info!(%local, "listening");

    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        app,
        stopped,
        Duration::from_millis(cli.shutdown_grace_ms),
    ));
    let signal = shutdown_signal().await?;
    tracing::info!(signal, "shutting down");
    stop.send_replace(true);
    server.await.context("server task")?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_loopback_only() {
        assert_eq!(
            listen_addr("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert!(listen_addr("127.0.0.2:8080").is_ok());
        assert!(listen_addr("[::1]:8080").is_ok());
        assert_eq!(listen_addr("localhost:9").unwrap().port(), 9);
        assert!(listen_addr("0.0.0.0:8080").is_err());
        assert!(listen_addr("[::]:8080").is_err());
        assert!(listen_addr("192.168.1.1:8080").is_err());
        assert!(listen_addr("example.com:80").is_err());
    }

    #[test]
    fn access_key_args() {
        let (id, spec) = access_key_arg("ak:se:cret").unwrap();
        assert_eq!(id, "ak");
        assert_eq!(spec.access_key_secret, "se:cret");
        assert!(access_key_arg("nocolon").is_err());
        assert!(access_key_arg(":x").is_err());
        assert!(access_key_arg("x:").is_err());
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "cams-simulator",
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            "a:b",
            "--access-key",
            "c:d",
            "--port-file",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.access_keys, ["a:b", "c:d"]);
        assert_eq!(cli.port_file.as_deref(), Some(Path::new("/tmp/x")));
    }

    #[test]
    fn seed_file_shape() {
        let seed: Seed = serde_json::from_str(
            r#"{"accessKeys":[{"accessKeyId":"ak","accessKeySecret":"s","securityTokens":["t1",{"token":"t2","expired":true}]}],
                "groups":[{"custSpaceId":"cs","businessNumber":"86","groupId":"G1","subject":"S","description":"D","profilePictureFile":"https://x/y.jpg"}]}"#,
        )
        .unwrap();
        let mut state = State::new(Duration::from_secs(900), 10);
        let seeded = apply_seed(&mut state, seed).unwrap();
        assert_eq!(seeded.access_keys, 1);
        assert_eq!(seeded.groups.len(), 1);
        let key = &state.keys["ak"];
        assert_eq!(key.tokens.len(), 2);
        assert!(key.tokens[1].expired);
        let g = &state.tenants["cs"][&("86".to_string(), "G1".to_string())];
        assert_eq!(g.subject.as_deref(), Some("S"));
        assert_eq!(g.profile_picture_file.as_deref(), Some("https://x/y.jpg"));
        assert!(serde_json::from_str::<Seed>(r#"{"groupz":[]}"#).is_err());
        let no_id: Seed =
            serde_json::from_str(r#"{"accessKeys":[{"accessKeySecret":"s"}]}"#).unwrap();
        assert!(apply_seed(&mut state, no_id).is_err());
    }
}
