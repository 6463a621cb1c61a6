{{/*
The relay container's environment: turnstile reads its whole configuration from
TURNSTILE_* variables. Listen, relay and metrics addresses are built from the pod
IP (status.podIP; on the host network that is the node's address) with Kubernetes'
$(VAR) expansion, because turnstile rejects unspecified addresses such as 0.0.0.0.
Input: dict "root" $ "externalIP" <public address, or "">.
*/}}

{{/*
ip:port on the pod IP; IPv6 is bracketed. Input: dict "root" $ "port" <port>.
*/}}
{{- define "turnstile.podAddress" -}}
{{- if eq .root.Values.listen.ipFamily "IPv6" -}}
[$(POD_IP)]:{{ int .port }}
{{- else -}}
$(POD_IP):{{ int .port }}
{{- end }}
{{- end }}

{{/*
Optional turnstile settings from .Values.config: values key → variable suffix.
Lists are joined with commas; integers are printed without exponent.
*/}}
{{- define "turnstile.configEnv" -}}
{{- $names := dict
  "realm" "REALM"
  "software" "SOFTWARE"
  "logLevel" "LOG_LEVEL"
  "credentialMaxTTL" "CREDENTIAL_MAX_TTL"
  "nonceLifetime" "NONCE_LIFETIME"
  "userQuota" "USER_QUOTA"
  "totalQuota" "TOTAL_QUOTA"
  "maxLifetime" "MAX_LIFETIME"
  "maxPermissions" "MAX_PERMISSIONS"
  "peerAllow" "PEER_ALLOW"
  "peerDeny" "PEER_DENY"
  "tcpMaxConnections" "TCP_MAX_CONNECTIONS"
  "tcpMaxConnectionsPerSource" "TCP_MAX_CONNECTIONS_PER_SOURCE"
  "tcpWriteBudget" "TCP_WRITE_BUDGET"
  "tcpIdleTimeout" "TCP_IDLE_TIMEOUT"
  "tcpMaxFrame" "TCP_MAX_FRAME"
  "tcpRelay" "TCP_RELAY"
  "tcpRelayConnectTimeout" "TCP_RELAY_CONNECT_TIMEOUT"
  "tcpRelayMaxPerAllocation" "TCP_RELAY_MAX_PER_ALLOCATION"
  "tcpRelayMaxPerUser" "TCP_RELAY_MAX_PER_USER"
  "tcpRelayMaxPending" "TCP_RELAY_MAX_PENDING"
  "tcpRelayIdleTimeout" "TCP_RELAY_IDLE_TIMEOUT"
  "unauthRate" "UNAUTH_RATE"
  "unauthBurst" "UNAUTH_BURST"
  "udpOffload" "UDP_OFFLOAD"
  "xdp" "XDP"
  "alternateServers" "ALTERNATE_SERVERS" }}
{{- range $key := keys .Values.config | sortAlpha }}
{{- $value := index $.Values.config $key }}
- name: TURNSTILE_{{ index $names $key }}
{{- if kindIs "slice" $value }}
  value: {{ join "," $value | quote }}
{{- else if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) }}
  value: {{ printf "%d" (int64 $value) | quote }}
{{- else }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "turnstile.env" -}}
{{- $v := .root.Values -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if $v.listen.udp.enabled }}
- name: TURNSTILE_UDP_LISTEN
  value: {{ include "turnstile.podAddress" (dict "root" .root "port" $v.listen.udp.port) | quote }}
{{- end }}
{{- if $v.listen.tcp.enabled }}
- name: TURNSTILE_TCP_LISTEN
  value: {{ include "turnstile.podAddress" (dict "root" .root "port" $v.listen.tcp.port) | quote }}
{{- end }}
{{- if $v.listen.tls.enabled }}
- name: TURNSTILE_TLS_LISTEN
  value: {{ include "turnstile.podAddress" (dict "root" .root "port" $v.listen.tls.port) | quote }}
- name: TURNSTILE_TLS_CERT_FILE
  value: /etc/turnstile/tls/tls.crt
- name: TURNSTILE_TLS_KEY_FILE
  value: /etc/turnstile/tls/tls.key
{{- end }}
- name: TURNSTILE_RELAY_IPS
  value: $(POD_IP)
{{- with .externalIP }}
- name: TURNSTILE_EXTERNAL_IPS
  value: {{ . | quote }}
{{- end }}
- name: TURNSTILE_PORT_RANGE
  value: {{ printf "%d-%d" (int64 $v.relay.portRange.min) (int64 $v.relay.portRange.max) | quote }}
- name: TURNSTILE_AUTH_SECRETS_FILE
  value: /etc/turnstile/auth/{{ include "turnstile.authSecretKey" .root }}
- name: TURNSTILE_METRICS_LISTEN
{{- if eq $v.metrics.bind "loopback" }}
  value: "127.0.0.1:{{ int $v.metrics.port }}"
{{- else }}
  value: {{ include "turnstile.podAddress" (dict "root" .root "port" $v.metrics.port) | quote }}
{{- end }}
- name: TURNSTILE_DRAIN_TIMEOUT
  value: "{{ int $v.drain.timeoutSeconds }}s"
{{- if include "turnstile.gatewayEnabled" .root }}
- name: TURNSTILE_GATEWAY_RESOURCES_FILE
  value: /etc/turnstile/gateway/resources.json
{{- end }}
{{- with $v.gateway.dns }}
- name: TURNSTILE_GATEWAY_DNS
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.gateway.resolver }}
- name: TURNSTILE_GATEWAY_RESOLVER
  value: {{ . | quote }}
{{- end }}
{{- with $v.gateway.proxyRanges }}
- name: TURNSTILE_GATEWAY_PROXY_RANGES
  value: {{ join "," . | quote }}
{{- end }}
{{- include "turnstile.configEnv" .root }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
