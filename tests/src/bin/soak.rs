//! `scripts/soak [DURATION]`: the proxies under an hour (by default) of load, idle
//! connections, rotations and faults; see `edgeguard_tests::soak`. Exit 0 when every check
//! passed, 1 otherwise, 64 on bad arguments.
//!
//! Flags: `--idle N` (idle connections per proxy, default 5000), `--rps N` (valid
//! requests/s per proxy, default 100), `--invalid-rps N` (default 20), `--report PATH`.

use std::process::ExitCode;
use std::time::Duration;

use edgeguard_tests::soak::{Options, run};

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        duration: Duration::from_secs(3600),
        idle_per_proxy: 5000,
        valid_rps: 100,
        invalid_rps: 20,
        report: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().cloned().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--idle" => {
                o.idle_per_proxy = value("--idle")?.parse().map_err(|_| "--idle: a number")?
            }
            "--rps" => o.valid_rps = value("--rps")?.parse().map_err(|_| "--rps: a number")?,
            "--invalid-rps" => {
                o.invalid_rps = value("--invalid-rps")?
                    .parse()
                    .map_err(|_| "--invalid-rps: a number")?
            }
            "--report" => o.report = Some(value("--report")?.into()),
            d if !d.starts_with('-') => {
                o.duration =
                    humantime::parse_duration(d).map_err(|e| format!("DURATION {d:?}: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.duration < Duration::from_secs(30) {
        return Err("DURATION: at least 30s".into());
    }
    Ok(o)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(options) => {
            if run(options).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("edgeguard-soak: {e}");
            ExitCode::from(64)
        }
    }
}
