{{/*
Names, labels and the checks that span several values. The pod template shared by
the DaemonSets and the Deployment is in _pod.tpl, its environment in _env.tpl.
*/}}

{{- define "turnstile.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (DNS label).
*/}}
{{- define "turnstile.fullname" -}}
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

{{- define "turnstile.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels every object carries.
*/}}
{{- define "turnstile.labels" -}}
helm.sh/chart: {{ include "turnstile.chart" . }}
{{ include "turnstile.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: relay
{{- end }}

{{/*
Labels that select every relay pod of the release, whatever its placement; the PDB
and the metrics Service use these.
*/}}
{{- define "turnstile.selectorLabels" -}}
app.kubernetes.io/name: {{ include "turnstile.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Placement key of a node listed in relay.nodeExternalIPs: a short hash of the node
name, so that it is a valid label value whatever the name's length.
Input: the node name.
*/}}
{{- define "turnstile.nodePlacement" -}}
{{- printf "node-%s" (sha256sum . | trunc 10) }}
{{- end }}

{{/*
Name of the DaemonSet pinned to one node: readable prefix plus the placement hash.
Input: dict "root" $ "node" <node name>.
*/}}
{{- define "turnstile.nodeWorkloadName" -}}
{{- $prefix := printf "%s-%s" (include "turnstile.fullname" .root) .node | trunc 47 | trimSuffix "-" | trimSuffix "." | trimSuffix "-" }}
{{- printf "%s-%s" $prefix (sha256sum .node | trunc 10) }}
{{- end }}

{{- define "turnstile.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "turnstile.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "turnstile.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "turnstile.authSecretName" -}}
{{- default (printf "%s-auth" (include "turnstile.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "turnstile.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecretKey }}
{{- else -}}
auth-secrets
{{- end }}
{{- end }}

{{- define "turnstile.gatewayEnabled" -}}
{{- if or .Values.gateway.resources .Values.gateway.existingConfigMap }}true{{ end }}
{{- end }}

{{- define "turnstile.gatewayConfigMapName" -}}
{{- default (printf "%s-gateway" (include "turnstile.fullname" .)) .Values.gateway.existingConfigMap }}
{{- end }}

{{/*
Checks that values.schema.json cannot express: they fail the render with a message
that names the values involved.
*/}}
{{- define "turnstile.validate" -}}
{{- if gt (int .Values.relay.portRange.min) (int .Values.relay.portRange.max) }}
{{- fail "relay.portRange: min must not be greater than max" }}
{{- end }}
{{- if and (eq .Values.mode "Deployment") .Values.relay.nodeExternalIPs }}
{{- fail "relay.nodeExternalIPs needs mode DaemonSet: a Deployment's pods do not know their node before they are scheduled" }}
{{- end }}
{{- if and (eq .Values.metrics.bind "loopback") (not .Values.hostNetwork) }}
{{- fail "metrics.bind loopback needs hostNetwork: without it the kubelet cannot reach the pod's 127.0.0.1 for probes; use metrics.bind podIP" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (eq .Values.metrics.bind "loopback") }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.bind podIP: Prometheus cannot scrape 127.0.0.1" }}
{{- end }}
{{- if and .Values.listen.tls.enabled (not .Values.listen.tls.certificateSecret) }}
{{- fail "listen.tls.enabled needs listen.tls.certificateSecret (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if not (or .Values.listen.udp.enabled .Values.listen.tcp.enabled .Values.listen.tls.enabled) }}
{{- fail "listen: enable at least one of udp, tcp, tls" }}
{{- end }}
{{- if and .Values.listen.tls.enabled .Values.listen.tcp.enabled (eq (int .Values.listen.tls.port) (int .Values.listen.tcp.port)) }}
{{- fail "listen.tls.port and listen.tcp.port must differ: both are TCP" }}
{{- end }}
{{- range $name := list "tcp" "tls" }}
{{- $listener := index $.Values.listen $name }}
{{- if and $listener.enabled (eq (int $listener.port) (int $.Values.metrics.port)) }}
{{- fail (printf "metrics.port must differ from listen.%s.port: both are TCP" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.auth.secrets .Values.auth.existingSecret }}
{{- fail "auth: set either secrets or existingSecret, not both" }}
{{- end }}
{{- if and .Values.gateway.resources .Values.gateway.existingConfigMap }}
{{- fail "gateway: set either resources or existingConfigMap, not both" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- if and (hasKey $pdb "minAvailable") (hasKey $pdb "maxUnavailable") }}
{{- fail "podDisruptionBudget: set either minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if and (eq .Values.mode "DaemonSet") (or (hasKey $pdb "maxUnavailable") (kindIs "string" $pdb.minAvailable)) }}
{{- fail "podDisruptionBudget: in DaemonSet mode only an integer minAvailable is allowed (a DaemonSet has no scale subresource)" }}
{{- end }}
{{- end }}
{{- with .Values.updateStrategy.type }}
{{- if and (eq $.Values.mode "DaemonSet") (eq . "Recreate") }}
{{- fail "updateStrategy.type Recreate is for mode Deployment; a DaemonSet uses RollingUpdate or OnDelete" }}
{{- end }}
{{- if and (eq $.Values.mode "Deployment") (eq . "OnDelete") }}
{{- fail "updateStrategy.type OnDelete is for mode DaemonSet; a Deployment uses RollingUpdate or Recreate" }}
{{- end }}
{{- if and (ne . "RollingUpdate") $.Values.updateStrategy.rollingUpdate }}
{{- fail (printf "updateStrategy.rollingUpdate applies only to type RollingUpdate, not %s" .) }}
{{- end }}
{{- end }}
{{- end }}
