package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// iceServer is one RTCIceServer dictionary (W3C WebRTC §4.2.1).
type iceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

// iceConfig is the document ICEServersJSON writes.
type iceConfig struct {
	ICEServers []iceServer `json:"iceServers"`
	TTL        int64       `json:"ttl"`
}

// ICEServersJSON renders a credential as the JSON a WebRTC application passes
// (its iceServers member) to new RTCPeerConnection:
//
//	{"iceServers":[{"urls":["turn:relay.example.org:3478?transport=udp"],
//	                "username":"1735689600:alice",
//	                "credential":"6AmlpAi3znmsNtZfJBPAOL2sUL0="}],
//	 "ttl":86400}
//
// urls are STUN/TURN URIs (RFC 7064, RFC 7065): each must start with stun:,
// stuns:, turn: or turns:. ttl is written in whole seconds, as in the TURN
// REST API response, so the application knows when to fetch a new credential.
// The returned slice is newly allocated; urls is not retained.
func ICEServersJSON(urls []string, username, password string, ttl time.Duration) ([]byte, error) {
	if len(urls) == 0 {
		return nil, errors.New("auth: ICEServersJSON needs at least one URL")
	}
	for _, u := range urls {
		if !hasICEScheme(u) {
			return nil, fmt.Errorf("auth: ICE server URL %q must start with stun:, stuns:, turn: or turns:", u)
		}
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("auth: ICE server ttl %v must be at least 1s", ttl)
	}
	doc := iceConfig{
		ICEServers: []iceServer{{
			URLs:       append([]string(nil), urls...),
			Username:   username,
			Credential: password,
		}},
		TTL: int64(ttl / time.Second),
	}
	return json.Marshal(doc)
}

func hasICEScheme(u string) bool {
	for _, scheme := range []string{"stun:", "stuns:", "turn:", "turns:"} {
		if len(u) > len(scheme) && strings.EqualFold(u[:len(scheme)], scheme) {
			return true
		}
	}
	return false
}
