//! `scripts/soak`: two proxies (one reading a file, one reading Secrets Manager in the
//! emulator through a TCP gate) in front of one app, for a long run under a steady load,
//! thousands of idle keep-alive connections, rotations, app kills and a Secrets Manager
//! outage. Samples each proxy every 10 s and ends with a verdict: every check, each PASS
//! or FAIL, and a Markdown report.

pub mod app;
pub mod events;
pub mod sample;
pub mod schedule;
pub mod traffic;
pub mod verdict;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::gate::Gate;
use crate::moto::Moto;
use crate::proxy::{Builder, Proxy};
use app::App;
use events::{Estate, SOAK_SECRET};
use sample::{Sample, Watched};
use schedule::Event;
use traffic::Door;
use verdict::Verdict;

#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    /// Idle keep-alive connections held open to each of the two proxies.
    pub idle_per_proxy: usize,
    pub valid_rps: u32,
    pub invalid_rps: u32,
    pub report: Option<PathBuf>,
}

/// Lets the process hold the idle connections: the soft fd limit raised to the hard one.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    limit.rlim_cur
}

fn say(start: Instant, text: &str) {
    println!("[{}] {text}", sample::clock(start.elapsed().as_secs_f64()));
}

/// Runs the soak; true when every check passed.
pub async fn run(o: Options) -> bool {
    let fd_limit = raise_fd_limit();
    let needed = 2 * o.idle_per_proxy as u64 + 1024;
    if fd_limit < needed {
        println!("FAIL: the fd limit is {fd_limit}, the soak needs {needed}: lower --idle");
        return false;
    }
    let started = Instant::now();
    say(
        started,
        "starting the AWS emulator (moto), the app and two proxies",
    );
    let moto = Moto::start().await;
    let sm = moto.client();
    let initial_stage = events::new_value();
    sm.create_secret()
        .name(SOAK_SECRET)
        .secret_string(&initial_stage)
        .send()
        .await
        .expect("create the soak's secret");
    let secrets_gate = Gate::start(format!("127.0.0.1:{}", moto.port()).parse().unwrap()).await;
    let app = App::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("origin-verify");
    let initial_file = events::new_value();
    events::write_values(&file, &[&initial_file]);

    let idle_timeout = format!("{}s", (o.duration + Duration::from_secs(600)).as_secs());
    let common = |b: Builder| {
        b.arg("--upstream", &format!("http://{}", app.addr))
            .arg("--refresh-interval", "1s")
            .arg("--idle-timeout", &idle_timeout)
            .arg("--max-connections", &(o.idle_per_proxy + 4096).to_string())
            .fd_limit(fd_limit)
    };
    // One proxy on the single-threaded scheduler (a one-vCPU sidecar's), one on the
    // multi-threaded one: both soak.
    let mut file_proxy: Proxy = common(Builder::new(&format!("file:{}", file.display())))
        .arg("--worker-threads", "1")
        .spawn()
        .await;
    let mut stages_proxy: Proxy = common(Builder::new(&format!("secretsmanager:{SOAK_SECRET}")))
        .envs(&moto.sdk_env())
        .env("AWS_ENDPOINT_URL", &secrets_gate.url())
        .spawn()
        .await;
    file_proxy.wait_ready().await;
    stages_proxy.wait_ready().await;
    let file_door = Door::new("file", file_proxy.enforcing(), initial_file);
    let stages_door = Door::new("secretsmanager", stages_proxy.enforcing(), initial_stage);

    say(
        started,
        &format!(
            "opening {} idle keep-alive connections to each proxy",
            o.idle_per_proxy
        ),
    );
    let mut idle = Vec::new();
    for door in [&file_door, &stages_door] {
        let value = door.value.read().await.clone();
        match traffic::open_idle(door.addr, &value, o.idle_per_proxy).await {
            Ok(streams) => idle.push((door.name, streams)),
            Err(e) => {
                println!(
                    "FAIL: could not open the idle connections to the {} proxy: {e}",
                    door.name
                );
                return false;
            }
        }
    }

    let watched = [
        Watched {
            door: file_door.clone(),
            pid: file_proxy.pid(),
            admin: file_proxy.admin(),
        },
        Watched {
            door: stages_door.clone(),
            pid: stages_proxy.pid(),
            admin: stages_proxy.admin(),
        },
    ];
    say(
        started,
        &format!(
            "load: {} valid and {} invalid requests/s to each proxy, for {}",
            o.valid_rps,
            o.invalid_rps,
            humantime::format_duration(o.duration)
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load_start = Instant::now();
    let load = tokio::spawn(traffic::run(
        vec![file_door.clone(), stages_door.clone()],
        o.valid_rps,
        o.invalid_rps,
        stop.clone(),
    ));
    let sampling = {
        let (watched, stop) = (watched.clone(), stop.clone());
        tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            while !stop.load(Relaxed) {
                tick.tick().await;
                for w in &watched {
                    let s = sample::take(w, load_start.elapsed().as_secs_f64()).await;
                    let [at, door, rss, fds, threads, open, p99, ok] = s.cells();
                    let admin = if s.admin_ok {
                        ""
                    } else {
                        "  ADMIN DID NOT ANSWER"
                    };
                    println!(
                        "[{at}] {door:<14} RSS {rss:>6} MiB  fds {fds:>6}  threads {threads:>2}  connections {open:>6}  p99 {p99:>7} ms  valid 200 {ok:>8}{admin}"
                    );
                    samples.push(s);
                }
            }
            samples
        })
    };

    let mut estate = Estate {
        file_door: file_door.clone(),
        file,
        stages_door: stages_door.clone(),
        stages_admin: stages_proxy.admin(),
        sm,
        previous: None,
        app,
        secrets_gate,
        kills: Vec::new(),
        outages: Vec::new(),
    };
    let mut event_failures = Vec::new();
    let mut counts = [0usize; 4];
    for (at, event) in schedule::plan(o.duration) {
        tokio::time::sleep_until((load_start + at).into()).await;
        let (i, done) = match event {
            Event::RotateFile => (0, events::rotate_file(&mut estate).await),
            Event::RotateStages => (1, events::rotate_stages(&mut estate).await),
            Event::KillApp { down } => (2, events::kill_app(&mut estate, down).await),
            Event::SecretsOutage { length } => {
                (3, events::secrets_outage(&mut estate, length).await)
            }
        };
        counts[i] += 1;
        match done {
            Ok(text) => say(load_start, &text),
            Err(text) => {
                say(load_start, &format!("EVENT FAILED: {text}"));
                event_failures.push(text);
            }
        }
    }
    tokio::time::sleep_until((load_start + o.duration).into()).await;
    stop.store(true, Relaxed);
    let _ = load.await;
    let samples = sampling.await.unwrap_or_default();
    let elapsed = load_start.elapsed();

    // The verdict.
    let mut v = Verdict::default();
    let doors = [&file_door, &stages_door];
    v.traffic(&doors, &estate.kills);
    v.at_app(&estate.app.counts);
    v.idle(&idle);
    let admin_misses = samples.iter().filter(|s| !s.admin_ok).count();
    v.check(
        admin_misses == 0 && !samples.is_empty(),
        format!(
            "the admin endpoints answered every sample ({} samples, {admin_misses} missed)",
            samples.len()
        ),
    );
    v.check(
        file_proxy.child_running() && stages_proxy.child_running(),
        "both proxies still running".into(),
    );
    v.check(
        event_failures.is_empty(),
        format!(
            "every event took effect: {} file rotations, {} stage rotations, {} app kills, {} Secrets Manager outages ({} failed)",
            counts[0], counts[1], counts[2], counts[3], event_failures.len()
        ),
    );
    v.growth(&samples, o.duration);
    let passed = v.passed();
    let report = v.report(
        &format!(
            "## Soak: {} of load ({} idle connections per proxy, {} valid + {} invalid requests/s per proxy)",
            humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
            o.idle_per_proxy,
            o.valid_rps,
            o.invalid_rps
        ),
        &samples,
    );
    println!("\n{report}");
    if let Some(path) = &o.report {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, &report);
        println!("report written to {}", path.display());
    }
    if !passed {
        println!(
            "--- file proxy output (tail) ---\n{}",
            tail(&file_proxy.output(), 40)
        );
        println!(
            "--- secretsmanager proxy output (tail) ---\n{}",
            tail(&stages_proxy.output(), 40)
        );
    }
    drop(moto);
    passed
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
