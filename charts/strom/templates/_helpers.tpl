{{- define "strom.name" -}}strom-operator{{- end -}}
{{- define "strom.labels" -}}
app.kubernetes.io/name: {{ include "strom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "strom.selector" -}}
app.kubernetes.io/name: {{ include "strom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "strom.serviceAccount" -}}{{ default (printf "%s-strom-operator" .Release.Name) .Values.serviceAccount.name }}{{- end -}}
{{- define "strom.rules" -}}
- apiGroups: ["strom.io"]
  resources: ["coordinatorensembles", "brokerclusters", "topics", "logpipelines"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["strom.io"]
  # a LogPipeline's Topics
  resources: ["topics"]
  verbs: ["create"]
- apiGroups: ["strom.io"]
  resources: ["coordinatorensembles/status", "brokerclusters/status", "topics/status", "logpipelines/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["apps"]
  resources: ["statefulsets", "daemonsets", "deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  # each ensemble's super-user password (<name>-admin), made once, used for reconfig
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["pods"]
  # rolling restarts: the operator deletes one pod at a time (StatefulSets use OnDelete);
  # rack awareness: it annotates broker pods with their node's zone
  verbs: ["get", "list", "watch", "delete", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
