use super::*;
use crate::config::Duration;
use proptest::prelude::*;

fn machine(pattern: &str, negate: bool, mode: MultilineMatch, max_lines: usize) -> Multiline {
    Multiline::new(&MultilineConfig { pattern: pattern.into(), negate, match_: mode, max_lines, timeout: Duration::from_secs(5) })
        .unwrap()
}

/// Feeds lines (offsets as if each ended in `\n`) and flushes at the end.
fn run(m: &mut Multiline, lines: &[&str]) -> Vec<Joined> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for line in lines {
        let end = offset + line.len() as u64 + 1;
        out.extend(m.push(line, offset, end));
        offset = end;
    }
    out.extend(m.flush());
    out
}

#[test]
fn nginx_error_lines_with_continuations() {
    let mut m = machine(r"^\d{4}/\d{2}/\d{2} ", true, MultilineMatch::After, 500);
    let events = run(&mut m, &["2024/01/02 03:04:05 [error] a", "  detail 1", "  detail 2", "2024/01/02 03:04:06 [warn] b"]);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].message, "2024/01/02 03:04:05 [error] a\n  detail 1\n  detail 2");
    assert_eq!((events[0].offset, events[0].end, events[0].lines), (0, 52, 3));
    assert!(events[0].is_multiline() && !events[1].is_multiline());
    assert_eq!(events[1].offset, 52);
}

#[test]
fn java_stack_traces_after_without_negate() {
    let mut m = machine(r"^\s+at |^Caused by:", false, MultilineMatch::After, 500);
    let events = run(&mut m, &["Exception in thread", "  at a.b()", "Caused by: x", "  at c.d()", "next"]);
    assert_eq!(events.iter().map(|e| e.lines).collect::<Vec<_>>(), [4, 1]);
}

#[test]
fn before_joins_continued_lines_with_the_next() {
    let mut m = machine(r"\\$", false, MultilineMatch::Before, 500);
    let events = run(&mut m, &["a \\", "b \\", "c", "d"]);
    assert_eq!(events.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["a \\\nb \\\nc", "d"]);
}

#[test]
fn max_lines_drops_the_rest_but_consumes_it() {
    let mut m = machine("^ ", false, MultilineMatch::After, 2);
    let events = run(&mut m, &["head", " 1", " 2", " 3", "next"]);
    assert_eq!(events[0].message, "head\n 1");
    assert!(events[0].truncated);
    assert_eq!((events[0].lines, events[0].end, events[1].offset), (4, 14, 14));
}

#[test]
fn flush_ends_the_pending_event() {
    let mut m = machine("^ ", false, MultilineMatch::After, 10);
    assert_eq!(m.push("a", 0, 2), None);
    assert!(m.has_pending());
    assert_eq!(m.flush().unwrap().message, "a");
    assert_eq!(m.flush(), None);
}

proptest! {
    #[test]
    fn lines_are_kept_in_order_and_offsets_are_contiguous(
        lines in prop::collection::vec("[ab ]{0,4}", 0..40), negate in any::<bool>(), before in any::<bool>(),
    ) {
        let mode = if before { MultilineMatch::Before } else { MultilineMatch::After };
        let mut m = machine("^a", negate, mode, 1000);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let events = run(&mut m, &refs);
        let rejoined: Vec<String> = events.iter().flat_map(|e| e.message.split('\n').map(String::from).collect::<Vec<_>>()).collect();
        prop_assert_eq!(rejoined, lines.clone());
        let mut at = 0;
        for e in &events {
            prop_assert_eq!(e.offset, at);
            at = e.end;
        }
        prop_assert_eq!(events.iter().map(|e| e.lines).sum::<usize>(), lines.len());
    }

    #[test]
    fn after_negate_starts_one_event_per_matching_line(lines in prop::collection::vec("[ab]{1,3}", 1..40)) {
        let mut m = machine("^a", true, MultilineMatch::After, 1000);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let events = run(&mut m, &refs);
        let starts = lines.iter().filter(|l| l.starts_with('a')).count() + usize::from(!lines[0].starts_with('a'));
        prop_assert_eq!(events.len(), starts);
    }
}
