package check

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// nodeNameRequirement returns the metadata.name field requirement that every
// required node selector term of the pod carries, or nil when the terms differ or
// carry none. Terms are ORed, so a pin must be in each of them.
func nodeNameRequirement(t *testing.T, spec corev1.PodSpec) *corev1.NodeSelectorRequirement {
	t.Helper()
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	var found *corev1.NodeSelectorRequirement
	for i, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var inTerm *corev1.NodeSelectorRequirement
		for j := range term.MatchFields {
			if term.MatchFields[j].Key == "metadata.name" {
				inTerm = &term.MatchFields[j]
			}
		}
		if inTerm == nil {
			t.Errorf("node selector term %d has no metadata.name requirement", i)
			return nil
		}
		if found != nil && (found.Operator != inTerm.Operator || !slices.Equal(found.Values, inTerm.Values)) {
			t.Errorf("node selector terms pin differently: %+v and %+v", *found, *inTerm)
		}
		found = inTerm
	}
	return found
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// Nodes listed in relay.nodeExternalIPs get a DaemonSet of their own that is pinned
// to them and advertises their public address; the default DaemonSet stays off
// them; no two DaemonSets select the same pods.
func TestNodeExternalIPsPlacement(t *testing.T) {
	for _, sc := range renderScenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := decodeManifest(t, mustRender(t, sc.valuesFiles...))
			wantNodes := slices.Sorted(maps.Keys(sc.pods.nodeExternalIPs))
			pinned := map[string]*appsv1.DaemonSet{}
			var unpinned []*appsv1.DaemonSet
			for _, ds := range r.DaemonSets {
				req := nodeNameRequirement(t, ds.Spec.Template.Spec)
				switch {
				case req != nil && req.Operator == corev1.NodeSelectorOpIn && len(req.Values) == 1:
					pinned[req.Values[0]] = ds
				case len(wantNodes) == 0 && req == nil,
					req != nil && req.Operator == corev1.NodeSelectorOpNotIn && slices.Equal(req.Values, wantNodes):
					unpinned = append(unpinned, ds)
				default:
					t.Errorf("DaemonSet %s: node requirement %+v fits neither a pinned nor the default DaemonSet", ds.Name, req)
				}
			}
			if len(r.DaemonSets) > 0 && len(unpinned) != 1 {
				t.Errorf("want exactly one default DaemonSet, got %d", len(unpinned))
			}
			for _, ds := range unpinned {
				if v, ok := envValue(ds.Spec.Template.Spec.Containers[0], "TURNSTILE_EXTERNAL_IPS"); ok {
					t.Errorf("default DaemonSet advertises %q: only pinned nodes have an external address", v)
				}
			}
			if !slices.Equal(slices.Sorted(maps.Keys(pinned)), wantNodes) {
				t.Errorf("pinned DaemonSets for %v, want %v", slices.Sorted(maps.Keys(pinned)), wantNodes)
			}
			for node, ds := range pinned {
				got, _ := envValue(ds.Spec.Template.Spec.Containers[0], "TURNSTILE_EXTERNAL_IPS")
				if got != sc.pods.nodeExternalIPs[node] {
					t.Errorf("DaemonSet %s on %s advertises %q, want %q", ds.Name, node, got, sc.pods.nodeExternalIPs[node])
				}
			}
			for i, a := range r.DaemonSets {
				for _, b := range r.DaemonSets[i+1:] {
					if selects(a.Spec.Selector.MatchLabels, b.Spec.Template.Labels) || selects(b.Spec.Selector.MatchLabels, a.Spec.Template.Labels) {
						t.Errorf("DaemonSets %s and %s select each other's pods", a.Name, b.Name)
					}
				}
			}
		})
	}
}

// The objects around the relays point at each other correctly: the PDB and the
// metrics Service select every relay pod, the ServiceMonitor selects the Service
// and scrapes a port it has, and the chart's own Secret and ConfigMap hold what
// the pods read.
func TestObjectsReferToEachOther(t *testing.T) {
	for _, sc := range renderScenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := decodeManifest(t, mustRender(t, sc.valuesFiles...))
			pods := relayPods(r)
			for _, pdb := range r.PDBs {
				for _, p := range pods {
					if !selects(pdb.Spec.Selector.MatchLabels, p.template.Labels) {
						t.Errorf("PDB %s does not cover %s", pdb.Name, p.workload)
					}
				}
				if pdb.Spec.UnhealthyPodEvictionPolicy == nil {
					t.Errorf("PDB %s: want unhealthyPodEvictionPolicy so a broken relay never blocks a node drain", pdb.Name)
				}
			}
			for _, svc := range r.Services {
				for _, p := range pods {
					if !selects(svc.Spec.Selector, p.template.Labels) {
						t.Errorf("Service %s does not select %s", svc.Name, p.workload)
					}
					if !slices.ContainsFunc(p.template.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool {
						return cp.Name == svc.Spec.Ports[0].TargetPort.String()
					}) {
						t.Errorf("Service %s targets port %s, which %s does not declare", svc.Name, svc.Spec.Ports[0].TargetPort.String(), p.workload)
					}
				}
			}
			for _, sm := range r.ServiceMonitors {
				if len(r.Services) != 1 || !selects(sm.Spec.Selector.MatchLabels, r.Services[0].Labels) {
					t.Errorf("ServiceMonitor %s selects no metrics Service", sm.Name)
					continue
				}
				if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != r.Services[0].Spec.Ports[0].Name {
					t.Errorf("ServiceMonitor %s scrapes %+v, want the Service's port %s", sm.Name, sm.Spec.Endpoints, r.Services[0].Spec.Ports[0].Name)
				}
			}
			for _, secret := range r.Secrets {
				if secret.Name == sc.pods.authSecret && len(secret.Data["auth-secrets"]) < 16 {
					t.Errorf("Secret %s: auth-secrets holds %d bytes, want a real secret", secret.Name, len(secret.Data["auth-secrets"]))
				}
			}
			for _, cm := range r.ConfigMaps {
				var file struct {
					Resources []map[string]any `json:"resources"`
				}
				if err := json.Unmarshal([]byte(cm.Data["resources.json"]), &file); err != nil || len(file.Resources) == 0 {
					t.Errorf("ConfigMap %s: resources.json is not a resources document: %v", cm.Name, err)
				}
			}
		})
	}
}
