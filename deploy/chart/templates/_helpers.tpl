{{/* Labels shared by every object; the kustomize base uses the same part-of label. */}}
{{- define "claude-pool.labels" -}}
app.kubernetes.io/part-of: claude-pool
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "claude-pool.operatorSelector" -}}
app.kubernetes.io/name: claude-pool-operator
{{- end -}}
