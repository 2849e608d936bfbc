//! A rotation's whole world in the emulator: the secret, a WAF web ACL with the owned rule
//! beside another rule, a REST API stage with the stage variable, an HTTP API integration
//! on an auto-deploy stage, and a CloudFront distribution whose origin carries the header.
//! Everything is created and read back with the real SDK clients.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_wafv2::primitives::Blob;
use aws_sdk_wafv2::types as waf;
use tempfile::TempDir;

use crate::moto::Moto;

mod readback;
pub use readback::{Accepted, Injected, Staged, alb_matches};

pub const SECRET: &str = "edgeguard/origin-verify";
pub const HEADER: &str = "x-origin-verify";
pub const RULE: &str = "origin-verify";
pub const OTHER_RULE: &str = "block-bad-agents";
pub const VARIABLE: &str = "originVerify";

/// The second account the emulator keeps apart (credentials from this role act there).
pub const OTHER_ACCOUNT_ROLE: &str = "arn:aws:iam::222222222222:role/x";

/// Which acceptor checks the header before the proxies, and where the distribution lives.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// A WAF-less ALB: the listener rule's header condition is the acceptor (the web ACL
    /// still exists but is not configured).
    pub alb_rule: bool,
    /// The CloudFront distribution exists only in the account of this role.
    pub cloudfront_role: Option<&'static str>,
}

/// The acceptor in front of the proxies.
#[derive(Debug, Clone)]
pub enum Acceptor {
    Waf,
    AlbRule { arn: String },
}

#[derive(Debug)]
pub struct World {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub acceptor: Acceptor,
    /// Where the distribution is read and written (another account's, by its role).
    pub cloudfront_sdk: aws_config::SdkConfig,
    pub cloudfront_role: Option<&'static str>,
    pub waf_name: String,
    pub waf_id: String,
    pub rest_api_id: String,
    pub http_api_id: String,
    pub integration_id: String,
    pub distribution_id: String,
    pub config: PathBuf,
    _dir: TempDir,
}

/// Timings compressed for tests: the durations are configuration, the logic is the same.
pub const TIMING: &str = r#"
[timing]
acceptor_settle = "1s"
dual_accept_window = "2s"
cloudfront_deploy_timeout = "20s"
"#;

fn doc(value: &str) -> String {
    format!(r#"{{"header":"{HEADER}","value":"{value}"}}"#)
}

fn byte_match(header: &str, value: &str) -> waf::Statement {
    waf::Statement::builder()
        .byte_match_statement(
            waf::ByteMatchStatement::builder()
                .search_string(Blob::new(value.as_bytes()))
                .field_to_match(
                    waf::FieldToMatch::builder()
                        .single_header(waf::SingleHeader::builder().name(header).build().unwrap())
                        .build(),
                )
                .text_transformations(
                    waf::TextTransformation::builder()
                        .priority(0)
                        .r#type(waf::TextTransformationType::None)
                        .build()
                        .unwrap(),
                )
                .positional_constraint(waf::PositionalConstraint::Exactly)
                .build()
                .unwrap(),
        )
        .build()
}

fn visibility(name: &str) -> waf::VisibilityConfig {
    waf::VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(name)
        .build()
        .unwrap()
}

impl World {
    /// Creates every resource with `initial` as the value in force everywhere.
    pub async fn create(initial: &str) -> Self {
        Self::create_with(initial, TIMING).await
    }

    pub async fn create_with(initial: &str, timing: &str) -> Self {
        Self::create_layout(initial, timing, Layout::default()).await
    }

    pub async fn create_layout(initial: &str, timing: &str, layout: Layout) -> Self {
        let moto = Moto::start().await;
        let sdk = moto.sdk();
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        sm.create_secret()
            .name(SECRET)
            .secret_string(doc(initial))
            .send()
            .await
            .unwrap();

        let wafc = aws_sdk_wafv2::Client::new(&sdk);
        let other = waf::Rule::builder()
            .name(OTHER_RULE)
            .priority(0)
            .statement(byte_match("user-agent", "bad-bot"))
            .action(
                waf::RuleAction::builder()
                    .block(waf::BlockAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility(OTHER_RULE))
            .build()
            .unwrap();
        let owned = waf::Rule::builder()
            .name(RULE)
            .priority(1)
            .statement(byte_match(HEADER, initial))
            .action(
                waf::RuleAction::builder()
                    .allow(waf::AllowAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility(RULE))
            .build()
            .unwrap();
        let acl = wafc
            .create_web_acl()
            .name("edge-acl")
            .scope(waf::Scope::Regional)
            .default_action(
                waf::DefaultAction::builder()
                    .block(waf::BlockAction::builder().build())
                    .build(),
            )
            .visibility_config(visibility("edge-acl"))
            .rules(other)
            .rules(owned)
            .send()
            .await
            .unwrap();
        let summary = acl.summary().unwrap();

        let rest = aws_sdk_apigateway::Client::new(&sdk);
        let api = rest.create_rest_api().name("edge").send().await.unwrap();
        let rest_api_id = api.id().unwrap().to_owned();
        // A method whose HTTP_PROXY integration maps the header from the stage variable.
        let resources = rest
            .get_resources()
            .rest_api_id(&rest_api_id)
            .send()
            .await
            .unwrap();
        let root = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/"))
            .unwrap()
            .id()
            .unwrap()
            .to_owned();
        rest.put_method()
            .rest_api_id(&rest_api_id)
            .resource_id(&root)
            .http_method("GET")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        rest.put_integration()
            .rest_api_id(&rest_api_id)
            .resource_id(&root)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::HttpProxy)
            .integration_http_method("GET")
            .uri("https://alb.example.com/")
            .request_parameters(
                format!("integration.request.header.{HEADER}"),
                format!("stageVariables.{VARIABLE}"),
            )
            .send()
            .await
            .unwrap();
        let deployment = rest
            .create_deployment()
            .rest_api_id(&rest_api_id)
            .send()
            .await
            .unwrap();
        rest.create_stage()
            .rest_api_id(&rest_api_id)
            .stage_name("prod")
            .deployment_id(deployment.id().unwrap())
            .variables(VARIABLE, initial)
            .variables("unrelated", "keep-me")
            .send()
            .await
            .unwrap();

        let http = aws_sdk_apigatewayv2::Client::new(&sdk);
        let api = http
            .create_api()
            .name("edge-http")
            .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Http)
            .send()
            .await
            .unwrap();
        let http_api_id = api.api_id().unwrap().to_owned();
        let integration = http
            .create_integration()
            .api_id(&http_api_id)
            .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::HttpProxy)
            .integration_uri("https://alb.example.com")
            .integration_method("ANY")
            .payload_format_version("1.0")
            .request_parameters(format!("overwrite:header.{HEADER}"), initial)
            .request_parameters("append:header.x-trace", "keep-me")
            .send()
            .await
            .unwrap();
        http.create_stage()
            .api_id(&http_api_id)
            .stage_name("$default")
            .auto_deploy(true)
            .send()
            .await
            .unwrap();

        let cloudfront_sdk = match layout.cloudfront_role {
            Some(role) => moto.sdk_as(role).await,
            None => sdk.clone(),
        };
        let distribution_id = crate::estate::distribution_with(
            &cloudfront_sdk,
            "edgeguard-tests",
            "alb",
            "alb.example.com",
            &[(HEADER, initial), ("x-other", "keep-me")],
        )
        .await;

        let acceptor = if layout.alb_rule {
            // The header's name in another case than the configuration's: an ALB compares
            // names case-insensitively, and so must the rotation.
            let lb = crate::estate::load_balancer(&moto, "origin").await;
            let arn = crate::estate::header_rule_with(
                &moto,
                &lb,
                "X-Origin-Verify",
                initial,
                &["/*"],
                10,
            )
            .await;
            Acceptor::AlbRule { arn }
        } else {
            Acceptor::Waf
        };

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("edgeguard-sync.toml");
        let world = Self {
            moto,
            sdk,
            acceptor,
            cloudfront_sdk,
            cloudfront_role: layout.cloudfront_role,
            waf_name: summary.name().unwrap().to_owned(),
            waf_id: summary.id().unwrap().to_owned(),
            rest_api_id,
            http_api_id,
            integration_id: integration.integration_id().unwrap().to_owned(),
            distribution_id,
            config,
            _dir: dir,
        };
        std::fs::write(&world.config, world.toml(timing)).unwrap();
        world
    }

    /// The configuration file naming every target.
    pub fn toml(&self, timing: &str) -> String {
        let acceptor = match &self.acceptor {
            Acceptor::Waf => format!(
                "[[waf]]\nscope = \"REGIONAL\"\nname = \"{}\"\nid = \"{}\"\nrule = \"{RULE}\"\n",
                self.waf_name, self.waf_id
            ),
            Acceptor::AlbRule { arn } => format!("[[alb_rule]]\nrule_arn = \"{arn}\"\n"),
        };
        let role = match self.cloudfront_role {
            Some(role) => format!("role_arn = \"{role}\"\n"),
            None => String::new(),
        };
        format!(
            r#"secret_id = "{SECRET}"
header = "{HEADER}"
{timing}
{acceptor}
[[rest_api]]
api_id = "{}"
stages = ["prod"]
mode = "stage_variable"
variable = "{VARIABLE}"

[[http_api]]
api_id = "{}"
stage = "$default"

[[cloudfront]]
distribution_id = "{}"
origin_ids = ["alb"]
{role}"#,
            self.rest_api_id, self.http_api_id, self.distribution_id
        )
    }

    /// Runs `edgeguard-sync --config … ARGS` against the emulator: (exit code, stdout, stderr).
    pub fn sync(&self, args: &[&str]) -> (i32, String, String) {
        outcome(self.sync_command(args))
    }

    /// Runs `edgeguard-sync ARGS` against the emulator, without `--config`.
    pub fn sync_without_config(&self, args: &[&str]) -> (i32, String, String) {
        let mut command = self.sync_command(args);
        let mut bare = Command::new(command.get_program());
        bare.args(command.get_args().skip(2))
            .env_clear()
            .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command = bare;
        outcome(command)
    }

    /// Starts `edgeguard-sync` in the background; its output is discarded (an unread pipe
    /// could fill and block it).
    pub fn sync_spawn(&self, args: &[&str]) -> std::process::Child {
        self.sync_command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start edgeguard-sync")
    }

    pub fn sync_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(sync_binary());
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_clear()
            .envs(self.moto.sdk_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
    }

    /// Replaces the configuration's timing.
    pub fn set_timing(&self, timing: &str) {
        std::fs::write(&self.config, self.toml(timing)).unwrap();
    }
}

/// (exit code, stdout, stderr) of a command run to its end.
fn outcome(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("run edgeguard-sync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `edgeguard-sync` binary, next to this test's `deps/` folder (`scripts/test` builds it).
pub fn sync_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EDGEGUARD_SYNC_BIN") {
        return path.into();
    }
    crate::proxy::beside_this_program("edgeguard-sync")
}

/// Polls a child for its exit for at most `limit`.
pub async fn wait_child(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "process did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
