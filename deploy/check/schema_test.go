package check

import (
	"strings"
	"testing"
)

// schemaRefusal is how helm starts the message when values.schema.json rejects values.
const schemaRefusal = "values don't meet the specifications of the schema"

// Each overlay is applied on top of the default values; the schema must refuse it,
// and the message must point at the offending value.
func TestSchemaRejectsWrongValues(t *testing.T) {
	cases := []struct {
		name, overlay, wantPath string
	}{
		{"negative port", "listen:\n  udp:\n    port: -1\n", "/listen/udp/port"},
		{"port above 65535", "metrics:\n  port: 70000\n", "/metrics/port"},
		{"privileged relay port range", "relay:\n  portRange:\n    min: 80\n", "/relay/portRange/min"},
		{"bad mode enum", "mode: StatefulSet\n", "/mode"},
		{"bad log level enum", "config:\n  logLevel: LOUD\n", "/config/logLevel"},
		{"bad xdp mode enum", "config:\n  xdp: fast\n", "/config/xdp"},
		{"bad metrics bind enum", "metrics:\n  bind: 0.0.0.0\n", "/metrics/bind"},
		{"unknown top-level key", "replicas: 3\n", "replicas"},
		{"unknown nested key", "listen:\n  udp:\n    address: 192.0.2.1\n", "address"},
		{"unknown config setting", "config:\n  relayThreads: 4\n", "relayThreads"},
		{"wrong type boolean", "hostNetwork: \"yes\"\n", "/hostNetwork"},
		{"wrong type integer", "drain:\n  timeoutSeconds: 30s\n", "/drain/timeoutSeconds"},
		{"wrong type list", "config:\n  peerDeny: 192.0.2.0/24\n", "/config/peerDeny"},
		{"root user", "securityContext:\n  runAsUser: 0\n", "/securityContext/runAsUser"},
		{"bad external IP", "relay:\n  nodeExternalIPs:\n    node-a: 300.1.1.1\n", "/relay/nodeExternalIPs/node-a"},
		{"bad node name", "relay:\n  nodeExternalIPs:\n    Node_A: 198.51.100.1\n", "Node_A"},
		{"bad CIDR", "config:\n  peerAllow: [\"10.0.0.0/33\"]\n", "/config/peerAllow/0"},
		{"bad duration", "config:\n  maxLifetime: 1 hour\n", "/config/maxLifetime"},
		{"address without port", "config:\n  alternateServers: [\"203.0.113.9\"]\n", "/config/alternateServers/0"},
		{"too many secrets", "auth:\n  secrets: [" + strings.Repeat("\"0123456789abcdef-x\",", 8) + "\"0123456789abcdef-y\"]\n", "/auth/secrets"},
		{"weak secret", "auth:\n  secrets: [\"short\"]\n", "/auth/secrets/0"},
		{"bad PDB percentage", "podDisruptionBudget:\n  minAvailable: 150%\n", "/podDisruptionBudget/minAvailable"},
		{"resource with domain and cidr", "gateway:\n  resources:\n    - {name: x, domain: a.internal, cidr: 10.0.0.0/8, users: [\"*\"]}\n", "/gateway/resources/0"},
		{"icmp filter with ports", "gateway:\n  resources:\n    - {name: x, domain: a.internal, users: [\"*\"], filters: [{protocol: icmp, ports: \"1\"}]}\n", "/gateway/resources/0/filters/0"},
		{"bad filter protocol", "gateway:\n  resources:\n    - {name: x, domain: a.internal, users: [\"*\"], filters: [{protocol: sctp}]}\n", "/gateway/resources/0/filters/0/protocol"},
		{"unknown env field", "extraEnv:\n  - {name: X, valu: y}\n", "valu"},
		{"bad image pull policy", "image:\n  pullPolicy: Sometimes\n", "/image/pullPolicy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := renderChart(t, writeValues(t, tc.overlay))
			if err == nil {
				t.Fatalf("helm accepted %q", tc.overlay)
			}
			if !strings.Contains(stderr, schemaRefusal) {
				t.Fatalf("helm refused %q, but not through the schema:\n%s", tc.overlay, stderr)
			}
			if !strings.Contains(stderr, tc.wantPath) {
				t.Errorf("schema error does not name %s:\n%s", tc.wantPath, stderr)
			}
		})
	}
}

// Good values pass the schema and render.
func TestSchemaAcceptsGoodValues(t *testing.T) {
	cases := []struct {
		name, overlay string
	}{
		{"IPv6 node addresses and listen family", "listen:\n  ipFamily: IPv6\nrelay:\n  nodeExternalIPs:\n    node-a.example.net: 2001:db8::1\n    node-b: 198.51.100.2\n"},
		{"every config setting", "config:\n  realm: turn.example.net\n  software: relay\n  logLevel: WARN\n  credentialMaxTTL: 1h30m\n  nonceLifetime: 600s\n  userQuota: 0\n  totalQuota: 100000\n  maxLifetime: 1h\n  maxPermissions: 10\n  peerAllow: [\"10.0.0.0/8\", \"fd00::/8\"]\n  peerDeny: []\n  tcpMaxConnections: 100\n  tcpMaxConnectionsPerSource: 20\n  tcpWriteBudget: 262144\n  tcpIdleTimeout: 30s\n  tcpMaxFrame: 65535\n  unauthRate: 0\n  unauthBurst: 50\n  udpOffload: false\n  xdp: native\n  alternateServers: [\"[2001:db8::5]:3478\"]\n"},
		{"TURN over TLS on 443", "listen:\n  tls:\n    enabled: true\n    port: 443\n    certificateSecret: relay-tls\n"},
		{"explicit secrets", "auth:\n  secrets: [\"0123456789abcdef-new\", \"0123456789abcdef-old\"]\n"},
		{"PDB minAvailable zero", "podDisruptionBudget:\n  minAvailable: 0\n"},
		{"deployment with percentage PDB", "mode: Deployment\npodDisruptionBudget:\n  maxUnavailable: 50%\nupdateStrategy:\n  type: Recreate\n"},
		{"OnDelete DaemonSet", "updateStrategy:\n  type: OnDelete\n"},
		{"resources with numbers", "resources:\n  requests:\n    cpu: 1.5\n    memory: 256Mi\n  limits:\n    cpu: \"4\"\n    memory: 1Gi\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest, stderr, err := renderChart(t, writeValues(t, tc.overlay))
			if err != nil {
				t.Fatalf("helm refused %q: %v\n%s", tc.overlay, err, stderr)
			}
			r := decodeManifest(t, manifest)
			if len(relayPods(r)) == 0 {
				t.Error("no relay workload rendered")
			}
		})
	}
}

// Rules that span several values are checked by the templates, and their failure
// names the values involved.
func TestTemplatesRejectInconsistentValues(t *testing.T) {
	cases := []struct {
		name, overlay, wantMessage string
	}{
		{"port range upside down", "relay:\n  portRange:\n    min: 60000\n    max: 50000\n", "relay.portRange: min must not be greater than max"},
		{"per-node addresses in Deployment mode", "mode: Deployment\nrelay:\n  nodeExternalIPs:\n    node-a: 198.51.100.1\n", "relay.nodeExternalIPs needs mode DaemonSet"},
		{"loopback metrics off the host network", "hostNetwork: false\n", "metrics.bind loopback needs hostNetwork"},
		{"ServiceMonitor on loopback", "metrics:\n  serviceMonitor:\n    enabled: true\n", "metrics.serviceMonitor.enabled needs metrics.bind podIP"},
		{"TLS without certificate", "listen:\n  tls:\n    enabled: true\n", "listen.tls.enabled needs listen.tls.certificateSecret"},
		{"no listener", "listen:\n  udp: {enabled: false, port: 3478}\n  tcp: {enabled: false, port: 3478}\n", "enable at least one of udp, tcp, tls"},
		{"TLS and TCP on one port", "listen:\n  tls: {enabled: true, port: 3478, certificateSecret: t}\n", "listen.tls.port and listen.tcp.port must differ"},
		{"metrics on a TURN port", "metrics:\n  port: 3478\n", "metrics.port must differ"},
		{"both secret sources", "auth:\n  secrets: [\"0123456789abcdef-x\"]\n  existingSecret: mine\n", "auth: set either secrets or existingSecret"},
		{"both resource sources", "gateway:\n  resources: [{name: x, domain: a.internal, users: [\"*\"]}]\n  existingConfigMap: mine\n", "gateway: set either resources or existingConfigMap"},
		{"both PDB bounds", "mode: Deployment\npodDisruptionBudget:\n  minAvailable: 1\n  maxUnavailable: 1\n", "set either minAvailable or maxUnavailable"},
		{"DaemonSet PDB maxUnavailable", "podDisruptionBudget:\n  maxUnavailable: 1\n", "in DaemonSet mode only an integer minAvailable"},
		{"DaemonSet PDB percentage", "podDisruptionBudget:\n  minAvailable: 90%\n", "in DaemonSet mode only an integer minAvailable"},
		{"DaemonSet Recreate", "updateStrategy:\n  type: Recreate\n", "updateStrategy.type Recreate is for mode Deployment"},
		{"Deployment OnDelete", "mode: Deployment\nupdateStrategy:\n  type: OnDelete\n", "updateStrategy.type OnDelete is for mode DaemonSet"},
		{"Recreate with rollingUpdate", "mode: Deployment\nupdateStrategy:\n  type: Recreate\n  rollingUpdate: {maxSurge: 1}\n", "updateStrategy.rollingUpdate applies only to type RollingUpdate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := renderChart(t, writeValues(t, tc.overlay))
			if err == nil {
				t.Fatalf("helm accepted %q", tc.overlay)
			}
			if !strings.Contains(stderr, tc.wantMessage) {
				t.Errorf("helm refused %q without saying %q:\n%s", tc.overlay, tc.wantMessage, stderr)
			}
		})
	}
}
