//! `scripts/demo --adopt`: docs/adopt.md on the emulator. A service in production behind
//! two CloudFront distributions (one of them a preview nobody listed) and an HTTP API, no
//! header anywhere; a scanner hitting the load balancer directly. The sidecar goes in in
//! report mode, `discover` finds every door, `init` writes the configuration, the first
//! rotation puts the header on every door, reported requests from the doors fall to 0, and
//! the sidecar enforces: the doors still get through, the scanner gets 403.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use aws_config::SdkConfig;

use crate::client;
use crate::estate;
use crate::moto::Moto;
use crate::proxy::{Builder, Proxy};
use crate::upstream::Upstream;
use crate::world::{HEADER, SECRET, sync_binary};

const ORIGIN: &str = "https://alb.example.com";
const REPORTED: &str = "edgeguard_requests_total{listener=\"enforcing\",outcome=\"reported\"}";
/// Requests per door (and from the scanner) in each round of traffic.
const ROUND: usize = 5;
const TIMING: &str = r#"
# Shortened for the demo; production keeps the defaults (docs/sync.md).
[timing]
acceptor_settle = "3s"
dual_accept_window = "2s"
cloudfront_deploy_timeout = "20s"
"#;

/// A front door as the app's origin sees its requests.
enum Door {
    CloudFront { id: String },
    HttpApi { id: String, integration: String },
}

struct Estate {
    moto: Moto,
    sdk: SdkConfig,
    doors: Vec<(&'static str, Door)>,
    dir: tempfile::TempDir,
}

impl Estate {
    /// What the door adds to an origin request now: its edge's fields and the header's
    /// value as read back from the emulator (none before the first rotation).
    async fn fields(&self, door: &Door) -> Vec<(String, String)> {
        match door {
            Door::CloudFront { id } => {
                let config = aws_sdk_cloudfront::Client::new(&self.sdk)
                    .get_distribution_config()
                    .id(id)
                    .send()
                    .await
                    .unwrap();
                let mut fields = vec![
                    (
                        "via".into(),
                        format!("1.1 {id}.cloudfront.net (CloudFront)"),
                    ),
                    ("x-amz-cf-id".into(), "demo-request==".into()),
                ];
                let origins = config.distribution_config().unwrap().origins().unwrap();
                for o in origins.items() {
                    for h in o.custom_headers().map(|c| c.items()).unwrap_or_default() {
                        if h.header_name().eq_ignore_ascii_case(HEADER) {
                            fields.push((HEADER.into(), h.header_value().to_owned()));
                        }
                    }
                }
                fields
            }
            Door::HttpApi { id, integration } => {
                let out = aws_sdk_apigatewayv2::Client::new(&self.sdk)
                    .get_integration()
                    .api_id(id)
                    .integration_id(integration)
                    .send()
                    .await
                    .unwrap();
                let mut fields = vec![("x-amzn-apigateway-api-id".into(), id.clone())];
                let key = format!("overwrite:header.{HEADER}");
                if let Some(v) = out.request_parameters().and_then(|p| p.get(&key)) {
                    fields.push((HEADER.into(), v.clone()));
                }
                fields
            }
        }
    }

    fn sync(&self, args: &[&str]) -> (i32, String, String) {
        let mut command = Command::new(sync_binary());
        command
            .args(args)
            .env_clear()
            .envs(self.moto.sdk_env())
            .env("EDGEGUARD_LOG", "error")
            .stdin(Stdio::null());
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let out = command.output().expect("run edgeguard-sync");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// One round of traffic: `ROUND` requests through each door, and from the scanner
    /// when `scanner`. Returns (statuses seen, by door then the scanner).
    async fn round(&self, at: SocketAddr, scanner: bool) -> Vec<(String, Vec<u16>)> {
        let mut seen = Vec::new();
        for (name, door) in &self.doors {
            let fields = self.fields(door).await;
            let borrowed: Vec<(&str, &str)> = fields
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let mut statuses = Vec::new();
            for _ in 0..ROUND {
                statuses.push(client::get(at, "/", &borrowed).await.status);
            }
            seen.push(((*name).to_owned(), statuses));
        }
        if scanner {
            let fields = [
                ("user-agent", "masscan/1.3"),
                ("x-forwarded-for", "203.0.113.50"),
            ];
            let mut statuses = Vec::new();
            for _ in 0..ROUND {
                statuses.push(client::get(at, "/wp-login.php", &fields).await.status);
            }
            seen.push(("scanner (direct to the ALB)".to_owned(), statuses));
        }
        seen
    }
}

async fn proxy(estate: &Estate, app: &Upstream, mode: &str) -> Proxy {
    let proxy = Builder::new(&format!("secretsmanager:{SECRET}"))
        .arg("--upstream", &app.url())
        .arg("--refresh-interval", "1s")
        .arg("--mode", mode)
        .envs(&estate.moto.sdk_env())
        .spawn()
        .await;
    proxy.wait_ready().await;
    proxy
}

fn show(seen: &[(String, Vec<u16>)]) {
    for (who, statuses) in seen {
        println!("   {who:<30} {statuses:?}");
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   | {l}\n")).collect()
}

/// Runs the story; true when it ends as docs/adopt.md says: reported before, none from
/// the doors after the rotation, and enforcing lets the doors through and refuses the
/// scanner.
pub async fn run() -> bool {
    println!(
        "== a service in production: two CloudFront distributions and an HTTP API send to {ORIGIN}, no header anywhere"
    );
    let moto = Moto::start().await;
    let sdk = moto.sdk();
    let main = estate::distribution(&sdk, "main", "alb.example.com").await;
    let preview = estate::distribution(&sdk, "preview (nobody listed it)", "alb.example.com").await;
    let (api, integration) = estate::http_api(&sdk, "mobile", ORIGIN).await;
    let blog = estate::distribution(&sdk, "blog", "blog.example.net").await;
    // The secret the proxies will check (a first value: no door sends it yet).
    let first = crate::secret_like('f');
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(SECRET)
        .secret_string(format!(r#"{{"header":"{HEADER}","value":"{first}"}}"#))
        .send()
        .await
        .unwrap();
    let estate = Estate {
        moto,
        sdk,
        doors: vec![
            ("CloudFront main", Door::CloudFront { id: main }),
            ("CloudFront preview", Door::CloudFront { id: preview }),
            (
                "HTTP API mobile",
                Door::HttpApi {
                    id: api,
                    integration,
                },
            ),
        ],
        dir: tempfile::tempdir().unwrap(),
    };
    println!("   (and a blog distribution {blog} that sends elsewhere)");
    let app = Upstream::start().await;

    println!("== step 1: the sidecar in front of the app, --mode report");
    let reporting = proxy(&estate, &app, "report").await;
    let seen = estate.round(reporting.enforcing(), true).await;
    show(&seen);
    let before = reporting.metric(REPORTED).await;
    println!(
        "   {before} requests forwarded that enforcing would refuse (edgeguard_requests_total{{outcome=\"reported\"}})"
    );
    let told: Vec<String> = reporting
        .output()
        .lines()
        .filter(|l| l.contains("report mode: forwarded"))
        .map(str::to_owned)
        .collect();
    println!("   who sent them (at most one line a second per reason):");
    for line in told.iter().take(3) {
        println!("   | {line}");
    }

    println!("== step 2: edgeguard-sync discover --origin {ORIGIN}");
    let (code, out, err) = estate.sync(&["discover", "--origin", ORIGIN]);
    print!("{}", indent(&out));
    println!(
        "   exit {code}{}",
        if err.is_empty() {
            String::new()
        } else {
            format!(": {err}")
        }
    );

    println!("== step 3: edgeguard-sync init, check-config, discover --config");
    let (code, toml, err) = estate.sync(&["init", "--origin", ORIGIN, "--secret-id", SECRET]);
    if code != 0 {
        println!("   init failed: {err}");
        return false;
    }
    let path = estate.dir.path().join("edgeguard-sync.toml");
    std::fs::write(&path, format!("{toml}{TIMING}")).unwrap();
    let config = path.to_str().unwrap();
    print!("{}", indent(&toml));
    let (code, out, err) = estate.sync(&["--config", config, "check-config"]);
    println!("   check-config: exit {code} {}{err}", out.trim());
    let (code, out, _) = estate.sync(&["--config", config, "discover"]);
    println!(
        "   discover --config: exit {code} ({})",
        out.lines().last().unwrap_or("")
    );
    if code != 0 {
        return false;
    }

    println!(
        "== step 4: the first rotation puts the header on every door (edgeguard-sync rotate --yes)"
    );
    let (code, _, err) = estate.sync(&["--config", config, "rotate", "--yes"]);
    print!("{}", indent(&err));
    if code != 0 {
        println!("   rotate failed (exit {code})");
        return false;
    }
    let seen = estate.round(reporting.enforcing(), false).await;
    show(&seen);
    let after = reporting.metric(REPORTED).await - before;
    println!("   reported from the doors since the rotation: {after}");
    drop(reporting);

    println!("== step 5: the sidecar enforcing (--mode enforce)");
    let enforcing = proxy(&estate, &app, "enforce").await;
    let seen = estate.round(enforcing.enforcing(), true).await;
    show(&seen);
    let doors_ok = seen
        .iter()
        .take(estate.doors.len())
        .all(|(_, s)| s.iter().all(|c| *c == 200));
    let scanner_refused = seen
        .last()
        .is_some_and(|(_, s)| s.iter().all(|c| *c == 403));
    let app_saw_header = app.seen().iter().any(|s| s.headers.contains_key(HEADER));
    println!("== verdict");
    println!(
        "{before} reported before, {after} after; {}",
        if doors_ok && scanner_refused {
            "enforcing"
        } else {
            "NOT enforcing as expected"
        }
    );
    if app_saw_header {
        println!("the app saw the header: the proxies must strip it");
    }
    before > 0.0 && after == 0.0 && doors_ok && scanner_refused && !app_saw_header
}
