{{/*
The chart's name: nameOverride, else "rgd".
*/}}
{{- define "rgd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of the release's objects: fullnameOverride, else the release's name
when it holds the chart's name ("rgd" for `helm install rgd`), else
RELEASE-rgd.
*/}}
{{- define "rgd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "rgd.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The labels that select the engine's pods.
*/}}
{{- define "rgd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rgd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The labels of every object of the release.
*/}}
{{- define "rgd.labels" -}}
{{ include "rgd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/*
The ServiceAccount the engine runs as, and the subject of every binding.
*/}}
{{- define "rgd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rgd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The subjects of the release's bindings: the engine's ServiceAccount.
*/}}
{{- define "rgd.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: {{ include "rgd.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- end -}}

{{/*
The arguments of `rgd controller`: what the chart decides, then each value
that is set, then controller.extraArgs.
*/}}
{{- define "rgd.args" -}}
{{- $c := .Values.controller -}}
- controller
- --install-crds={{ $c.installCRDs }}
- --leader-elect={{ .Values.leaderElection.enabled }}
- --metrics-bind-address=:{{ .Values.metrics.port }}
- --health-probe-bind-address=:{{ .Values.probes.port }}
- --log-format={{ $c.logFormat }}
{{- with $c.verbosity }}
- -v={{ . | int64 }}
{{- end }}
{{- with $c.workers }}
- --workers={{ . | int64 }}
{{- end }}
{{- with $c.rgdWorkers }}
- --rgd-workers={{ . | int64 }}
{{- end }}
{{- with $c.qps }}
- --qps={{ . }}
{{- end }}
{{- with $c.burst }}
- --burst={{ . | int64 }}
{{- end }}
{{- with $c.maxRetryDelay }}
- --max-retry-delay={{ . }}
{{- end }}
{{- with $c.shutdownTimeout }}
- --shutdown-timeout={{ . }}
{{- end }}
{{- if $c.allowCRDDeletion }}
- --allow-crd-deletion
{{- end }}
{{- if $c.strictCostEstimate }}
- --strict-cost-estimate
{{- end }}
{{- if .Values.impersonation.enabled }}
- --require-service-account
{{- with .Values.impersonation.defaultServiceAccount }}
- --default-service-account={{ . }}
{{- end }}
{{- end }}
{{- range $c.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
