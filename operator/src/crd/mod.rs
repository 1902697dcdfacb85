//! The custom resources (group `strom.io`, version `v1alpha1`), as Rust types from which the
//! CRDs in `crds/` are generated.

pub mod broker;
pub mod common;
pub mod ensemble;
pub mod pipeline;
pub mod topic;

use kube::CustomResourceExt;

/// Every CRD of the operator, for `crdgen` and the chart.
pub fn all() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    vec![ensemble::CoordinatorEnsemble::crd(), broker::BrokerCluster::crd(), topic::Topic::crd(), pipeline::LogPipeline::crd()]
}
