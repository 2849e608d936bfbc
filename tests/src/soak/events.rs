//! What each scheduled event does, and how the soak knows it took effect: a rotation is
//! done when the proxy accepts the new value (probed) before any client switches to it,
//! and rejects the retired one after; an outage must make the proxy's refreshes fail and
//! then succeed again; a killed app must be served again once it is back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeguard_secret::Secret;

use crate::gate::Gate;
use crate::soak::app::App;
use crate::soak::sample::{metric_sum, metrics};
use crate::soak::traffic::{self, Door};

/// The secret's name in the emulator, read by the Secrets Manager proxy.
pub const SOAK_SECRET: &str = "edgeguard/soak-origin-verify";

/// Everything the events act on.
pub struct Estate {
    pub file_door: Arc<Door>,
    pub file: PathBuf,
    pub stages_door: Arc<Door>,
    pub stages_admin: std::net::SocketAddr,
    pub sm: aws_sdk_secretsmanager::Client,
    /// The value in AWSPREVIOUS, which the next stage rotation drops.
    pub previous: Option<String>,
    pub app: App,
    pub secrets_gate: Gate,
    /// When the app was down: (killed, back).
    pub kills: Vec<(Instant, Instant)>,
    pub outages: Vec<Outage>,
}

#[derive(Debug, Clone)]
pub struct Outage {
    /// Refreshes that failed while Secrets Manager was unreachable.
    pub failed_refreshes: f64,
    /// Time from reopening to the next successful refresh.
    pub recovered_after: Option<Duration>,
}

pub fn new_value() -> String {
    Secret::generate()
        .expect("random bytes")
        .expose_str()
        .to_owned()
}

/// Writes the accepted values atomically (write, then rename), as an operator should.
pub fn write_values(file: &PathBuf, values: &[&str]) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, values.join("\n") + "\n").expect("write the secrets file");
    std::fs::rename(&tmp, file).expect("rename the secrets file");
}

/// Polls (every 50 ms, at most 30 s) until a request with `value` gets `want`; the wait.
async fn until_status(door: &Door, value: &str, want: u16, what: &str) -> Result<Duration, String> {
    let client = traffic::client();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if traffic::status(&client, door.addr, "/valid?probe", &[value]).await == Ok(want) {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{}: {what} within 30 s", door.name))
}

/// Adds a new value to the file, switches the clients once the proxy accepts it, then
/// retires the old one.
pub async fn rotate_file(e: &mut Estate) -> Result<String, String> {
    let door = e.file_door.clone();
    let old = door.value.read().await.clone();
    let new = new_value();
    write_values(&e.file, &[&old, &new]);
    let accepted = until_status(&door, &new, 200, "the new value accepted").await?;
    *door.value.write().await = new.clone();
    write_values(&e.file, &[&new]);
    let retired = until_status(&door, &old, 403, "the old value rejected").await?;
    *door.retired.lock().unwrap() = Some(old);
    Ok(format!(
        "file source rotated: new value accepted after {:.1} s, old one rejected {:.1} s after removal",
        accepted.as_secs_f64(),
        retired.as_secs_f64()
    ))
}

/// PutSecretValue (the new version becomes AWSCURRENT, the old one AWSPREVIOUS, the one
/// before loses its stage); switches the clients once the proxy accepts the new value.
pub async fn rotate_stages(e: &mut Estate) -> Result<String, String> {
    let door = e.stages_door.clone();
    let current = door.value.read().await.clone();
    let new = new_value();
    e.sm.put_secret_value()
        .secret_id(SOAK_SECRET)
        .secret_string(&new)
        .send()
        .await
        .map_err(|err| {
            format!(
                "PutSecretValue failed: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(err)
            )
        })?;
    let accepted = until_status(&door, &new, 200, "the new AWSCURRENT accepted").await?;
    *door.value.write().await = new;
    let mut text = format!(
        "Secrets Manager stages rotated: new AWSCURRENT accepted after {:.1} s",
        accepted.as_secs_f64()
    );
    if let Some(dropped) = e.previous.replace(current) {
        let retired =
            until_status(&door, &dropped, 403, "the value without a stage rejected").await?;
        *door.retired.lock().unwrap() = Some(dropped);
        text.push_str(&format!(
            ", the value without a stage rejected after {:.1} s",
            retired.as_secs_f64()
        ));
    }
    Ok(text)
}

pub async fn kill_app(e: &mut Estate, down: Duration) -> Result<String, String> {
    let killed = Instant::now();
    e.app.kill();
    // The fault's length, not a wait for readiness.
    tokio::time::sleep(down).await;
    e.app.restart().await;
    e.kills.push((killed, Instant::now()));
    let value = e.file_door.value.read().await.clone();
    let served = until_status(
        &e.file_door,
        &value,
        200,
        "served again after the app restarted",
    )
    .await?;
    Ok(format!(
        "app killed for {} s: served again {:.1} s after it restarted",
        down.as_secs(),
        served.as_secs_f64()
    ))
}

async fn refreshes(e: &Estate, result: &str) -> Option<f64> {
    let text = metrics(e.stages_admin).await?;
    Some(metric_sum(
        &text,
        &format!("edgeguard_secret_refresh_total{{result=\"{result}\"}}"),
    ))
}

pub async fn secrets_outage(e: &mut Estate, length: Duration) -> Result<String, String> {
    let errors_before = refreshes(e, "error").await.unwrap_or(0.0);
    e.secrets_gate.close();
    // The fault's length, not a wait for readiness.
    tokio::time::sleep(length).await;
    let failed_refreshes = refreshes(e, "error").await.unwrap_or(0.0) - errors_before;
    let successes = refreshes(e, "success").await.unwrap_or(0.0);
    e.secrets_gate.open();
    let reopened = Instant::now();
    let mut recovered_after = None;
    while reopened.elapsed() < Duration::from_secs(30) {
        if refreshes(e, "success").await.unwrap_or(0.0) > successes {
            recovered_after = Some(reopened.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    e.outages.push(Outage {
        failed_refreshes,
        recovered_after,
    });
    match recovered_after {
        Some(after) if failed_refreshes > 0.0 => Ok(format!(
            "Secrets Manager unreachable for {} s: {failed_refreshes} refreshes failed, the last good values kept; refreshing again {:.1} s after",
            length.as_secs(),
            after.as_secs_f64()
        )),
        Some(_) => {
            Err("Secrets Manager unreachable, yet no refresh failed: the fault did not take".into())
        }
        None => Err("no successful refresh within 30 s of Secrets Manager coming back".into()),
    }
}
