use super::*;
use proptest::prelude::*;

fn doc(index: &str, action: BulkAction, id: Option<&str>, source: Value) -> BulkDoc {
    BulkDoc { index: index.into(), action, id: id.map(Into::into), source: source.as_object().unwrap().clone() }
}

#[test]
fn body_is_ndjson_ending_in_newline() {
    let docs = [
        doc("nginx_access-2024.01.02", BulkAction::Index, None, json!({"message": "a\nb"})),
        doc("logs-nginx", BulkAction::Create, Some("x1"), json!({"n": 1})),
    ];
    assert_eq!(
        body(&docs),
        concat!(
            "{\"index\":{\"_index\":\"nginx_access-2024.01.02\"}}\n{\"message\":\"a\\nb\"}\n",
            "{\"create\":{\"_id\":\"x1\",\"_index\":\"logs-nginx\"}}\n{\"n\":1}\n"
        )
    );
    assert_eq!(body(&[]), "");
}

#[test]
fn errors_false_is_the_fast_path() {
    let answer = br#"{"took":3,"errors":false,"items":[{"index":{"_index":"i","_id":"1","status":201,"result":"created"}}]}"#;
    assert_eq!(classify(200, answer, 1), BulkOutcome::AllDone);
    assert_eq!(report(&BulkOutcome::AllDone, 1).done, 1);
}

#[test]
fn items_are_classified_per_status() {
    let answer = json!({"took": 5, "errors": true, "items": [
        {"index": {"_index": "i", "_id": "1", "status": 201, "result": "created"}},
        {"create": {"_index": "i", "_id": "2", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
        {"index": {"_index": "i", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
        {"index": {"_index": "i", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [n]"}}},
        {"index": {"_index": "i", "status": 503, "error": {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}}},
        {"index": {"_index": "i", "status": 404, "error": {"type": "index_not_found_exception", "reason": "no such index"}}},
    ]});
    let outcome = classify(200, answer.to_string().as_bytes(), 6);
    let BulkOutcome::Items(items) = &outcome else { panic!("{outcome:?}") };
    assert_eq!(items[0], ItemOutcome::Done);
    assert_eq!(items[1], ItemOutcome::Conflict);
    assert_eq!(items[2], ItemOutcome::Retry { status: 429, reason: "queue full".into() });
    assert!(matches!(&items[3], ItemOutcome::DeadLetter { status: 400, error_type, .. } if error_type == "mapper_parsing_exception"));
    let r = report(&outcome, 6);
    assert_eq!((r.done, r.conflicts, r.retry.clone()), (1, 1, vec![2, 4]));
    assert_eq!(r.dead_letter[0], (3, "400 mapper_parsing_exception: failed to parse field [n]".to_string()));
    assert_eq!(r.dead_letter[1].0, 5);
}

#[test]
fn whole_request_failures_retry_everything() {
    for (status, body, sent) in [
        (429u16, &b"{\"error\":\"too many\"}"[..], 2usize),
        (503, &b"unavailable"[..], 2),
        (200, &b"<html>proxy error</html>"[..], 2),
        (200, &br#"{"took":1,"errors":true,"items":[{"index":{"status":201}}]}"#[..], 2),
        (200, &br#"{"took":1,"items":[]}"#[..], 2),
        (200, &br#"{"took":1,"errors":true,"items":[{"index":{}},{"index":{}}]}"#[..], 2),
    ] {
        let outcome = classify(status, body, sent);
        assert!(matches!(outcome, BulkOutcome::RetryAll { .. }), "{status} {outcome:?}");
        assert_eq!(report(&outcome, sent).retry, vec![0, 1]);
    }
}

#[test]
fn backoff_doubles_to_the_cap_with_equal_jitter() {
    let b = Backoff::default();
    assert_eq!(b.delay(0, 0.0), Duration::from_secs(1));
    assert_eq!(b.delay(0, 1.0), Duration::from_secs(2));
    assert_eq!(b.delay(3, 1.0), Duration::from_secs(16));
    assert_eq!(b.delay(10, 1.0), Duration::from_secs(64));
    assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_secs(48));
    assert_eq!(b.delay(1, f64::NAN), Duration::from_secs(2));
}

proptest! {
    #[test]
    fn backoff_stays_within_half_and_whole_cap(attempt in 0u32..100, jitter in -1.0f64..2.0) {
        let b = Backoff::default();
        let d = b.delay(attempt, jitter);
        prop_assert!(d <= b.max && d >= b.initial / 2);
        prop_assert!(b.delay(attempt + 1, 1.0) >= b.delay(attempt, 1.0));
    }

    #[test]
    fn classify_never_panics(status in 0u16..600, body in prop::collection::vec(any::<u8>(), 0..200), sent in 0usize..5) {
        let outcome = classify(status, &body, sent);
        let r = report(&outcome, sent);
        prop_assert!(r.done + r.conflicts + r.retry.len() + r.dead_letter.len() == sent);
    }

    #[test]
    fn every_document_is_accounted_for(statuses in prop::collection::vec(prop::sample::select(vec![200u16, 201, 409, 429, 400, 404, 500, 503, 403]), 1..20)) {
        let items: Vec<Value> = statuses.iter().map(|s| json!({"index": {"_index": "i", "status": s, "error": {"type": "t", "reason": "r"}}})).collect();
        let answer = json!({"took": 1, "errors": true, "items": items});
        let r = report(&classify(200, answer.to_string().as_bytes(), statuses.len()), statuses.len());
        prop_assert_eq!(r.done, statuses.iter().filter(|s| (200..300).contains(*s)).count());
        prop_assert_eq!(r.dead_letter.len(), statuses.iter().filter(|s| matches!(s, 400 | 404)).count());
        prop_assert_eq!(r.done + r.conflicts + r.retry.len() + r.dead_letter.len(), statuses.len());
    }
}
