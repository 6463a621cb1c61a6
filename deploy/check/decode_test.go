package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// apiTypes maps "apiVersion/kind" to a constructor of the Go API type the object
// must decode into. A kind the chart renders but this table lacks is an error.
var apiTypes = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"apps/v1/DaemonSet":                       func() any { return &appsv1.DaemonSet{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// rendered is the chart's output, decoded.
type rendered struct {
	DaemonSets      []*appsv1.DaemonSet
	Deployments     []*appsv1.Deployment
	Secrets         []*corev1.Secret
	ConfigMaps      []*corev1.ConfigMap
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	PDBs            []*policyv1.PodDisruptionBudget
	ServiceMonitors []*monitoringv1.ServiceMonitor
	// Kinds counts the objects by "apiVersion/kind".
	Kinds map[string]int
}

// decodeStrict decodes one rendered document into its API type, refusing unknown
// and duplicate fields and values of the wrong type.
// It returns the object and its "apiVersion/kind".
func decodeStrict(doc []byte) (obj any, kind string, err error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, "", fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	kind = meta.APIVersion + "/" + meta.Kind
	newObject, ok := apiTypes[kind]
	if !ok {
		return nil, kind, fmt.Errorf("no API type known for apiVersion %q kind %q", meta.APIVersion, meta.Kind)
	}
	obj = newObject()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, kind, fmt.Errorf("%s: %w", kind, err)
	}
	return obj, kind, nil
}

// decodeManifest decodes every document of a rendered manifest strictly; each
// failure is a test error naming the template it came from.
func decodeManifest(t testing.TB, manifest string) rendered {
	t.Helper()
	out := rendered{Kinds: map[string]int{}}
	for _, doc := range splitDocuments(t, manifest) {
		obj, kind, err := decodeStrict(doc)
		if err != nil {
			t.Errorf("%s: %v", sourceOf(doc), err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			out.DaemonSets = append(out.DaemonSets, o)
		case *appsv1.Deployment:
			out.Deployments = append(out.Deployments, o)
		case *corev1.Secret:
			out.Secrets = append(out.Secrets, o)
		case *corev1.ConfigMap:
			out.ConfigMaps = append(out.ConfigMaps, o)
		case *corev1.Service:
			out.Services = append(out.Services, o)
		case *corev1.ServiceAccount:
			out.ServiceAccounts = append(out.ServiceAccounts, o)
		case *policyv1.PodDisruptionBudget:
			out.PDBs = append(out.PDBs, o)
		case *monitoringv1.ServiceMonitor:
			out.ServiceMonitors = append(out.ServiceMonitors, o)
		}
		out.Kinds[kind]++
	}
	return out
}

// The strict decoder must refuse what a lenient one would silently accept;
// otherwise the chart tests below would prove nothing.
func TestDecodeStrictRefusesMalformedObjects(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
	}{
		{"unknown field", "apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostNetwrok: true\n", "unknown field"},
		{"duplicate field", "apiVersion: v1\nkind: Secret\ntype: Opaque\ntype: Opaque\n", "already set"},
		{"wrong type", "apiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: \"9464\"\n", "cannot unmarshal"},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          resources:\n            limits:\n              memory: lots\n", "quantities must match"},
		{"unknown kind", "apiVersion: apps/v1\nkind: StatefulSet\n", "no API type known"},
		{"misplaced version", "apiVersion: extensions/v1beta1\nkind: DaemonSet\n", "no API type known"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeStrict([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("decodeStrict error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// renderScenario describes one set of values and what the chart renders for it.
type renderScenario struct {
	name        string
	valuesFiles []string
	wantKinds   map[string]int
	pods        podWant
}

var renderScenarios = []renderScenario{
	{
		name: "default values",
		wantKinds: map[string]int{
			"apps/v1/DaemonSet": 1, "v1/Secret": 1, "v1/ServiceAccount": 1, "policy/v1/PodDisruptionBudget": 1,
		},
		pods: podWant{
			hostNetwork: true, metricsLoopback: true, metricsPort: 9464,
			gracePeriodSeconds: 45, drainTimeout: "30s", authSecret: "turnstile-auth",
			listeners: []string{"TURNSTILE_UDP_LISTEN", "TURNSTILE_TCP_LISTEN"},
		},
	},
	{
		name:        "bare-metal example",
		valuesFiles: []string{bareMetalExample},
		wantKinds: map[string]int{
			"apps/v1/DaemonSet": 3, "v1/ServiceAccount": 1, "policy/v1/PodDisruptionBudget": 1,
			"v1/Service": 1, "monitoring.coreos.com/v1/ServiceMonitor": 1,
		},
		pods: podWant{
			hostNetwork: true, metricsPort: 9464,
			gracePeriodSeconds: 330, drainTimeout: "300s", authSecret: "turnstile-rest-secrets",
			listeners:       []string{"TURNSTILE_UDP_LISTEN", "TURNSTILE_TCP_LISTEN", "TURNSTILE_TLS_LISTEN"},
			nodeExternalIPs: map[string]string{"edge-fra-07": "198.51.100.17", "edge-fra-08": "198.51.100.18"},
		},
	},
	{
		name:        "XDP fast path",
		valuesFiles: []string{xdpValues},
		wantKinds: map[string]int{
			"apps/v1/DaemonSet": 1, "v1/Secret": 1, "v1/ServiceAccount": 1, "policy/v1/PodDisruptionBudget": 1,
		},
		pods: podWant{
			hostNetwork: true, metricsLoopback: true, metricsPort: 9464,
			gracePeriodSeconds: 45, drainTimeout: "30s", authSecret: "turnstile-auth",
			listeners: []string{"TURNSTILE_UDP_LISTEN", "TURNSTILE_TCP_LISTEN"},
		},
	},
	{
		name:        "deployment with gateway, TLS and IPv6",
		valuesFiles: []string{deploymentValues},
		wantKinds: map[string]int{
			"apps/v1/Deployment": 1, "v1/Secret": 1, "v1/ConfigMap": 1,
			"policy/v1/PodDisruptionBudget": 1, "v1/Service": 1, "monitoring.coreos.com/v1/ServiceMonitor": 1,
		},
		pods: podWant{
			ipv6: true, metricsPort: 9100,
			gracePeriodSeconds: 140, drainTimeout: "120s", authSecret: "turnstile-auth",
			listeners: []string{"TURNSTILE_UDP_LISTEN", "TURNSTILE_TLS_LISTEN"},
			gateway:   true,
		},
	},
}

func TestRenderedObjectsDecodeStrictly(t *testing.T) {
	for _, sc := range renderScenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := decodeManifest(t, mustRender(t, sc.valuesFiles...))
			if !maps.Equal(got.Kinds, sc.wantKinds) {
				t.Errorf("rendered kinds = %v, want %v", sortedCounts(got.Kinds), sortedCounts(sc.wantKinds))
			}
		})
	}
}

func sortedCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
