use super::*;

fn req(member: &str, inst: Option<&str>) -> JoinRequest {
    JoinRequest {
        member_id: member.into(),
        instance_id: inst.map(str::to_string),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        require_known_member_id: false,
    }
}

fn now(o: JoinOutcome) -> JoinResult {
    match o {
        JoinOutcome::Now(r) => r,
        JoinOutcome::Wait(_) => panic!("expected an immediate answer"),
    }
}

#[test]
fn first_member_leads_and_syncs() {
    let mut g = Group::new("g", 0);
    let (o, _) = g.join(req("", None), 0, 1000, 100_000);
    let r = now(o);
    assert_eq!((r.error, r.generation), (0, 1));
    assert_eq!(r.leader, r.member_id);
    assert_eq!(r.members.len(), 1);
    assert_eq!(g.state, State::CompletingRebalance);
    let (s, _) = g.sync(&r.member_id, 1, vec![(r.member_id.clone(), Bytes::from_static(b"a1"))], 1);
    match s {
        SyncOutcome::Now(s) => assert_eq!((s.error, s.assignment.as_ref()), (0, &b"a1"[..])),
        SyncOutcome::Wait => panic!(),
    }
    assert_eq!(g.state, State::Stable);
    assert_eq!(g.heartbeat(&r.member_id, 1, 2), 0);
    assert_eq!(g.heartbeat(&r.member_id, 0, 2), ILLEGAL_GENERATION);
    assert_eq!(g.heartbeat("nobody", 1, 2), UNKNOWN_MEMBER_ID);
}

#[test]
fn second_member_triggers_rebalance_and_both_get_answers() {
    let mut g = Group::new("g", 0);
    let a = now(g.join(req("", None), 0, 1000, 100_000).0);
    g.sync(&a.member_id, 1, vec![(a.member_id.clone(), Bytes::from_static(b"all"))], 0);
    // B joins: waits; A learns by heartbeat and rejoins; then both are answered.
    let (o, _) = g.join(req("", None), 10, 1000, 100_000);
    assert!(matches!(o, JoinOutcome::Wait(_)));
    assert_eq!(g.heartbeat(&a.member_id, 1, 11), REBALANCE_IN_PROGRESS);
    let (o, effects) = g.join(req(&a.member_id, None), 12, 1000, 100_000);
    let ra = now(o);
    assert_eq!(ra.generation, 2);
    assert_eq!(ra.members.len(), 2, "the leader sees both members");
    let rb = match &effects[..] {
        [Effect::Join(_, r)] => r.clone(),
        other => panic!("{other:?}"),
    };
    assert!(rb.members.is_empty());
    // Follower syncs first and waits; leader's sync answers it.
    let (s, _) = g.sync(&rb.member_id, 2, vec![], 13);
    assert!(matches!(s, SyncOutcome::Wait));
    let (_, effects) = g.sync(&ra.member_id, 2, vec![(ra.member_id.clone(), Bytes::from_static(b"p0")), (rb.member_id.clone(), Bytes::from_static(b"p1"))], 14);
    assert_eq!(effects.len(), 1);
    match &effects[0] {
        Effect::Sync(id, s) => assert_eq!((id.as_str(), s.assignment.as_ref()), (rb.member_id.as_str(), &b"p1"[..])),
        e => panic!("{e:?}"),
    }
}

#[test]
fn member_id_required_then_leave_and_session_expiry() {
    let mut g = Group::new("g", 0);
    let mut r = req("", None);
    r.require_known_member_id = true;
    let first = now(g.join(r.clone(), 0, 1000, 100_000).0);
    assert_eq!(first.error, MEMBER_ID_REQUIRED);
    r.member_id = first.member_id.clone();
    let a = now(g.join(r, 1, 1000, 100_000).0);
    assert_eq!((a.error, a.member_id.clone()), (0, first.member_id.clone()));
    g.sync(&a.member_id, 1, vec![], 2);
    let b = {
        let (o, _) = g.join(req("", None), 3, 1000, 100_000);
        assert!(matches!(o, JoinOutcome::Wait(_)));
        g.members.keys().find(|k| **k != a.member_id).unwrap().clone()
    };
    // A never rejoins: after the rebalance timeout it is dropped and B completes alone.
    let effects = g.tick(3 + 30_001);
    assert!(effects.iter().any(|e| matches!(e, Effect::Join(id, r) if *id == b && r.generation == 2 && r.leader == b)));
    assert!(!g.members.contains_key(&a.member_id));
    // B leaves: the group is empty.
    let (codes, _) = g.leave(&[(b.clone(), None)], 40_000);
    assert_eq!(codes, vec![0]);
    assert_eq!(g.state, State::Empty);
    // Session expiry of a stable member.
    let c = now(g.join(req("", None), 50_000, 1000, 100_000).0);
    g.sync(&c.member_id, c.generation, vec![], 50_000);
    g.tick(50_000 + 10_001);
    assert_eq!(g.state, State::Empty);
}

#[test]
fn static_member_rejoin_keeps_assignment_without_rebalance() {
    let mut g = Group::new("g", 0);
    let a = now(g.join(req("", Some("inst-1")), 0, 1000, 100_000).0);
    g.sync(&a.member_id, 1, vec![(a.member_id.clone(), Bytes::from_static(b"x"))], 0);
    let again = now(g.join(req("", Some("inst-1")), 5, 1000, 100_000).0);
    assert_ne!(again.member_id, a.member_id);
    assert_eq!((again.error, again.generation), (0, 1));
    assert_eq!(g.state, State::Stable);
    // The old member id is fenced.
    assert_eq!(g.heartbeat(&a.member_id, 1, 6), UNKNOWN_MEMBER_ID);
    let (codes, _) = g.leave(&[(a.member_id.clone(), Some("inst-1".into()))], 7);
    assert_eq!(codes, vec![FENCED_INSTANCE_ID]);
}

#[test]
fn invalid_session_timeout_and_protocol_mismatch() {
    let mut g = Group::new("g", 0);
    let mut r = req("", None);
    r.session_timeout_ms = 10;
    assert_eq!(now(g.join(r, 0, 1000, 100_000).0).error, INVALID_SESSION_TIMEOUT);
    now(g.join(req("", None), 0, 1000, 100_000).0);
    let mut other = req("", None);
    other.protocols = vec![("roundrobin".into(), Bytes::new())];
    assert_eq!(now(g.join(other, 1, 1000, 100_000).0).error, INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn initial_delay_waits_for_more_members() {
    let mut g = Group::new("g", 3000);
    assert!(matches!(g.join(req("", None), 0, 1000, 100_000).0, JoinOutcome::Wait(_)));
    assert!(matches!(g.join(req("", None), 100, 1000, 100_000).0, JoinOutcome::Wait(_)));
    assert!(g.tick(2000).is_empty());
    let effects = g.tick(3001);
    assert_eq!(effects.len(), 2);
}

#[test]
fn a_member_id_handed_out_is_waited_for_not_dropped() {
    // Two consumers start together (JoinGroup v4+): both get ids first.
    let mut g = Group::new("g", 0);
    let mut r = req("", None);
    r.require_known_member_id = true;
    let a = now(g.join(r.clone(), 0, 1000, 100_000).0).member_id;
    let b = now(g.join(r.clone(), 0, 1000, 100_000).0).member_id;
    let mut ra = r.clone();
    ra.member_id = a.clone();
    assert!(matches!(g.join(ra, 1, 1000, 100_000).0, JoinOutcome::Wait(_)), "waits for the other id");
    let mut rb = r;
    rb.member_id = b.clone();
    let (o, effects) = g.join(rb, 2, 1000, 100_000);
    let rb = now(o);
    assert_eq!((rb.error, rb.generation), (0, 1));
    assert!(matches!(&effects[..], [Effect::Join(id, res)] if *id == a && res.generation == 1 && res.members.len() == 2));
}
