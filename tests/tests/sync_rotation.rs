//! edgeguard-sync against the emulator: the steps one by one with the invariant read back
//! from every target after each, a second full rotation, and the pieces' neighbours kept.

use std::time::Duration;

use edgeguard_tests::secret_like;
use edgeguard_tests::world::World;

const TOKEN_1: &str = "6b0a3c1e-0d5f-4c4e-9a55-1f2e3d4c5b6a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_step_by_step_keeps_the_invariant_and_a_second_one_prunes() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    w.assert_invariant("before").await;
    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}{err}");

    // create: AWSPENDING exists, nothing else changes.
    let (code, _, err) = w.sync(&["step", "create", "--token", TOKEN_1]);
    assert_eq!(code, 0, "{err}");
    let staged = w.staged().await;
    let v1 = staged.pending.clone().expect("a pending value");
    assert_eq!(v1.len(), 43);
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v0));
    assert!(w.injected().await.all_send(&v0));
    w.assert_invariant("after create").await;
    // The same token again: no second version.
    assert_eq!(w.sync(&["step", "create", "--token", TOKEN_1]).0, 0);
    assert_eq!(w.staged().await.pending.as_deref(), Some(v1.as_str()));

    // set: acceptors widened, then injectors switched.
    let (code, _, err) = w.sync(&["step", "set", "--token", TOKEN_1]);
    assert_eq!(code, 0, "{err}");
    let (accepted, other_rule) = w.waf().await;
    assert!(accepted.contains(&v0) && accepted.contains(&v1) && accepted.len() == 2);
    assert!(w.injected().await.all_send(&v1));
    w.assert_invariant("after set").await;

    assert_eq!(w.sync(&["step", "test", "--token", TOKEN_1]).0, 0);

    // finish: current moves, the old value is previous and still accepted.
    let (code, _, err) = w.sync(&["step", "finish", "--token", TOKEN_1]);
    assert_eq!(code, 0, "{err}");
    let staged = w.staged().await;
    assert_eq!(staged.current.as_deref(), Some(v1.as_str()));
    assert_eq!(staged.previous.as_deref(), Some(v0.as_str()));
    assert_eq!(staged.pending, None);
    w.assert_invariant("after finish").await;
    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}{err}");

    // prune: refused inside the window, done after it.
    let (code, _, err) = w.sync(&["prune"]);
    assert_eq!(code, 1);
    assert!(err.contains("window"), "{err}");
    tokio::time::sleep(Duration::from_secs(2)).await; // the configured 2 s window passing is the subject here
    let (code, _, err) = w.sync(&["prune"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v1));
    assert_eq!(w.staged().await.previous, None);
    w.assert_invariant("after prune").await;

    // A second rotation, end to end with its prune.
    let (code, _, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let staged = w.staged().await;
    let v2 = staged.current.clone().unwrap();
    assert_ne!(v2, v1);
    assert_eq!((staged.pending, staged.previous), (None, None));
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v2));
    assert!(w.injected().await.all_send(&v2));
    w.assert_invariant("after the second rotation").await;
    // The other WAF rule is exactly as it was.
    assert_eq!(w.waf().await.1, other_rule);
    let (code, out, err) = w.sync(&["status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    for v in [&v0, &v1, &v2] {
        assert!(
            !out.contains(v.as_str()) && !err.contains(v.as_str()),
            "a value in the output"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_value_reaches_the_output_even_with_trace_logging() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let out = w
        .sync_command(&["rotate", "--yes"])
        .env("EDGEGUARD_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("PutSecret"),
        "the SDK's trace logs are in the output"
    );
    let v1 = w.staged().await.current.unwrap();
    for v in [&v0, &v1] {
        let hits: Vec<String> = text
            .lines()
            .filter(|l| l.contains(v.as_str()))
            .map(|l| l.replace(v.as_str(), "<VALUE>").chars().take(400).collect())
            .take(5)
            .collect();
        assert!(
            hits.is_empty(),
            "a secret value appeared in trace output:\n{}",
            hits.join("\n")
        );
    }
}
