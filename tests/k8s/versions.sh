# The component cluster's pinned versions and where their binaries are cached (sourced).
K8S_VERSION=v1.34.4
KWOK_VERSION=v0.8.0
ETCD_VERSION=v3.6.16
K8S_CACHE="${STROM_CACHE:-$HOME/.cache/strom}"
K8S_BIN="$K8S_CACHE/k8s/$K8S_VERSION"
KWOK_BIN="$K8S_CACHE/kwok/$KWOK_VERSION"
ETCD_BIN="$K8S_CACHE/etcd/$ETCD_VERSION"
# kubectl and helm: the ones tests/lib/install.sh unpacks from the npm package that carries them
# (kubectl 1.33, within the supported skew of a 1.34 API server).
KUBECTL="$K8S_CACHE/helm-npm/kubectl/kubectl"
HELM="$K8S_CACHE/helm-npm/helm/helm"
# The real node (tests/k8s/node.sh): kubelet and kube-proxy from the same Kubernetes module (in
# $K8S_BIN), CoreDNS from its Go module, the pause binary compiled from the Kubernetes module's
# build/pause/linux/pause.c.
COREDNS_VERSION=v1.15.0
COREDNS_BIN="$K8S_CACHE/coredns/$COREDNS_VERSION"
PAUSE_BIN="$K8S_CACHE/pause/$K8S_VERSION"
