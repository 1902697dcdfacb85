//! The shipper against a real broker (coordinator and broker in this process): lines arrive once and
//! in order with Filebeat's fields; rotation, copytruncate and new files; oversized events; a broker
//! outage pauses reading; SIGKILL of the binary loses nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

const LINE_LEN: u64 = "line-000000 some payload to make it longer\n".len() as u64;

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ships_every_line_once_in_order_with_filebeat_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..500);
    let yaml = config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", "");
    let shipping = Shipping::start(&yaml, tuning());
    let events = consume(&bootstrap, "logs", 500, Duration::from_secs(60)).await;
    assert_eq!(numbers(&events), (0..500).collect::<Vec<_>>());
    let e = &events[1];
    assert_eq!(e["log"]["file"]["path"], path_str(&log));
    assert_eq!(e["log"]["offset"], LINE_LEN);
    assert_eq!(e["message"], "line-000001 some payload to make it longer");
    assert_eq!(e["input"]["type"], "filestream");
    assert!(!e["host"]["name"].as_str().unwrap().is_empty());
    assert_eq!(e["agent"]["type"], "filebeat");
    assert_eq!(e["ecs"]["version"], "8.0.0");
    assert_eq!(e["tags"], serde_json::json!(["access"]));
    assert_eq!(e["fields"]["app"], "web");
    assert!(e["@timestamp"].as_str().unwrap().ends_with('Z'));
    let size = 500 * LINE_LEN;
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == size).await);
    let summary = shipping.stop().await;
    assert_eq!(summary.unacknowledged, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rename_and_create_rotation_reads_the_old_file_to_its_end_then_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..100);
    let yaml = config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", "");
    let shipping = Shipping::start(&yaml, tuning());
    for chunk in 1..10 {
        append_lines(&log, chunk * 100..chunk * 100 + 100);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    for chunk in 10..20 {
        append_lines(&log, chunk * 100..chunk * 100 + 100);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = consume(&bootstrap, "logs", 2000, Duration::from_secs(60)).await;
    assert_eq!(numbers(&events), (0..2000).collect::<Vec<_>>());
    assert_eq!(events[1000]["log"]["offset"], 0, "the new file is read from its start");
    shipping.stop().await;
}

/// Between the rename and the create the path names nothing, and the writer may still append to the
/// renamed file: those lines are read too (the file is renamed, not deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_writes_to_a_renamed_file_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    append_lines(&log, 0..100);
    let shipping = Shipping::start(&config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", ""), tuning());
    assert_eq!(consume(&bootstrap, "logs", 100, Duration::from_secs(60)).await.len(), 100);
    std::fs::rename(&log, &rotated).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append_lines(&rotated, 100..150);
    append_lines(&log, 150..200);
    let got = numbers(&consume(&bootstrap, "logs", 200, Duration::from_secs(60)).await);
    let old: Vec<usize> = got.iter().copied().filter(|n| *n < 150).collect();
    let new: Vec<usize> = got.iter().copied().filter(|n| *n >= 150).collect();
    assert_eq!(old, (0..150).collect::<Vec<_>>());
    assert_eq!(new, (150..200).collect::<Vec<_>>());
    assert_eq!(shipping.metrics.files_open.get(), 2, "the renamed file stays open until inactive");
    shipping.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copytruncate_restarts_the_file_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..300);
    let yaml = config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", "");
    let shipping = Shipping::start(&yaml, tuning());
    assert_eq!(consume(&bootstrap, "logs", 300, Duration::from_secs(60)).await.len(), 300);
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append_lines(&log, 300..400);
    let events = consume(&bootstrap, "logs", 400, Duration::from_secs(60)).await;
    assert_eq!(numbers(&events), (0..400).collect::<Vec<_>>());
    assert_eq!(events[300]["log"]["offset"], 0);
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == 100 * LINE_LEN).await);
    shipping.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_file_matching_the_glob_is_picked_up_by_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    append_lines(&dir.path().join("a.log"), 0..10);
    let glob = format!("{}/*.log", dir.path().display());
    let shipping = Shipping::start(&config_yaml(dir.path(), &[glob], &bootstrap, "logs", ""), tuning());
    assert_eq!(consume(&bootstrap, "logs", 10, Duration::from_secs(60)).await.len(), 10);
    append_lines(&dir.path().join("b.log"), 100..110);
    append_lines(&dir.path().join("c.txt"), 200..210);
    let events = consume(&bootstrap, "logs", 20, Duration::from_secs(30)).await;
    let mut got = numbers(&events);
    got.sort_unstable();
    assert_eq!(got, (0..10).chain(100..110).collect::<Vec<_>>());
    assert!(consume(&bootstrap, "logs", 21, Duration::from_secs(2)).await.len() == 20, "c.txt is not shipped");
    shipping.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multiline_groups_and_excluded_lines_are_handled_and_the_registry_passes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    let text = "2024/01/01 start one\n  at frame a\n  at frame b\n2024/01/01 DEBUG noise\n2024/01/01 two\n\u{0}\u{1}\n";
    let mut bytes = text.as_bytes().to_vec();
    bytes.extend_from_slice(b"2024/01/01 bad \xff\xfe utf8\n");
    std::fs::write(&log, &bytes).unwrap();
    let extra = ", exclude_lines: ['DEBUG'], multiline: {pattern: '^\\d{4}/', negate: true, match: after, timeout: 300ms}";
    let shipping = Shipping::start(&config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", extra), tuning());
    let events = consume(&bootstrap, "logs", 3, Duration::from_secs(60)).await;
    let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["2024/01/01 start one\n  at frame a\n  at frame b", "2024/01/01 two\n\u{0}\u{1}", "2024/01/01 bad \u{fffd}\u{fffd} utf8"]);
    assert_eq!(events[0]["log"]["flags"], serde_json::json!(["multiline"]));
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == bytes.len() as u64).await);
    assert_eq!(shipping.metrics.events_filtered.get(), 1);
    shipping.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_event_is_counted_not_sent_and_does_not_hold_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..10);
    std::fs::write(dir.path().join("big"), format!("{}\n", "x".repeat(150_000))).unwrap();
    let big = std::fs::read(dir.path().join("big")).unwrap();
    {
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(&big).unwrap();
    }
    append_lines(&log, 10..20);
    let shipping = Shipping::start(&config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", ""), tuning());
    let events = consume(&bootstrap, "logs", 20, Duration::from_secs(60)).await;
    assert_eq!(numbers(&events), (0..20).collect::<Vec<_>>());
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == size).await);
    assert_eq!(shipping.metrics.events_too_large.get(), 1);
    shipping.stop().await;
}

/// The broker becomes unreachable (a proxy in front of it cuts every connection): reading pauses at
/// the in-flight bound and the registry stays put; when it is back everything arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_pauses_reading_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = free_port();
    let (bootstrap, broker_addr, _broker) = stack(dir.path(), Some(proxy_port)).await;
    let up = proxy(proxy_port, broker_addr).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..100);
    let tuning = strom_pipeline::ship::Tuning { max_in_flight: 64, ..tuning() };
    let shipping = Shipping::start(&config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", ""), tuning);
    assert_eq!(consume(&bootstrap, "logs", 100, Duration::from_secs(60)).await.len(), 100);
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == 100 * LINE_LEN).await);

    up.send(true).unwrap();
    up.send(false).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    append_lines(&log, 100..1100);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(registry_offset(dir.path(), &log), 100 * LINE_LEN, "nothing unacknowledged is recorded");
    let read = shipping.metrics.events_read.get();
    assert!(read <= 100 + 64 + 1, "reading pauses at the in-flight bound: {read} events read");
    assert_eq!(shipping.metrics.in_flight.get(), 64);

    up.send(true).unwrap();
    let events = consume(&bootstrap, "logs", 1100, Duration::from_secs(60)).await;
    let mut counts = BTreeMap::new();
    for n in numbers(&events) {
        *counts.entry(n).or_insert(0usize) += 1;
    }
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (0..1100).collect::<Vec<_>>());
    assert!(eventually(Duration::from_secs(10), || registry_offset(dir.path(), &log) == 1100 * LINE_LEN).await);
    assert_eq!(shipping.stop().await.unacknowledged, 0);
}

/// Lines 0..100 are shipped; then, while lines 100..600 are written, the proxy lets the shipper's
/// requests reach the broker but loses the answers for a second and then cuts those connections:
/// librdkafka sends the unanswered batches again. Returns how many times each line is in the topic.
async fn lines_after_lost_answers(acks: Option<&str>) -> BTreeMap<usize, usize> {
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = free_port();
    let (bootstrap, broker_addr, _broker) = stack(dir.path(), Some(proxy_port)).await;
    let lose = answer_losing_proxy(proxy_port, broker_addr).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..100);
    let mut yaml = config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", "");
    if let Some(acks) = acks {
        yaml = yaml.replace("max_message_bytes: 100000", &format!("max_message_bytes: 100000, acks: {acks}"));
    }
    let shipping = Shipping::start(&yaml, tuning());
    assert_eq!(consume(&bootstrap, "logs", 100, Duration::from_secs(60)).await.len(), 100);
    lose.send(true).unwrap();
    for chunk in 1..6 {
        append_lines(&log, chunk * 100..chunk * 100 + 100);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lose.send(false).unwrap();
    assert!(
        eventually(Duration::from_secs(60), || registry_offset(dir.path(), &log) == 600 * LINE_LEN).await,
        "every line acknowledged after the loss"
    );
    let failed = shipping.metrics.events_failed.get();
    assert_eq!(shipping.stop().await.unacknowledged, 0);
    let events = consume(&bootstrap, "logs", usize::MAX, Duration::from_secs(3)).await;
    let mut counts = BTreeMap::new();
    for n in numbers(&events) {
        *counts.entry(n).or_insert(0usize) += 1;
    }
    let dups: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("acks {acks:?}: {} records for 600 lines, {dups} duplicates, {failed} delivery failures", events.len());
    counts
}

/// With `acks: all` (the default) the producer is idempotent: the broker recognises the batches
/// sent again (same producer id, epoch and sequence numbers) and acknowledges them without
/// appending them twice. Every line is in the topic exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answers_add_no_duplicates_with_the_idempotent_producer() {
    let counts = lines_after_lost_answers(None).await;
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (0..600).collect::<Vec<_>>());
    let twice: Vec<usize> = counts.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    assert!(twice.is_empty(), "{} lines came more than once: {:?}", twice.len(), &twice[..twice.len().min(20)]);
}

/// The same loss with `acks: leader`, where the producer cannot be idempotent: the batches sent
/// again are appended again. (This shows the loss above does make librdkafka resend batches the
/// broker had already appended.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_answers_duplicate_lines_without_idempotence() {
    let counts = lines_after_lost_answers(Some("leader")).await;
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (0..600).collect::<Vec<_>>());
    let dups: usize = counts.values().map(|c| c - 1).sum();
    assert!(dups > 0, "no line came twice: the lost answers did not make librdkafka send anything again");
}

fn spawn_shipper(config: &std::path::Path, stderr: std::path::PathBuf) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_strom-pipeline"))
        .args(["ship", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

/// The binary is killed with SIGKILL while lines are being written and shipped, then started again:
/// every line arrives at least once, and the only duplicates are lines at or after the offset the
/// registry held at the kill (read but not yet acknowledged and persisted). Then SIGTERM stops it
/// cleanly (exit 0) with everything acknowledged in the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_line_and_duplicates_only_unacknowledged_ones() {
    const N: usize = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _, _broker) = stack(dir.path(), None).await;
    let log = dir.path().join("app.log");
    append_lines(&log, 0..200);
    let config = dir.path().join("ship.yaml");
    std::fs::write(&config, config_yaml(dir.path(), &[path_str(&log)], &bootstrap, "logs", "")).unwrap();
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for chunk in 1..N / 200 {
                append_lines(&log, chunk * 200..chunk * 200 + 200);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let mut first = spawn_shipper(&config, dir.path().join("ship-1.log"));
    assert!(eventually(Duration::from_secs(30), || registry_offset(dir.path(), &log) > 0).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let persisted = registry_offset(dir.path(), &log);
    let delivered_before = high_watermark(&bootstrap, "logs").await;
    writer.join().unwrap();
    assert!(persisted < N as u64 * LINE_LEN, "the kill came mid-stream");

    let mut second = spawn_shipper(&config, dir.path().join("ship-2.log"));
    let size = N as u64 * LINE_LEN;
    assert!(eventually(Duration::from_secs(60), || registry_offset(dir.path(), &log) == size).await);
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    let status = second.wait().unwrap();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");
    assert_eq!(registry_offset(dir.path(), &log), size);

    let total = high_watermark(&bootstrap, "logs").await as usize;
    let events = consume(&bootstrap, "logs", total, Duration::from_secs(60)).await;
    assert_eq!(events.len(), total);
    let mut counts = BTreeMap::new();
    for n in numbers(&events) {
        *counts.entry(n).or_insert(0usize) += 1;
    }
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), (0..N).collect::<Vec<_>>(), "every line at least once");
    let duplicated: Vec<usize> = counts.iter().filter(|(_, c)| **c > 1).map(|(n, _)| *n).collect();
    let first_resumed = (persisted / LINE_LEN) as usize;
    assert!(duplicated.iter().all(|n| *n >= first_resumed), "a line before the persisted offset came twice");
    // Exactly the records the broker held past the persisted offset were sent again.
    assert_eq!(total - N, delivered_before as usize - first_resumed);
    eprintln!(
        "SIGKILL: {} lines, {} records, {} duplicates; registry at the kill: line {first_resumed}; records delivered before the kill: {delivered_before}",
        N,
        total,
        total - N
    );
}
