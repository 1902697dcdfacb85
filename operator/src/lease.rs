//! Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
//! the holder renews the lease before it expires; another replica takes it only once it has
//! expired; every write carries the resourceVersion it read, so two replicas racing for the same
//! lease cannot both win (the API server refuses the second with 409 Conflict). Only the holder
//! runs the controllers; a holder that cannot renew in time exits, so that it never acts on a
//! lease another replica may already hold.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

/// What a replica does with the lease it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No lease yet: create it, held by us.
    Create,
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or its holder let it expire: take it over.
    Take,
    /// Another replica holds it for this much longer.
    Follow { holder: String, remaining: Duration },
}

/// The pure decision, from the lease's spec (if any), who we are and the time now.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else { return Decision::Create };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Take;
    }
    let duration = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as i64);
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()).map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH);
    let expires = renewed.checked_add(duration).unwrap_or(Timestamp::MAX);
    if now >= expires {
        return Decision::Take;
    }
    let remaining = expires.duration_since(now);
    Decision::Follow { holder, remaining: Duration::from_millis(remaining.as_millis().max(0) as u64) }
}

/// One Lease, one identity.
pub struct Elector {
    pub api: Api<Lease>,
    pub name: String,
    pub me: String,
    pub duration: Duration,
}

impl Elector {
    /// Reads the lease and acquires or renews it if it may. `Ok(true)`: we hold it until
    /// `duration` from now. `Ok(false)`: another replica does (or won the race).
    pub async fn try_hold(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(current.as_ref().and_then(|l| l.spec.as_ref()), &self.me, now);
        let secs = self.duration.as_secs().max(1) as i32;
        let result = match (decision, current) {
            (Decision::Follow { .. }, _) => return Ok(false),
            (Decision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                    spec: Some(LeaseSpec { holder_identity: Some(self.me.clone()), lease_duration_seconds: Some(secs), acquire_time: Some(MicroTime(now)), renew_time: Some(MicroTime(now)), lease_transitions: Some(0), ..Default::default() }),
                };
                self.api.create(&PostParams::default(), &lease).await.map(|_| ())
            }
            (d, Some(mut lease)) => {
                let mut spec = lease.spec.take().unwrap_or_default();
                if d == Decision::Take {
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    spec.acquire_time = Some(MicroTime(now));
                }
                spec.holder_identity = Some(self.me.clone());
                spec.lease_duration_seconds = Some(secs);
                spec.renew_time = Some(MicroTime(now));
                lease.spec = Some(spec);
                // replace carries the resourceVersion read above: a concurrent writer wins, we lose.
                self.api.replace(&self.name, &PostParams::default(), &lease).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        let mut waiting_on = String::new();
        loop {
            match self.try_hold().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.me, "holding the leader lease");
                    return;
                }
                Ok(false) => {
                    if let Ok(Some(l)) = self.api.get_opt(&self.name).await {
                        let holder = l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                        if holder != waiting_on {
                            tracing::info!(lease = %self.name, holder = %holder, "another replica leads; standing by");
                            waiting_on = holder;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, lease = %self.name, "cannot read or write the leader lease"),
            }
            tokio::time::sleep(self.duration / 5).await;
        }
    }

    /// Renews the lease every third of its duration; returns when it could not be renewed
    /// before it expired (then another replica may take it and this one must stop acting).
    pub async fn keep(&self) {
        let mut held_until = tokio::time::Instant::now() + self.duration;
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_hold().await {
                Ok(true) => held_until = tokio::time::Instant::now() + self.duration,
                Ok(false) => {
                    tracing::error!(lease = %self.name, "the leader lease was taken by another replica");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, lease = %self.name, "renewing the leader lease failed; retrying"),
            }
            // Give up a little before expiry, so that two replicas never act at once.
            if tokio::time::Instant::now() + self.duration / 6 >= held_until {
                tracing::error!(lease = %self.name, "the leader lease could not be renewed in time");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: Timestamp, secs: i32) -> LeaseSpec {
        LeaseSpec { holder_identity: Some(holder.into()), renew_time: Some(MicroTime(renewed)), lease_duration_seconds: Some(secs), ..Default::default() }
    }

    #[test]
    fn takes_only_an_expired_or_empty_lease() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let later = |s: i64| t0.checked_add(SignedDuration::from_secs(s)).unwrap();
        assert_eq!(decide(None, "a", t0), Decision::Create);
        assert_eq!(decide(Some(&spec("a", t0, 15)), "a", later(100)), Decision::Renew);
        assert_eq!(decide(Some(&spec("b", t0, 15)), "a", later(5)), Decision::Follow { holder: "b".into(), remaining: Duration::from_secs(10) });
        assert_eq!(decide(Some(&spec("b", t0, 15)), "a", later(15)), Decision::Take);
        assert_eq!(decide(Some(&spec("", t0, 15)), "a", t0), Decision::Take);
        assert_eq!(decide(Some(&LeaseSpec::default()), "a", t0), Decision::Take);
    }
}
