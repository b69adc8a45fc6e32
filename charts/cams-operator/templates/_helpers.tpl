{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "cams-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "cams-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cams-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cams-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cams-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cams-operator.labels" -}}
helm.sh/chart: {{ include "cams-operator.chart" . }}
{{ include "cams-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "cams-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cams-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cams-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the operator runs with leader election. */}}
{{- define "cams-operator.leaderElect" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{- define "cams-operator.leaseName" -}}
{{- default (include "cams-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* RRSA without ACK's webhook: the chart mounts the OIDC token and sets the environment. */}}
{{- define "cams-operator.rrsaManual" -}}
{{- if and (eq .Values.credentials.mode "rrsa") (not .Values.credentials.rrsa.webhook) }}true{{ end }}
{{- end }}

{{/*
The rules the operator needs on ChatGroups, Secrets and Events, in every namespace it
watches (a ClusterRole) or in each listed namespace (a Role). These are exactly the calls
the operator makes:
- chatgroups: list + watch (its informer), get (re-reads before writing);
- chatgroups/status: patch (server-side apply of status);
- secrets: get (reads the Secret a ChatGroup names; cluster-wide, a ChatGroup waiting on a
  credentials fix re-reads its Secret's metadata every 60 s, so the operator never lists or
  watches every Secret in the cluster); with watchNamespaces also list + watch in those
  namespaces (a metadata watch re-queues ChatGroups at once when their Secret changes);
- events.k8s.io events: create (every event is a new one; none is patched).
*/}}
{{- define "cams-operator.rules" -}}
- apiGroups: ["cams.dev"]
  resources: ["chatgroups"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["cams.dev"]
  resources: ["chatgroups/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  {{- if .Values.watchNamespaces }}
  verbs: ["get", "list", "watch"]
  {{- else }}
  verbs: ["get"]
  {{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.inviteLinks.enabled }}
# inviteLinks.enabled: the operator publishes invite links in Secrets it owns.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch", "delete"]
{{- end }}
{{- end }}

{{/* Checks combinations of values the schema cannot express; fails the render. */}}
{{- define "cams-operator.validate" -}}
{{- $c := .Values.credentials }}
{{- if and (eq $c.mode "secret") (not $c.secret.name) }}
{{- fail "credentials.mode=secret needs credentials.secret.name (an existing Secret in the release namespace)" }}
{{- end }}
{{- if eq $c.mode "rrsa" }}
{{- if and $c.rrsa.webhook (not $c.rrsa.roleName) }}
{{- fail "credentials.mode=rrsa with the ACK webhook needs credentials.rrsa.roleName (the RAM role's name)" }}
{{- end }}
{{- if and (not $c.rrsa.webhook) (or (not $c.rrsa.roleArn) (not $c.rrsa.oidcProviderArn)) }}
{{- fail "credentials.mode=rrsa without the webhook needs credentials.rrsa.roleArn and credentials.rrsa.oidcProviderArn" }}
{{- end }}
{{- end }}
{{- if not (has .Values.cams.region .Values.cams.regions) }}
{{- fail (printf "cams.region %s must be one of cams.regions (%s)" .Values.cams.region (join "," .Values.cams.regions)) }}
{{- end }}
{{- if and (has "*" .Values.lendCredentialsTo) (gt (len .Values.lendCredentialsTo) 1) }}
{{- fail "lendCredentialsTo: \"*\" lends to every namespace; list nothing else with it" }}
{{- end }}
{{- end }}
