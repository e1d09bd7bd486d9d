use super::*;

fn runtime(team: &str) -> Runtime {
    let text = format!(
        "[upstream]\nurl = \"http://127.0.0.1:9\"\n[[teams]]\nid = \"{team}\"\napi_key = {{ env = \"PATH\" }}\n"
    );
    let config = crate::config::from_str(&text, std::path::Path::new(".")).unwrap();
    Runtime::build(config).unwrap()
}

/// A gateway on a state with team `team`, and one worker's handle on it.
fn serving_on(team: &str) -> (Gateway, Gateway) {
    let gateway = Gateway::new(runtime(team));
    let worker = gateway.clone();
    (gateway, worker)
}

#[test]
fn a_worker_handle_serves_the_state_swapped_in_last_and_a_request_keeps_its_own() {
    let (gateway, worker) = serving_on("first");
    let before = worker.serving();
    assert!(before.teams.contains_key("first"));

    gateway.swap(runtime("second"));
    let after = worker.serving();
    assert!(after.teams.contains_key("second"));
    // A request that began before the swap runs on to its end on the state it began with.
    assert!(before.teams.contains_key("first"));
}

#[test]
fn requests_on_a_worker_share_its_hold_and_leave_the_shared_count_alone() {
    let (gateway, worker) = serving_on("sales");
    let first = worker.serving();
    let shared = Arc::strong_count(&*first);
    let more: Vec<Serving> = (0..8).map(|_| worker.serving()).collect();
    assert_eq!(
        Arc::strong_count(&*first),
        shared,
        "the state's own count moved per request"
    );
    assert_eq!(
        Arc::strong_count(&first),
        1 + more.len() + 1,
        "the worker's hold counts its requests"
    );
    assert!(more.iter().all(|held| Arc::ptr_eq(held, &first)));

    // Another worker holds the state through a count of its own.
    let other = gateway.clone().serving();
    assert!(!Arc::ptr_eq(&other, &first));
    assert!(Arc::ptr_eq(&*other, &*first));
}

#[test]
fn a_swapped_out_state_is_let_go_by_an_idle_worker_and_kept_by_a_running_request() {
    let (gateway, worker) = serving_on("first");
    let running = worker.serving();
    let old = Arc::downgrade(&*running);
    // Nothing to let go while the state is current.
    worker.release_stale();
    assert!(Arc::ptr_eq(&worker.serving(), &running));

    gateway.swap(runtime("second"));
    worker.release_stale();
    // The request that began before the swap still has it...
    assert!(old.upgrade().is_some());
    assert!(running.teams.contains_key("first"));
    drop(running);
    // ...and once it ends nothing holds the old state: not the worker, idle since the swap.
    assert!(
        old.upgrade().is_none(),
        "the idle worker still holds the swapped-out state"
    );
    assert!(worker.serving().teams.contains_key("second"));
}
