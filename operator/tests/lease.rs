//! Leader election against a mocked API server: a replica creates the Lease when there is none,
//! stands by while another holds it, takes an expired one with the resourceVersion it read, and
//! loses (without acting) when another replica wrote first.

use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::{Api, Client};
use serde_json::{json, Value};
use strom_operator::lease::Elector;

mod common;

use common::{next, reply};

fn elector() -> (Elector, common::Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let api = Api::namespaced(Client::new(svc, "default"), "strom");
    (Elector { api, name: "strom-operator".into(), me: "op-a".into(), duration: Duration::from_secs(15) }, handle)
}

fn status(send: tower_test::mock::SendResponse<Response<Body>>, code: u16, reason: &str) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason});
    send.send_response(Response::builder().status(code).body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap());
}

fn lease(holder: &str, renewed: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "strom-operator", "namespace": "strom", "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed, "leaseTransitions": 2}})
}

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/strom/leases/strom-operator";

#[tokio::test]
async fn creates_the_lease_when_there_is_none() {
    let (e, mut h) = elector();
    let s = tokio::spawn(async move {
        let (m, p, _, send) = next(&mut h).await;
        assert_eq!((m.as_str(), p.as_str()), ("GET", PATH));
        status(send, 404, "NotFound");
        let (m, p, body, send) = next(&mut h).await;
        assert_eq!((m.as_str(), p.as_str()), ("POST", "/apis/coordination.k8s.io/v1/namespaces/strom/leases"));
        reply(send, &body);
        body
    });
    assert!(e.try_hold().await.unwrap());
    let body = s.await.unwrap();
    assert_eq!(body["spec"]["holderIdentity"], "op-a");
    assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test]
async fn stands_by_while_another_replica_holds_a_fresh_lease() {
    let (e, mut h) = elector();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let s = tokio::spawn(async move {
        let (m, _, _, send) = next(&mut h).await;
        assert_eq!(m, "GET");
        reply(send, &lease("op-b", &now));
        // no write may follow: the next request would be the test's end
        tokio::time::timeout(Duration::from_millis(300), h.next_request()).await.is_err()
    });
    assert!(!e.try_hold().await.unwrap());
    assert!(s.await.unwrap(), "a standby wrote to a lease another replica holds");
}

#[tokio::test]
async fn takes_an_expired_lease_with_the_version_it_read_and_loses_a_race() {
    for (answer, won) in [(200u16, true), (409, false)] {
        let (e, mut h) = elector();
        let s = tokio::spawn(async move {
            let (_, _, _, send) = next(&mut h).await;
            reply(send, &lease("op-b", "2026-01-01T00:00:00.000000Z"));
            let (m, p, body, send) = next(&mut h).await;
            assert_eq!((m.as_str(), p.as_str()), ("PUT", PATH));
            if answer == 200 { reply(send, &body) } else { status(send, 409, "Conflict") }
            body
        });
        assert_eq!(e.try_hold().await.unwrap(), won);
        let body = s.await.unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], "7", "the write is conditional on what was read");
        assert_eq!(body["spec"]["holderIdentity"], "op-a");
        assert_eq!(body["spec"]["leaseTransitions"], 3);
    }
}
