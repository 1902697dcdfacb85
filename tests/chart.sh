#!/usr/bin/env bash
# The Helm chart: lint, and templates that render (all namespaces, one namespace) or fail with a
# clear message (two namespaces); the CRDs the chart installs are the generated ones.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM="${STROM_CACHE:-$HOME/.cache/strom}/helm-npm/helm/helm"
[ -x "$HELM" ] || { echo "helm is not installed (tests/lib/install.sh installs it)" >&2; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$HELM" lint --strict charts/strom
"$HELM" template strom charts/strom --namespace strom-system --include-crds > "$out/all.yaml"
"$HELM" template strom charts/strom --namespace strom-system --set 'watchNamespaces={logs}' > "$out/one.yaml"
kinds() { grep '^kind:' "$1" | awk '{print $2}' | sort -u | tr '\n' ' '; }
check() { # FILE EXPECTED-KINDS
  local got; got=$(kinds "$1")
  [ "$got" = "$2" ] || { echo "chart: $1 renders [$got], expected [$2]" >&2; exit 1; }
}
check "$out/all.yaml" "ClusterRole ClusterRoleBinding CustomResourceDefinition Deployment Role RoleBinding ServiceAccount "
[ "$(grep -c '^kind: CustomResourceDefinition' "$out/all.yaml")" = "$(ls crds | wc -l)" ] || { echo "chart: not every CRD of crds/ is in the chart" >&2; exit 1; }
check "$out/one.yaml" "ClusterRole ClusterRoleBinding Deployment Role RoleBinding ServiceAccount "
grep -q -- '--watch-namespace' "$out/one.yaml" || { echo "chart: watchNamespaces does not reach the operator's arguments" >&2; exit 1; }
grep -q 'resources: \["leases"\]' "$out/all.yaml" || { echo "chart: no RBAC for the leader Lease" >&2; exit 1; }
grep -q -- '--lease-namespace' "$out/all.yaml" || { echo "chart: the operator is not told where its Lease lives" >&2; exit 1; }
"$HELM" template strom charts/strom --namespace strom-system --set metrics.enabled=true > "$out/metrics.yaml"
grep -q 'strom-operator-metrics' "$out/metrics.yaml" || { echo "chart: metrics.enabled renders no metrics Service" >&2; exit 1; }
! grep -q 'strom-operator-metrics' "$out/all.yaml" || { echo "chart: a metrics Service without metrics.enabled" >&2; exit 1; }
if "$HELM" template strom charts/strom --set 'watchNamespaces={a,b}' >/dev/null 2>"$out/err"; then
  echo "chart: two watchNamespaces rendered instead of failing" >&2; exit 1
fi
grep -q 'one namespace or all' "$out/err" || { echo "chart: unclear error for two namespaces: $(cat "$out/err")" >&2; exit 1; }
echo "chart: lint clean, templates render, CRDs current"
