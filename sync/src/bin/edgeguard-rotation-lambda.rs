//! The rotation Lambda (provided.al2023): configuration and clients once, then one
//! `lambda::handle` per invocation. The configuration is the CLI's TOML (or JSON) document,
//! from `EDGEGUARD_SYNC_CONFIG`, or from the file `EDGEGUARD_SYNC_CONFIG_FILE` names
//! (default: `edgeguard-sync.toml` bundled next to the function).

use std::time::SystemTime;

use edgeguard_sync::config::Config;
use edgeguard_sync::lambda::{self, Invocation};
use edgeguard_sync::progress::Quiet;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines without colour: CloudWatch Logs shows escapes raw.
    edgeguard_sync::logging::init(
        std::env::var("EDGEGUARD_LOG").ok().or(Some("info".into())),
        edgeguard_sync::logging::Format::Json,
    );
    let text = match std::env::var("EDGEGUARD_SYNC_CONFIG") {
        Ok(text) => text,
        Err(_) => {
            let dir = std::env::var("LAMBDA_TASK_ROOT").unwrap_or_else(|_| ".".into());
            let path = std::env::var("EDGEGUARD_SYNC_CONFIG_FILE")
                .unwrap_or(format!("{dir}/edgeguard-sync.toml"));
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
    };
    let config = if text.trim_start().starts_with('{') {
        Config::from_json(&text)
    } else {
        Config::from_toml(&text)
    };
    let config = config.map_err(|e| format!("configuration errors:\n{e}"))?;
    let sdk = edgeguard_sync::aws::sdk_config().await;
    // A role that cannot be assumed fails the function's start, naming it: Secrets
    // Manager records the failed step and nothing is written.
    let rotation = edgeguard_sync::aws::rotation(&sdk, &config, Box::new(Quiet))
        .await
        .map_err(|e| e.to_string())?;
    let rotation = &rotation;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Invocation>| async move {
            let time_left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let done = lambda::handle(rotation, event.payload, time_left).await;
            match &done {
                Ok(what) => tracing::info!(outcome = %what, "invocation done"),
                Err(e) => tracing::warn!(error = %e, "invocation failed"),
            }
            done
        },
    ))
    .await
}
