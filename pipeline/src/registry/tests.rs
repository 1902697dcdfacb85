use proptest::prelude::*;

use super::*;

fn entry(offset: u64) -> FileEntry {
    FileEntry { input: "in".into(), path: "/var/log/a.log".into(), dev: 1, inode: 2, fingerprint: None, offset }
}

#[test]
fn offset_moves_only_over_a_contiguous_acked_prefix() {
    let mut r = Registry::default();
    r.open("k", entry(0));
    let t1 = r.track("k", 10).unwrap();
    let t2 = r.track("k", 25).unwrap();
    let t3 = r.track("k", 40).unwrap();
    assert!(!r.ack(&t2), "t1 is still out");
    assert_eq!(r.offset("k"), Some(0));
    assert!(r.ack(&t1));
    assert_eq!(r.offset("k"), Some(25));
    assert!(!r.ack(&t1), "a second ack is a no-op");
    assert!(r.ack(&t3));
    assert_eq!(r.offset("k"), Some(40));
    assert_eq!(r.in_flight("k"), 0);
}

#[test]
fn reset_discards_acks_of_the_old_content() {
    let mut r = Registry::default();
    r.open("k", entry(100));
    let old = r.track("k", 150).unwrap();
    r.reset("k", 0);
    assert!(!r.ack(&old));
    assert_eq!(r.offset("k"), Some(0));
    let new = r.track("k", 7).unwrap();
    assert!(r.ack(&new));
    assert_eq!(r.offset("k"), Some(7));
}

/// A truncated file's new content has other first bytes: the old fingerprint goes, or the next start
/// would take the file for another one (`identity::Start::Reused`) and read it all again.
#[test]
fn reset_forgets_the_old_contents_fingerprint() {
    let mut r = Registry::default();
    r.open("k", FileEntry { fingerprint: Some(77), ..entry(5000) });
    let t = r.track("k", 64).unwrap();
    r.reset("k", 0);
    assert_eq!(r.get("k").unwrap().fingerprint, None);
    let t2 = r.track("k", 64).unwrap();
    assert!(!r.ack(&t) && r.ack(&t2));
    r.set_fingerprint("k", 88);
    let seen = r.get("k").unwrap().remembered();
    assert_eq!(seen, Remembered { offset: 64, fingerprint: Some(88) });
    assert_eq!(crate::tail::identity::start(Some(seen), Some(88), 4096), crate::tail::identity::Start::Resume(64));
}

#[test]
fn reopen_starts_a_new_generation_and_round_trips_through_the_file_form() {
    let mut r = Registry::default();
    r.open("k", entry(0));
    let stale = r.track("k", 9).unwrap();
    r.open("k", entry(50));
    assert!(!r.ack(&stale));
    r.set_fingerprint("k", 77);
    let file = r.to_file();
    let json = serde_json::to_string(&file).unwrap();
    let back: RegistryFile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, file);
    let r2 = Registry::from_file(back);
    assert_eq!(r2.get("k").unwrap().remembered(), Remembered { offset: 50, fingerprint: Some(77) });
}

#[test]
fn forget_keeps_busy_and_other_inputs_files() {
    let mut r = Registry::default();
    r.open("a", entry(0));
    r.open("b", entry(0));
    r.open("c", FileEntry { input: "other".into(), ..entry(0) });
    let _busy = r.track("b", 5).unwrap();
    assert_eq!(r.forget("in", |_| false), 1);
    assert!(r.get("a").is_none() && r.get("b").is_some() && r.get("c").is_some());
}

proptest! {
    /// Whatever order acks come in, the offset is always the end of the longest acked prefix: it never
    /// passes an unacknowledged event.
    #[test]
    fn random_ack_orders_never_pass_an_unacked_event(
        sizes in proptest::collection::vec(1u64..100, 1..60),
        order_seed in proptest::collection::vec(any::<u32>(), 60),
    ) {
        let mut r = Registry::default();
        r.open("k", entry(1000));
        let mut ends = Vec::new();
        let mut end = 1000;
        let mut tickets = Vec::new();
        for size in &sizes {
            end += size;
            ends.push(end);
            tickets.push(r.track("k", end).unwrap());
        }
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&i| order_seed[i]);
        let mut acked = vec![false; sizes.len()];
        for &i in &order {
            r.ack(&tickets[i]);
            acked[i] = true;
            let prefix = acked.iter().take_while(|a| **a).count();
            let expected = if prefix == 0 { 1000 } else { ends[prefix - 1] };
            prop_assert_eq!(r.offset("k"), Some(expected));
            prop_assert_eq!(r.in_flight("k"), sizes.len() - prefix);
        }
        prop_assert_eq!(r.offset("k"), Some(end));
    }
}
