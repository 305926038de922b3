{{/* fullname: the release name, or release-chart when the release name lacks the chart name. */}}
{{- define "snaprestore.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "snaprestore.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "snaprestore.labels" -}}
{{ include "snaprestore.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Names of objects other templates refer to. */}}
{{- define "snaprestore.webhookConfigName" -}}{{ include "snaprestore.fullname" . }}{{- end -}}
{{/* servingSecret is written by the builtin authority, tlsSecret by cert-manager: two
names, so switching modes never has both writing one Secret. */}}
{{- define "snaprestore.servingSecret" -}}{{ include "snaprestore.fullname" . }}-serving{{- end -}}
{{- define "snaprestore.tlsSecret" -}}{{ include "snaprestore.fullname" . }}-tls{{- end -}}
{{- define "snaprestore.caSecret" -}}{{ include "snaprestore.fullname" . }}-ca{{- end -}}
{{- define "snaprestore.certificate" -}}{{ include "snaprestore.fullname" . }}-serving{{- end -}}
{{- define "snaprestore.selfSignedIssuer" -}}{{ include "snaprestore.fullname" . }}-selfsigned{{- end -}}

{{/* certManager: true when cert-manager issues the serving certificate. */}}
{{- define "snaprestore.certManager" -}}
{{- if eq .Values.certs.mode "certManager" }}true{{ end -}}
{{- end -}}

{{/*
webhookCommon: the fields every webhook shares. The namespaceSelector keeps the webhook
away from its own namespace (so a broken webhook cannot block its own recovery) and from
namespaces labelled snaprestore.io/ignore: "true". It does not apply to cluster-scoped
VolumeSnapshotContents and VolumeSnapshotClasses. The failure policy is webhook.failurePolicy;
webhookFailClosed is the same with Fail, for the BackupSource check a creator must not
slip past while the webhook is down (its Secret, webhook/backupsource.go).
*/}}
{{- define "snaprestore.webhookCommon" -}}
failurePolicy: {{ .Values.webhook.failurePolicy }}
{{ include "snaprestore.webhookShared" . }}
{{- end -}}

{{- define "snaprestore.webhookFailClosed" -}}
failurePolicy: Fail
{{ include "snaprestore.webhookShared" . }}
{{- end -}}

{{- define "snaprestore.webhookShared" -}}
admissionReviewVersions: ["v1"]
matchPolicy: Equivalent
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: [{{ .Release.Namespace | quote }}]
    - key: snaprestore.io/ignore
      operator: NotIn
      values: ["true"]
{{- end -}}

{{- define "snaprestore.clientConfig" -}}
clientConfig:
  service:
    name: {{ include "snaprestore.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
{{- end -}}
