package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podWant is what every relay pod of a scenario must look like.
type podWant struct {
	hostNetwork        bool
	ipv6               bool
	metricsLoopback    bool
	metricsPort        int32
	gracePeriodSeconds int64
	drainTimeout       string
	authSecret         string
	gateway            bool
	// listeners are the *_LISTEN variables the pod must set, and no others.
	listeners []string
	// nodeExternalIPs: node name → advertised address of its pinned DaemonSet.
	nodeExternalIPs map[string]string
}

// turnstileSettings are the variables turnstile reads (TURNSTILE_ + suffix).
var turnstileSettings = []string{
	"UDP_LISTEN", "TCP_LISTEN", "TLS_LISTEN", "TLS_CERT_FILE", "TLS_KEY_FILE", "REALM", "SOFTWARE",
	"AUTH_SECRETS", "AUTH_SECRETS_FILE", "USERS", "CREDENTIAL_MAX_TTL", "NONCE_LIFETIME", "RELAY_IPS",
	"EXTERNAL_IPS", "PORT_RANGE", "USER_QUOTA", "TOTAL_QUOTA", "MAX_LIFETIME", "MAX_PERMISSIONS",
	"PEER_ALLOW", "PEER_DENY", "TCP_MAX_CONNECTIONS", "TCP_MAX_CONNECTIONS_PER_SOURCE", "TCP_WRITE_BUDGET", "TCP_IDLE_TIMEOUT", "TCP_MAX_FRAME", "TCP_RELAY", "TCP_RELAY_CONNECT_TIMEOUT", "TCP_RELAY_MAX_PER_ALLOCATION",
	"TCP_RELAY_MAX_PER_USER", "TCP_RELAY_MAX_PENDING", "TCP_RELAY_IDLE_TIMEOUT", "UNAUTH_RATE", "UNAUTH_BURST", "UDP_OFFLOAD", "XDP",
	"LEGACY_CHANNELS", "LEGACY_DUAL_ALLOCATION", "LOG_LEVEL",
	"METRICS_LISTEN", "DRAIN_TIMEOUT", "ALTERNATE_SERVERS", "GATEWAY_RESOURCES_FILE", "GATEWAY_DNS",
	"GATEWAY_RESOLVER", "GATEWAY_PROXY_RANGES",
}

// relayPod is one pod template with the workload it belongs to.
type relayPod struct {
	workload string
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
}

func relayPods(r rendered) []relayPod {
	var pods []relayPod
	for _, ds := range r.DaemonSets {
		pods = append(pods, relayPod{"DaemonSet " + ds.Name, ds.Spec.Selector, ds.Spec.Template})
	}
	for _, d := range r.Deployments {
		pods = append(pods, relayPod{"Deployment " + d.Name, d.Spec.Selector, d.Spec.Template})
	}
	return pods
}

func TestRelayPods(t *testing.T) {
	for _, sc := range renderScenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := decodeManifest(t, mustRender(t, sc.valuesFiles...))
			pods := relayPods(r)
			if len(pods) == 0 {
				t.Fatal("no relay workload rendered")
			}
			for _, p := range pods {
				t.Run(p.workload, func(t *testing.T) {
					if !selects(p.selector.MatchLabels, p.template.Labels) {
						t.Errorf("selector %v does not select the template labels %v", p.selector.MatchLabels, p.template.Labels)
					}
					checkPodSecurity(t, p.template.Spec)
					checkPodNetwork(t, p.template.Spec, sc.pods)
					checkProbes(t, p.template.Spec.Containers[0], sc.pods)
					checkEnvironment(t, p.template.Spec, sc.pods)
				})
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func checkPodSecurity(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext must run as a non-root user: %+v", psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Errorf("pod seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the relay needs no Kubernetes API token: automountServiceAccountToken must be false")
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "turnstile" {
		t.Fatalf("want exactly the turnstile container, got %d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("args = %q, want [serve]", c.Args)
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container securityContext missing")
	}
	for name, ok := range map[string]bool{
		"runAsNonRoot":                   sc.RunAsNonRoot != nil && *sc.RunAsNonRoot,
		"privileged false":               sc.Privileged != nil && !*sc.Privileged,
		"allowPrivilegeEscalation false": sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		"readOnlyRootFilesystem":         sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
	} {
		if !ok {
			t.Errorf("container securityContext: want %s", name)
		}
	}
	// The XDP fast path loads and attaches a BPF program: only then does
	// the container get the capabilities for it.
	wantAdd := []corev1.Capability{"NET_BIND_SERVICE"}
	for _, e := range c.Env {
		if e.Name == "TURNSTILE_XDP" && e.Value != "off" {
			wantAdd = append(wantAdd, "BPF", "NET_ADMIN", "PERFMON")
		}
	}
	if sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!slices.Equal(sc.Capabilities.Add, wantAdd) {
		t.Errorf("capabilities = %+v, want drop [ALL] add %v", sc.Capabilities, wantAdd)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		t.Error("container has no memory request")
	}
}

func checkPodNetwork(t *testing.T, spec corev1.PodSpec, want podWant) {
	t.Helper()
	if spec.HostNetwork != want.hostNetwork {
		t.Errorf("hostNetwork = %v, want %v", spec.HostNetwork, want.hostNetwork)
	}
	wantDNS := corev1.DNSClusterFirst
	if want.hostNetwork {
		wantDNS = corev1.DNSClusterFirstWithHostNet
	}
	if spec.DNSPolicy != wantDNS {
		t.Errorf("dnsPolicy = %q, want %q", spec.DNSPolicy, wantDNS)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("terminationGracePeriodSeconds unset, want %d (drain timeout + margin)", want.gracePeriodSeconds)
	} else if got := *spec.TerminationGracePeriodSeconds; got != want.gracePeriodSeconds {
		t.Errorf("terminationGracePeriodSeconds = %d, want %d (drain timeout + margin)", got, want.gracePeriodSeconds)
	}
}

func checkProbes(t *testing.T, c corev1.Container, want podWant) {
	t.Helper()
	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if probe.probe == nil || probe.probe.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET", probe.name)
			continue
		}
		get := probe.probe.HTTPGet
		if get.Path != probe.path || get.Port.IntValue() != int(want.metricsPort) {
			t.Errorf("%s probe = GET %s on port %s, want %s on %d", probe.name, get.Path, get.Port.String(), probe.path, want.metricsPort)
		}
		wantHost := ""
		if want.metricsLoopback {
			wantHost = "127.0.0.1"
		}
		if get.Host != wantHost {
			t.Errorf("%s probe host = %q, want %q", probe.name, get.Host, wantHost)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == "metrics" && p.ContainerPort == want.metricsPort
	}) {
		t.Errorf("no container port named metrics on %d", want.metricsPort)
	}
}

var (
	// Listen addresses built from the pod IP, e.g. $(POD_IP):3478 or [$(POD_IP)]:3478.
	podAddressV4 = regexp.MustCompile(`^\$\(POD_IP\):[0-9]+$`)
	podAddressV6 = regexp.MustCompile(`^\[\$\(POD_IP\)\]:[0-9]+$`)
	// envReference is Kubernetes' $(NAME) reference to another variable.
	envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
)

func checkEnvironment(t *testing.T, spec corev1.PodSpec, want podWant) {
	t.Helper()
	c := spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("environment variable %s set twice", e.Name)
		}
		// Kubernetes expands $(NAME) only for variables defined earlier in the list.
		for _, ref := range envReference.FindAllStringSubmatch(e.Value, -1) {
			if _, ok := env[ref[1]]; !ok {
				t.Errorf("%s refers to $(%s), which is not defined before it", e.Name, ref[1])
			}
		}
		env[e.Name] = e.Value
		if suffix, ok := strings.CutPrefix(e.Name, "TURNSTILE_"); ok && !slices.Contains(turnstileSettings, suffix) {
			t.Errorf("%s is not a turnstile setting", e.Name)
		}
	}
	addressPattern := podAddressV4
	if want.ipv6 {
		addressPattern = podAddressV6
	}
	for _, name := range []string{"TURNSTILE_UDP_LISTEN", "TURNSTILE_TCP_LISTEN", "TURNSTILE_TLS_LISTEN"} {
		value, set := env[name]
		if set != slices.Contains(want.listeners, name) {
			t.Errorf("%s set = %v, want %v", name, set, !set)
		}
		if set && !addressPattern.MatchString(value) {
			t.Errorf("%s = %q, want the pod IP and a port", name, value)
		}
	}
	wantMetrics := fmt.Sprintf("127.0.0.1:%d", want.metricsPort)
	switch {
	case !want.metricsLoopback && want.ipv6:
		wantMetrics = fmt.Sprintf("[$(POD_IP)]:%d", want.metricsPort)
	case !want.metricsLoopback:
		wantMetrics = fmt.Sprintf("$(POD_IP):%d", want.metricsPort)
	}
	for name, value := range map[string]string{
		"TURNSTILE_RELAY_IPS":      "$(POD_IP)",
		"TURNSTILE_METRICS_LISTEN": wantMetrics,
		"TURNSTILE_DRAIN_TIMEOUT":  want.drainTimeout,
	} {
		if env[name] != value {
			t.Errorf("%s = %q, want %q", name, env[name], value)
		}
	}
	if _, set := env["TURNSTILE_GATEWAY_RESOURCES_FILE"]; set != want.gateway {
		t.Errorf("TURNSTILE_GATEWAY_RESOURCES_FILE set = %v, want %v", set, want.gateway)
	}
	checkFilesAreMounted(t, spec, env, want)
}

// checkFilesAreMounted: every *_FILE variable names a file inside a read-only
// mount, and the auth secrets come from the expected Secret.
func checkFilesAreMounted(t *testing.T, spec corev1.PodSpec, env map[string]string, want podWant) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for name, path := range env {
		if !strings.HasSuffix(name, "_FILE") {
			continue
		}
		i := slices.IndexFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
			return strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		})
		if i < 0 {
			t.Errorf("%s = %s is not inside any volume mount", name, path)
			continue
		}
		mount := spec.Containers[0].VolumeMounts[i]
		if !mount.ReadOnly || mount.SubPath != "" {
			t.Errorf("mount %s must be read-only and without subPath (subPath files never update)", mount.Name)
		}
		volume, ok := volumes[mount.Name]
		if !ok {
			t.Errorf("mount %s has no volume", mount.Name)
			continue
		}
		if name == "TURNSTILE_AUTH_SECRETS_FILE" && (volume.Secret == nil || volume.Secret.SecretName != want.authSecret) {
			t.Errorf("auth secrets volume = %+v, want Secret %s", volume.VolumeSource, want.authSecret)
		}
	}
}
