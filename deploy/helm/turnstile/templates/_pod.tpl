{{/*
The relay pod template, shared by the DaemonSets and the Deployment.
Input: dict
  "root"       $
  "placement"  value of the turnstile/placement label ("default" or a node hash)
  "node"       node name this pod is pinned to, or "" (not pinned)
  "externalIP" public address advertised by this pod, or ""
*/}}

{{/*
Affinity: the user's .Values.affinity, plus a required node term on metadata.name
that pins a per-node workload to its node (In) or keeps the default workload off
the nodes that have their own (NotIn). Node selector terms are ORed, so the
field requirement is added to every term.
*/}}
{{- define "turnstile.affinity" -}}
{{- $affinity := deepCopy (.root.Values.affinity | default (dict)) }}
{{- $field := dict }}
{{- if .node }}
{{- $field = dict "key" "metadata.name" "operator" "In" "values" (list .node) }}
{{- else if .root.Values.relay.nodeExternalIPs }}
{{- $field = dict "key" "metadata.name" "operator" "NotIn" "values" (keys .root.Values.relay.nodeExternalIPs | sortAlpha) }}
{{- end }}
{{- if $field }}
{{- $nodeAffinity := get $affinity "nodeAffinity" | default (dict) }}
{{- $required := get $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" | default (dict) }}
{{- $terms := get $required "nodeSelectorTerms" | default (list (dict)) }}
{{- $pinnedTerms := list }}
{{- range $terms }}
{{- $term := deepCopy . }}
{{- $_ := set $term "matchFields" (append (get $term "matchFields" | default (list)) $field) }}
{{- $pinnedTerms = append $pinnedTerms $term }}
{{- end }}
{{- $_ := set $required "nodeSelectorTerms" $pinnedTerms }}
{{- $_ := set $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" $required }}
{{- $_ := set $affinity "nodeAffinity" $nodeAffinity }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
HTTP probe on the metrics listener. On the host network with metrics bound to
loopback, the kubelet (which runs in the host's network namespace) connects to
127.0.0.1. Input: dict "root" $ "path" <path> "probe" <.Values.probes.x>.
*/}}
{{- define "turnstile.probe" -}}
httpGet:
  path: {{ .path }}
  port: {{ int .root.Values.metrics.port }}
  {{- if eq .root.Values.metrics.bind "loopback" }}
  host: 127.0.0.1
  {{- end }}
periodSeconds: {{ int .probe.periodSeconds }}
timeoutSeconds: {{ int .probe.timeoutSeconds }}
failureThreshold: {{ int .probe.failureThreshold }}
{{- end }}

{{- define "turnstile.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values -}}
metadata:
  labels:
    {{- include "turnstile.selectorLabels" $root | nindent 4 }}
    turnstile/placement: {{ .placement }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/auth: {{ toJson $v.auth | sha256sum }}
    checksum/gateway: {{ toJson $v.gateway.resources | sha256sum }}
    {{- with .node }}
    turnstile/node: {{ . | quote }}
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "turnstile.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  hostNetwork: {{ $v.hostNetwork }}
  dnsPolicy: {{ ternary "ClusterFirstWithHostNet" "ClusterFirst" $v.hostNetwork }}
  terminationGracePeriodSeconds: {{ add $v.drain.timeoutSeconds $v.drain.extraGracePeriodSeconds }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ int $v.securityContext.runAsUser }}
    runAsGroup: {{ int $v.securityContext.runAsGroup }}
    fsGroup: {{ int $v.securityContext.runAsGroup }}
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: turnstile
      image: {{ include "turnstile.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: ["serve"]
      env:
        {{- include "turnstile.env" (dict "root" $root "externalIP" .externalIP) | nindent 8 }}
      ports:
        {{- if $v.listen.udp.enabled }}
        - name: turn-udp
          containerPort: {{ int $v.listen.udp.port }}
          protocol: UDP
        {{- end }}
        {{- if $v.listen.tcp.enabled }}
        - name: turn-tcp
          containerPort: {{ int $v.listen.tcp.port }}
          protocol: TCP
        {{- end }}
        {{- if $v.listen.tls.enabled }}
        - name: turn-tls
          containerPort: {{ int $v.listen.tls.port }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ int $v.metrics.port }}
          protocol: TCP
      livenessProbe:
        {{- include "turnstile.probe" (dict "root" $root "path" "/healthz" "probe" $v.probes.liveness) | nindent 8 }}
      readinessProbe:
        {{- include "turnstile.probe" (dict "root" $root "path" "/readyz" "probe" $v.probes.readiness) | nindent 8 }}
      {{- with $v.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        privileged: false
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
          {{- if and (hasKey $v.config "xdp") (ne (toString $v.config.xdp) "off") }}
          # TURNSTILE_XDP loads and attaches a BPF program (docs/xdp.md).
          add: ["NET_BIND_SERVICE", "BPF", "NET_ADMIN", "PERFMON"]
          {{- else }}
          add: ["NET_BIND_SERVICE"]
          {{- end }}
      volumeMounts:
        - name: auth
          mountPath: /etc/turnstile/auth
          readOnly: true
        {{- if include "turnstile.gatewayEnabled" $root }}
        - name: gateway
          mountPath: /etc/turnstile/gateway
          readOnly: true
        {{- end }}
        {{- if $v.listen.tls.enabled }}
        - name: tls
          mountPath: /etc/turnstile/tls
          readOnly: true
        {{- end }}
  volumes:
    # Whole-volume mounts (no subPath), so the kubelet keeps the files current and
    # a SIGHUP re-reads the new content.
    - name: auth
      secret:
        secretName: {{ include "turnstile.authSecretName" $root }}
        defaultMode: 288 # 0440: owner root, group fsGroup
    {{- if include "turnstile.gatewayEnabled" $root }}
    - name: gateway
      configMap:
        name: {{ include "turnstile.gatewayConfigMapName" $root }}
        items:
          - key: resources.json
            path: resources.json
    {{- end }}
    {{- if $v.listen.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ $v.listen.tls.certificateSecret }}
        defaultMode: 288 # 0440
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "turnstile.affinity" . | trim }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}
