//! edgeguard-sync: status, plan, rotate, prune, rollback, and the steps one by one.

#![allow(clippy::print_stdout, reason = "a CLI: reports go to stdout")]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use edgeguard_sync::config::Config;
use edgeguard_sync::progress::Progress;
use edgeguard_sync::rotation::Rotation;
use edgeguard_sync::{aws, discover, drill, init, status};

/// EX_USAGE: bad configuration or arguments.
const EX_USAGE: u8 = 64;
/// `status`: the invariant does not hold.
const EX_DRIFT: u8 = 2;
/// `discover`: a door to the origins that the configuration does not cover.
const EX_NOT_CONFIGURED: u8 = 3;

/// Rotates the edge's shared-secret header across Secrets Manager, WAF, API Gateway and
/// CloudFront, so that no valid request is ever rejected.
#[derive(Debug, Parser)]
#[command(name = "edgeguard-sync", version)]
struct Cli {
    /// The configuration file (TOML; JSON when the name ends in .json, as the Lambda reads it)
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Deploy API Gateway stages (REST integration mode, HTTP API without auto-deploy)
    /// even when the API's working copy holds changes that are not this tool's: they are
    /// published with the header. Without it, such a deployment is refused
    #[arg(long, global = true)]
    publish_pending_changes: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Versions, what each target holds (by stage), and drift; exit 2 on drift
    Status {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// What `rotate` would change, changing nothing
    Plan,
    /// create → set → test → finish, then the window and prune; resumes a half-done rotation
    Rotate {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Stop after finish; run `prune` after the window
        #[arg(long)]
        skip_prune: bool,
    },
    /// Narrow acceptors to the current value and detach AWSPREVIOUS
    Prune {
        /// Do not wait for the dual-accept window (still refuses while an injector sends another value)
        #[arg(long)]
        force: bool,
        /// Narrow even while the evidence ([evidence]) shows AWSPREVIOUS in use or no
        /// reports at all: says so loudly and tags the secret edgeguard:pruned-without-evidence
        #[arg(long)]
        ignore_evidence: bool,
    },
    /// Injectors back to AWSCURRENT, acceptors narrowed, AWSPENDING detached
    Rollback,
    /// A full rotation (as `rotate`) under steady traffic through each probe URL, reported
    /// by phase; exit 0 only if no valid request failed and no unauthenticated one got through
    Drill {
        /// Requests per second per probe URL
        #[arg(long, default_value_t = 20)]
        rps: u32,
        /// The dual-accept window for this drill (default: the configuration's)
        #[arg(long, value_parser = humantime::parse_duration)]
        window: Option<Duration>,
        /// Traffic before the rotation starts
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        before: Duration,
        /// Traffic after prune: covers the proxies' next refreshes
        #[arg(long, value_parser = humantime::parse_duration, default_value = "75s")]
        after: Duration,
        /// Limit for the whole drill (default: before + settle + 2 × CloudFront timeout + window + after)
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Also write the report as JUnit XML
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Check the configuration and exit (0, or 64 with every problem); calls nothing
    CheckConfig,
    /// Everything that sends traffic to the origins or checks the header in front of them
    /// (CloudFront, API Gateway, the load balancer's web ACL and listener rules); with
    /// --config, whether each is configured. Exit 0 all configured, 3 not, 1 error
    Discover {
        #[command(flatten)]
        doors: Doors,
        /// Machine-readable output: one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Print a configuration (TOML, commented) that covers everything `discover` finds
    Init {
        #[command(flatten)]
        doors: Doors,
        /// The secret (name or ARN) the rotation will keep the value in
        #[arg(long, value_name = "ID")]
        secret_id: String,
    },
    /// The two ends of a guarded stack deploy (scripts/deploy-stack): `begin` takes the
    /// deploy lock only when no rotation is under way, AWSPREVIOUS is pruned and `status`
    /// shows no drift (exit 1 otherwise, changing nothing); `end` releases it and prints
    /// `status` (exit 2 on drift). While the lock is held, new rotations and prunes wait
    Guard {
        #[command(subcommand)]
        action: GuardAction,
    },
    /// One rotation step, as the rotation Lambda calls them
    Step {
        step: StepName,
        /// The ClientRequestToken (version id) of the rotation
        #[arg(long)]
        token: String,
    },
}

/// Where `discover` and `init` look.
#[derive(Debug, clap::Args)]
struct Doors {
    /// An origin: the URL the edges send to (https://origin.example.com), or a load balancer
    /// listener ARN; repeatable. Default: the configuration's `origins`
    #[arg(long = "origin", value_name = "URL")]
    origins: Vec<String>,
    /// The origins' load balancer (ARN), when an origin's name is an alias of its own;
    /// repeatable. Its web ACL and listener rules are searched
    #[arg(long = "load-balancer", value_name = "ARN")]
    load_balancers: Vec<String>,
    /// The header (default: the configuration's, else x-origin-verify)
    #[arg(long, value_name = "NAME")]
    header: Option<String>,
}

#[derive(Debug, Subcommand)]
enum GuardAction {
    /// Take the deploy lock
    Begin {
        /// Who deploys, shown to anyone the lock stops (letters, digits, spaces, _.:/=+-@)
        #[arg(long, default_value = "a stack deploy")]
        holder: String,
        /// How long the lock holds at most (a deploy that dies releases it by expiring)
        #[arg(long = "for", value_parser = humantime::parse_duration, default_value = "2h")]
        hold: Duration,
    },
    /// Release the deploy lock and print `status`
    End,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StepName {
    Create,
    Set,
    Test,
    Finish,
}

/// Prints a line per step and target on stderr; a countdown during waits on a terminal.
struct Lines;

impl Progress for Lines {
    fn step(&self, message: &str) {
        eprintln!("{message}");
    }

    fn waiting(&self, what: &str, total: Duration) {
        // Whole seconds (rounded up): a window's remainder is not worth nanoseconds.
        let shown = Duration::from_secs(total.as_secs_f64().ceil() as u64);
        eprintln!("waiting {} for {what}", humantime::format_duration(shown));
        if std::io::stderr().is_terminal() {
            tokio::spawn(async move {
                let mut left = total.as_secs();
                while left > 0 {
                    eprint!("\r  {left:>5}s left ");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    left -= 1;
                }
                eprint!("\r                \r");
            });
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
    };
    edgeguard_sync::logging::init(
        std::env::var("EDGEGUARD_LOG").ok(),
        edgeguard_sync::logging::Format::Text,
    );
    let config = match &cli.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors.0 {
                    eprintln!("configuration error: {e}");
                }
                return ExitCode::from(EX_USAGE);
            }
        },
        None => None,
    };
    if let Command::Discover { .. } | Command::Init { .. } = cli.command {
        return doors(cli.command, config.as_ref());
    }
    let Some(mut config) = config else {
        eprintln!("configuration error: --config PATH is required");
        return ExitCode::from(EX_USAGE);
    };
    if let Command::CheckConfig = cli.command {
        println!(
            "configuration OK: secret {}, {} WAF rule(s), {} ALB listener rule(s), {} REST API(s), {} HTTP API(s), {} distribution(s), {} probe(s)",
            config.secret_id,
            config.waf.len(),
            config.alb_rule.len(),
            config.rest_api.len(),
            config.http_api.len(),
            config.cloudfront.len(),
            config.probe.len()
        );
        // What the identity that runs this needs sts:AssumeRole on.
        for role in config.roles() {
            println!("assumes role {role}");
        }
        return ExitCode::SUCCESS;
    }
    config.publish_pending_changes = cli.publish_pending_changes;
    if let Command::Drill {
        window: Some(window),
        ..
    } = cli.command
    {
        config.timing.dual_accept_window = window;
    }
    if let Command::Rotate { yes: false, .. } | Command::Drill { yes: false, .. } = cli.command {
        if !std::io::stdin().is_terminal() {
            eprintln!("rotate changes live targets: pass --yes when not on a terminal");
            return ExitCode::from(EX_USAGE);
        }
        eprint!(
            "Rotate {} across {} WAF rule(s), {} listener rule(s), {} API(s), {} distribution(s)? [y/N] ",
            config.secret_id,
            config.waf.len(),
            config.alb_rule.len(),
            config.rest_api.len() + config.http_api.len(),
            config.cloudfront.len()
        );
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err()
            || !answer.trim().eq_ignore_ascii_case("y")
        {
            eprintln!("not rotated");
            return ExitCode::FAILURE;
        }
    }
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(run(cli.command, config))
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            None
        }
    }
}

/// `discover` and `init`: read the account for the doors to the origins.
fn doors(command: Command, config: Option<&Config>) -> ExitCode {
    let (Command::Discover { doors, .. } | Command::Init { doors, .. }) = &command else {
        return ExitCode::FAILURE;
    };
    let mut problems = Vec::new();
    let header = match &doors.header {
        Some(h) => edgeguard_secret::header::name(h).unwrap_or_else(|e| {
            problems.push(format!("--header: {e}"));
            String::new()
        }),
        None => config.map_or_else(
            || edgeguard_secret::header::DEFAULT.to_owned(),
            |c| c.header.clone(),
        ),
    };
    let mut origins = Vec::new();
    for o in &doors.origins {
        match edgeguard_sync::origin::of(o) {
            Some(host) => origins.push(host),
            None => problems.push(format!(
                "--origin: \"{o}\" is neither an http(s) URL with a host nor a load balancer listener ARN"
            )),
        }
    }
    if doors.origins.is_empty() {
        match config {
            Some(c) if !c.origins.is_empty() => origins.clone_from(&c.origins),
            _ => problems.push(
                "--origin: name the origins (--origin URL, repeatable), or give --config with origins".into(),
            ),
        }
    }
    if let Command::Init { secret_id, .. } = &command {
        if secret_id.trim().is_empty() {
            problems.push("--secret-id: required".into());
        }
    }
    if !problems.is_empty() {
        for p in problems {
            eprintln!("configuration error: {p}");
        }
        return ExitCode::from(EX_USAGE);
    }
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let search = discover::estate::Search {
        origins,
        load_balancers: doors.load_balancers.clone(),
        header: header.clone(),
    };
    let found = runtime.block_on(async {
        let sdk = aws::sdk_config().await;
        let clients = discover::estate::Clients::new(&sdk, &aws::global(&sdk));
        discover::estate::scan(&clients, &search).await
    });
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Init { ref secret_id, .. } => {
            // The origins as given (URLs read back into the configuration), else the
            // configuration's.
            let given = if doors.origins.is_empty() {
                found.origins.clone()
            } else {
                doors.origins.clone()
            };
            print!(
                "{}",
                init::render(
                    &init::Given {
                        secret_id: secret_id.clone(),
                        header,
                        origins: given,
                    },
                    &found,
                )
            );
            ExitCode::SUCCESS
        }
        Command::Discover { json, .. } => {
            let missing = if json {
                let (document, missing) = discover::json(&found, config);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&document).unwrap_or_default()
                );
                missing
            } else {
                let (text, missing) = discover::text(&found, config);
                print!("{text}");
                missing
            };
            if missing == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EX_NOT_CONFIGURED)
            }
        }
        _ => ExitCode::FAILURE,
    }
}

async fn run(command: Command, config: Config) -> ExitCode {
    let sdk = aws::sdk_config().await;
    if let Command::Drill {
        rps,
        before,
        after,
        timeout,
        json,
        junit,
        ..
    } = command
    {
        return drill(&sdk, &config, rps, before, after, timeout, json, junit).await;
    }
    let rotation: Rotation = match aws::rotation(&sdk, &config, Box::new(Lines)).await {
        Ok(rotation) => rotation,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Guard { action } = command {
        return guard(&rotation, action).await;
    }
    let result = match command {
        Command::Status { json } => {
            return match status::status(&rotation).await {
                Ok(report) => {
                    print_report(json, &report, || report.text());
                    if report.drift.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(EX_DRIFT)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Plan => status::plan(&rotation).await.map(|lines| {
            for line in lines {
                println!("{line}");
            }
        }),
        Command::Rotate { skip_prune, .. } => rotation.rotate(skip_prune).await,
        Command::Prune {
            force,
            ignore_evidence,
        } => rotation.prune_with(force, ignore_evidence).await,
        Command::Rollback => rotation.rollback().await,
        Command::CheckConfig
        | Command::Drill { .. }
        | Command::Guard { .. }
        | Command::Discover { .. }
        | Command::Init { .. } => Ok(()),
        Command::Step { step, token } => match step {
            StepName::Create => rotation.create(&token).await,
            StepName::Set => rotation.set(&token).await,
            StepName::Test => rotation.test(&token).await,
            StepName::Finish => rotation.finish(&token).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `guard begin` (exit 1 when refused) and `guard end` (exit 2 on drift).
async fn guard(rotation: &Rotation, action: GuardAction) -> ExitCode {
    match action {
        GuardAction::Begin { holder, hold } => {
            match edgeguard_sync::guard::begin(rotation, &holder, hold).await {
                Ok(lock) => {
                    eprintln!("deploy lock taken: {}", lock.to_tag());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        GuardAction::End => match edgeguard_sync::guard::end(rotation).await {
            Ok(report) => {
                eprintln!("deploy lock released");
                print!("{}", report.text());
                if report.drift.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "DRIFT after the deploy: the stack changed what the rotator owns; see docs/runbook.md, \"Stack updates\""
                    );
                    ExitCode::from(EX_DRIFT)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[allow(clippy::too_many_arguments)]
async fn drill(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    rps: u32,
    before: Duration,
    after: Duration,
    timeout: Option<Duration>,
    json: bool,
    junit: Option<PathBuf>,
) -> ExitCode {
    let t = config.timing;
    let options = drill::Options {
        rps,
        before,
        after,
        timeout: timeout.unwrap_or(
            before
                + t.acceptor_settle
                + 2 * t.cloudfront_deploy_timeout
                + t.dual_accept_window
                + after,
        ),
        request_timeout: Duration::from_secs(10),
    };
    let drill = match drill::Drill::new(&config.probe, options) {
        Ok(d) => d,
        Err(problems) => {
            for p in problems {
                eprintln!("configuration error: {p}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    let rotation = match aws::rotation(sdk, config, drill.progress(Box::new(Lines))).await {
        Ok(rotation) => rotation,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = drill.run(&rotation).await;
    print_report(json, &report, || report.text());
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(&path, report.junit()) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A report on stdout: pretty JSON with `--json`, else its text.
fn print_report(json: bool, report: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{}", text());
    }
}
