//! The local AWS emulator (moto server), started on a free loopback port and killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};

use crate::poll;

/// The Python that has moto: `EDGEGUARD_MOTO_PYTHON`, or the one `scripts/test` installs.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGEGUARD_MOTO_PYTHON") {
        return p.into();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs the AWS emulator (moto) there",
        path.display()
    );
    path
}

#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a port the OS picks, and waits until it answers.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts moto on `port` (0: any free one). Used to bring the emulator back after
    /// `stop`, on the port the proxy knows.
    pub async fn start_on(port: u16) -> Self {
        let mut child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto");
        let lines = crate::capture_output(&mut child);
        let mut moto = Self { child, port: 0 };
        let port = poll(Duration::from_secs(60), "moto to listen", || {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto exited ({status}):\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let rest = l.split("Running on http://127.0.0.1:").nth(1)?;
                rest.trim().trim_end_matches('/').parse::<u16>().ok()
            });
            std::future::ready(found)
        })
        .await;
        moto.port = port;
        // Listening is announced just before serving: wait for a real answer.
        let client = moto.client();
        poll(Duration::from_secs(30), "moto to answer", || {
            let c = client.clone();
            async move { c.list_secrets().send().await.ok().map(|_| ()) }
        })
        .await;
        moto
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A Secrets Manager client for the test's own set-up, with no retries.
    pub fn client(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .endpoint_url(self.endpoint())
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }

    /// An SDK configuration for the test's own clients of any service, with no retries.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(Credentials::new(
                    "testing", "testing", None, None, "tests",
                )),
            )
            .endpoint_url(self.endpoint())
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .build()
    }

    /// The emulator as seen through `role_arn`: credentials from its `sts:AssumeRole`, with
    /// which the emulator acts in the role's account.
    pub async fn sdk_as(&self, role_arn: &str) -> aws_config::SdkConfig {
        // Loaded, not built: the role provider needs the time source and sleep the loader
        // supplies.
        let plain = self.sdk();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(plain.region().cloned())
            .credentials_provider(plain.credentials_provider().unwrap())
            .endpoint_url(self.endpoint())
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .load()
            .await;
        let role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("edgeguard-tests")
            .configure(&base)
            .build()
            .await;
        base.to_builder()
            .credentials_provider(
                aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(role),
            )
            .build()
    }

    /// The environment that points a process's AWS SDK at this emulator: static test
    /// credentials, one attempt per call (failures show fast), no instance metadata.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_MAX_ATTEMPTS", "1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent/edgeguard-test".into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/edgeguard-test".into(),
            ),
        ]
    }

    /// Kills the emulator (its state goes with it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
