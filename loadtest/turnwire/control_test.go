package turnwire

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

func decode(t *testing.T, raw []byte) *stun.Message {
	t.Helper()
	m := &stun.Message{Raw: append([]byte(nil), raw...)}
	if err := m.Decode(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAllocateRequestUnauthenticated(t *testing.T) {
	req, err := AllocateRequest(NewAuth("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, req.Raw)
	if m.Type != stun.NewType(stun.MethodAllocate, stun.ClassRequest) || m.TransactionID != req.TransactionID {
		t.Fatalf("type %v", m.Type)
	}
	v, err := m.Get(stun.AttrRequestedTransport)
	if err != nil || len(v) != 4 || v[0] != 17 {
		t.Fatalf("REQUESTED-TRANSPORT %x, %v", v, err)
	}
	if m.Contains(stun.AttrMessageIntegrity) || m.Contains(stun.AttrUsername) {
		t.Fatal("unauthenticated request carries credentials")
	}
}

func TestRequestsCarryVerifiableIntegrity(t *testing.T) {
	auth := NewAuth("1735689600:alice", "secret")
	auth.Learn("example.org", "nonce-1")
	peer4 := netip.MustParseAddrPort("127.0.0.1:9000")
	peer6 := netip.MustParseAddrPort("[::1]:9000")
	build := map[string]func() (Request, error){
		"allocate":    func() (Request, error) { return AllocateRequest(auth) },
		"refresh":     func() (Request, error) { return RefreshRequest(auth, 0) },
		"permission":  func() (Request, error) { return CreatePermissionRequest(auth, peer4) },
		"bind v4":     func() (Request, error) { return ChannelBindRequest(auth, 0x4000, peer4) },
		"bind v6":     func() (Request, error) { return ChannelBindRequest(auth, 0x4FFF, peer6) },
		"permission6": func() (Request, error) { return CreatePermissionRequest(auth, peer6) },
	}
	for name, fn := range build {
		t.Run(name, func(t *testing.T) {
			req, err := fn()
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, req.Raw)
			if err := auth.Key().Check(m); err != nil {
				t.Fatalf("MESSAGE-INTEGRITY: %v", err)
			}
			var u stun.Username
			var r stun.Realm
			var n stun.Nonce
			if u.GetFrom(m) != nil || r.GetFrom(m) != nil || n.GetFrom(m) != nil {
				t.Fatal("missing USERNAME/REALM/NONCE")
			}
			if string(u) != auth.Username || string(r) != "example.org" || string(n) != "nonce-1" {
				t.Fatalf("credentials %q %q %q", u, r, n)
			}
			if v, err := m.Get(stun.AttrXORPeerAddress); err == nil {
				got, err := ParseXORAddr(v, &m.TransactionID)
				if err != nil || (got != peer4 && got != peer6) {
					t.Fatalf("XOR-PEER-ADDRESS %v, %v", got, err)
				}
			}
		})
	}
}

func TestChannelBindRejectsOutOfRangeChannel(t *testing.T) {
	for _, ch := range []uint16{0x3FFF, 0x5000, 0x7FFF} {
		if _, err := ChannelBindRequest(nil, ch, netip.MustParseAddrPort("127.0.0.1:1")); err == nil {
			t.Errorf("channel %#x accepted", ch)
		}
	}
}

func TestRefreshLifetime(t *testing.T) {
	req, err := RefreshRequest(nil, 600)
	if err != nil {
		t.Fatal(err)
	}
	v, err := decode(t, req.Raw).Get(stun.AttrLifetime)
	if err != nil || be.Uint32(v) != 600 {
		t.Fatalf("LIFETIME %x, %v", v, err)
	}
}

type rawXOR struct {
	t stun.AttrType
	a stun.XORMappedAddress
}

func (x rawXOR) AddTo(m *stun.Message) error { return x.a.AddToAs(m, x.t) }

func TestParseResponseSuccess(t *testing.T) {
	key := stun.NewLongTermIntegrity("u", "r", "p")
	lifetime := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 2, 0x58}}
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse),
		rawXOR{stun.AttrXORRelayedAddress, stun.XORMappedAddress{IP: []byte{127, 0, 0, 1}, Port: 50000}},
		rawXOR{stun.AttrXORMappedAddress, stun.XORMappedAddress{IP: []byte{127, 0, 0, 1}, Port: 40000}},
		lifetime, key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseResponse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 || r.Method != stun.MethodAllocate || r.TransactionID != m.TransactionID {
		t.Fatalf("code %d method %v", r.Code, r.Method)
	}
	if r.Relayed != netip.MustParseAddrPort("127.0.0.1:50000") || r.Mapped != netip.MustParseAddrPort("127.0.0.1:40000") {
		t.Fatalf("relayed %v mapped %v", r.Relayed, r.Mapped)
	}
	if !r.HasLifetime || r.Lifetime != 600 {
		t.Fatalf("lifetime %d", r.Lifetime)
	}
	if err := r.VerifyIntegrity(key); err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyIntegrity(stun.NewLongTermIntegrity("u", "r", "wrong")); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("wrong key: %v", err)
	}
	noMI, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassSuccessResponse))
	r2, err := ParseResponse(noMI.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.VerifyIntegrity(key); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("success without MESSAGE-INTEGRITY: %v", err)
	}
}

func TestParseResponseError(t *testing.T) {
	m, err := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse),
		stun.CodeUnauthorized, stun.NewRealm("example.org"), stun.NewNonce("abc"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseResponse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 401 || r.Realm != "example.org" || r.Nonce != "abc" {
		t.Fatalf("%+v", r)
	}
	if err := r.VerifyIntegrity(nil); err != nil {
		t.Fatalf("401 without MESSAGE-INTEGRITY must pass: %v", err)
	}
}

func TestParseResponseMalformed(t *testing.T) {
	errType := stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse)
	okType := stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse)
	tests := []struct {
		name    string
		setters []stun.Setter
	}{
		{"error without ERROR-CODE", []stun.Setter{errType}},
		{"short ERROR-CODE", []stun.Setter{errType, stun.RawAttribute{Type: stun.AttrErrorCode, Value: []byte{0, 0, 4}}}},
		{"ERROR-CODE class 7", []stun.Setter{errType, stun.RawAttribute{Type: stun.AttrErrorCode, Value: []byte{0, 0, 7, 1}}}},
		// pion/stun v2 panics on this one in GetFromAs; we must not.
		{"empty XOR-RELAYED-ADDRESS", []stun.Setter{okType, stun.RawAttribute{Type: stun.AttrXORRelayedAddress}}},
		{"short XOR-MAPPED-ADDRESS", []stun.Setter{okType, stun.RawAttribute{Type: stun.AttrXORMappedAddress, Value: []byte{0, 1, 0, 0, 1}}}},
		{"LIFETIME of 2 bytes", []stun.Setter{okType, stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 1}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := stun.Build(append([]stun.Setter{stun.TransactionID}, tc.setters...)...)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := ParseResponse(m.Raw); err == nil {
				t.Fatalf("accepted: %+v", r)
			}
		})
	}
	if _, err := ParseResponse([]byte{0x40, 0, 0, 0}); !errors.Is(err, ErrNotResponse) {
		t.Fatalf("channel data: %v", err)
	}
}
