package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestICEServersJSON(t *testing.T) {
	urls := []string{"turn:relay.example.org:3478?transport=udp", "turns:relay.example.org:5349?transport=tcp", "stun:relay.example.org"}
	got, err := ICEServersJSON(urls, "1735689600:alice", "6AmlpAi3znmsNtZfJBPAOL2sUL0=", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"iceServers":[{"urls":["turn:relay.example.org:3478?transport=udp","turns:relay.example.org:5349?transport=tcp","stun:relay.example.org"],` +
		`"username":"1735689600:alice","credential":"6AmlpAi3znmsNtZfJBPAOL2sUL0="}],"ttl":86400}`
	if string(got) != want {
		t.Fatalf("ICEServersJSON =\n%s\nwant\n%s", got, want)
	}
	var round struct {
		ICEServers []struct {
			URLs       []string `json:"urls"`
			Username   string   `json:"username"`
			Credential string   `json:"credential"`
		} `json:"iceServers"`
		TTL int `json:"ttl"`
	}
	if err := json.Unmarshal(got, &round); err != nil || len(round.ICEServers) != 1 || round.ICEServers[0].Username != "1735689600:alice" {
		t.Fatalf("output does not round-trip: %+v, %v", round, err)
	}
}

func TestICEServersJSONEscapes(t *testing.T) {
	got, err := ICEServersJSON([]string{"TURN:h"}, "a\"b</script>", "p", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "</script>") || !json.Valid(got) {
		t.Fatalf("unsafe or invalid JSON: %s", got)
	}
}

func TestICEServersJSONRejects(t *testing.T) {
	tests := []struct {
		name string
		urls []string
		ttl  time.Duration
		want string
	}{
		{"no urls", nil, time.Hour, "at least one URL"},
		{"http url", []string{"https://relay.example.org"}, time.Hour, "must start with"},
		{"bare scheme", []string{"turn:"}, time.Hour, "must start with"},
		{"one bad among good", []string{"turn:a", "relay.example.org"}, time.Hour, "must start with"},
		{"zero ttl", []string{"turn:a"}, 0, "ttl"},
		{"sub-second ttl", []string{"turn:a"}, time.Millisecond, "ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ICEServersJSON(tc.urls, "u", "p", tc.ttl)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
