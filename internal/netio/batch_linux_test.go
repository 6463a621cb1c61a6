package netio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelLayouts pins the structure sizes this package hands to the
// kernel by hand.
func TestKernelLayouts(t *testing.T) {
	msghdr := unsafe.Sizeof(unix.Msghdr{})
	tests := []struct {
		name      string
		got, want uintptr
	}{
		// struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; },
		// padded to the alignment of msghdr (that of a pointer).
		{"sizeof(mmsghdr)", unsafe.Sizeof(mmsghdr{}), (msghdr + 4 + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)},
		{"offsetof(mmsghdr.msg_len)", unsafe.Offsetof(mmsghdr{}.n), msghdr},
		{"sizeof(sock_extended_err)", unsafe.Sizeof(unix.SockExtendedErr{}), sizeofSockExtendedErr},
		{"sizeof(sockaddr_in6)", unsafe.Sizeof(sockaddrBytes{}), unix.SizeofSockaddrInet6},
	}
	if unix.SizeofPtr == 8 {
		tests = append(tests, struct {
			name      string
			got, want uintptr
		}{"sizeof(mmsghdr) on 64-bit", unsafe.Sizeof(mmsghdr{}), 64})
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestNewBatchValidation(t *testing.T) {
	tests := []struct {
		n, size, headroom int
		wantErr           string // substring naming the argument, "" for success
	}{
		{1, 1, 0, ""},
		{32, 1500, 36, ""},
		{MaxBatch, 16, MaxHeadroom, ""},
		{4, MaxDatagram, 4, ""},
		{0, 100, 0, "n must be"},
		{-1, 100, 0, "n must be"},
		{MaxBatch + 1, 100, 0, "n must be"},
		{1, 0, 0, "size must be"},
		{1, MaxDatagram + 1, 0, "size must be"},
		{1, 100, -1, "headroom must be"},
		{1, 100, MaxHeadroom + 1, "headroom must be"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d/%d", tc.n, tc.size, tc.headroom), func(t *testing.T) {
			b, err := NewBatch(tc.n, tc.size, tc.headroom)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewBatch error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != tc.n || b.Size() != tc.size || b.Headroom() != tc.headroom {
				t.Fatalf("Len, Size, Headroom = %d, %d, %d", b.Len(), b.Size(), b.Headroom())
			}
			for _, i := range []int{0, tc.n - 1} {
				buf := b.Buffer(i)
				if want := tc.headroom + tc.size + PadRoom; len(buf) != want || cap(buf) != want {
					t.Fatalf("Buffer(%d) len %d cap %d, want %d", i, len(buf), cap(buf), want)
				}
			}
		})
	}
}

func TestSetDataBounds(t *testing.T) {
	b := newBatch(t, 2, 10, 4) // buffers of 4+10+3 = 17 bytes
	tests := []struct {
		start, length int
		ok            bool
	}{
		{0, 0, true},
		{0, 17, true},
		{4, 10, true},
		{17, 0, true},
		{16, 1, true},
		{16, 2, false},
		{18, 0, false},
		{-1, 1, false},
		{0, -1, false},
		{1, int(^uint(0) >> 1), false}, // start+length overflows
	}
	for _, tc := range tests {
		if err := b.SetData(1, 4, 3); err != nil {
			t.Fatal(err)
		}
		err := b.SetData(1, tc.start, tc.length)
		if tc.ok != (err == nil) {
			t.Errorf("SetData(%d, %d) = %v, want ok=%v", tc.start, tc.length, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrBounds) {
				t.Errorf("SetData(%d, %d) = %v, want ErrBounds", tc.start, tc.length, err)
			}
			if got := len(b.Data(1)); got != 3 {
				t.Errorf("failed SetData changed the range: len %d", got)
			}
			continue
		}
		if got := len(b.Data(1)); got != tc.length {
			t.Errorf("SetData(%d, %d): len(Data) = %d", tc.start, tc.length, got)
		}
	}
}

// TestBatchRoundTrip sends batches from two sockets to three and checks
// that every datagram arrives once with its source, at the headroom offset,
// and that the headroom is left alone.
func TestBatchRoundTrip(t *testing.T) {
	const headroom = 36
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			senders := []*Socket{listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})}
			receivers := []*Socket{listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})}
			want := map[netip.AddrPort][]string{} // receiver -> "sender payload"
			for si, s := range senders {
				out := newBatch(t, 8, 64, headroom)
				for i := 0; i < out.Len(); i++ {
					r := receivers[i%len(receivers)]
					payload := fmt.Sprintf("s%d-m%d-%s", si, i, strings.Repeat("x", i*3))
					if i == 5 {
						payload = "" // zero-length datagrams are legal
					}
					n := copy(out.Buffer(i)[headroom:], payload)
					if err := out.SetData(i, headroom, n); err != nil {
						t.Fatal(err)
					}
					out.SetAddr(i, r.LocalAddr())
					want[r.LocalAddr()] = append(want[r.LocalAddr()], s.LocalAddr().String()+" "+payload)
				}
				if n, err := s.SendBatch(out, out.Len()); n != out.Len() || err != nil {
					t.Fatalf("SendBatch = %d, %v", n, err)
				}
			}
			for _, r := range receivers {
				in := newBatch(t, 4, 64, headroom)
				for i := 0; i < in.Len(); i++ {
					copy(in.Buffer(i), bytes.Repeat([]byte{0xAA}, headroom))
				}
				data, from := recvN(t, r, in, len(want[r.LocalAddr()]))
				var got []string
				for i := range data {
					got = append(got, from[i].String()+" "+data[i])
				}
				slices.Sort(got)
				slices.Sort(want[r.LocalAddr()])
				if !slices.Equal(got, want[r.LocalAddr()]) {
					t.Errorf("receiver %v got\n%q\nwant\n%q", r.LocalAddr(), got, want[r.LocalAddr()])
				}
				for i := 0; i < in.Len(); i++ {
					if !bytes.Equal(in.Buffer(i)[:headroom], bytes.Repeat([]byte{0xAA}, headroom)) {
						t.Errorf("message %d: headroom overwritten", i)
					}
				}
			}
		})
	}
}

// TestDataLandsAtHeadroom checks the data slice is the buffer at offset
// Headroom(), so a header can be written in front of it in place.
func TestDataLandsAtHeadroom(t *testing.T) {
	const headroom = 4
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, b := listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})
			var scratch Scratch
			if err := a.SendTo([]byte("payload"), b.LocalAddr(), &scratch); err != nil {
				t.Fatal(err)
			}
			in := newBatch(t, 2, 100, headroom)
			recvN(t, b, in, 1)
			if &in.Data(0)[0] != &in.Buffer(0)[headroom] {
				t.Fatal("Data(0) does not start at Buffer(0)[headroom]")
			}
			if in.Addr(0) != a.LocalAddr() {
				t.Fatalf("source %v, want %v", in.Addr(0), a.LocalAddr())
			}
		})
	}
}

// TestForwardInPlace is the relay's peer-to-client path: receive at the
// headroom, write a 4-byte ChannelData header in front, send the same
// message on without copying the payload.
func TestForwardInPlace(t *testing.T) {
	const headroom = 4
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			peer, relay, client := listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})
			var scratch Scratch
			for _, p := range []string{"one", "two!", ""} {
				if err := peer.SendTo([]byte(p), relay.LocalAddr(), &scratch); err != nil {
					t.Fatal(err)
				}
			}
			b := newBatch(t, 8, 1500, headroom)
			data, _ := recvN(t, relay, b, 3)
			if len(data) != 3 {
				t.Fatalf("got %d datagrams in one batch, want 3", len(data))
			}
			for i := 0; i < 3; i++ {
				n := len(b.Data(i))
				hdr := b.Buffer(i)[headroom-4 : headroom]
				hdr[0], hdr[1], hdr[2], hdr[3] = 0x40, 0x00, byte(n>>8), byte(n)
				if err := b.SetData(i, headroom-4, n+4); err != nil {
					t.Fatal(err)
				}
				b.SetAddr(i, client.LocalAddr())
			}
			if n, err := relay.SendBatch(b, 3); n != 3 || err != nil {
				t.Fatalf("SendBatch = %d, %v", n, err)
			}
			got, _ := recvN(t, client, newBatch(t, 8, 1500, 0), 3)
			want := []string{"\x40\x00\x00\x03one", "\x40\x00\x00\x04two!", "\x40\x00\x00\x00"}
			if !slices.Equal(got, want) {
				t.Fatalf("client got %q, want %q", got, want)
			}
		})
	}
}

func TestRecvTruncated(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			a, b := listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})
			var scratch Scratch
			long := strings.Repeat("L", 40)
			exact := strings.Repeat("E", 16)
			for _, p := range []string{long, exact} {
				if err := a.SendTo([]byte(p), b.LocalAddr(), &scratch); err != nil {
					t.Fatal(err)
				}
			}
			in := newBatch(t, 4, 16, 8)
			p := newPoller(t)
			if err := p.Add(b, 7); err != nil {
				t.Fatal(err)
			}
			waitFor(t, p, 7, waitTimeout, isReadable)
			var got []string
			var truncated []bool
			for len(got) < 2 {
				n, err := b.RecvBatch(in)
				if errors.Is(err, ErrWouldBlock) {
					waitFor(t, p, 7, waitTimeout, isReadable)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i++ {
					got = append(got, string(in.Data(i)))
					truncated = append(truncated, in.Truncated(i))
				}
			}
			if !slices.Equal(got, []string{long[:16], exact}) || !slices.Equal(truncated, []bool{true, false}) {
				t.Fatalf("got %q truncated %v", got, truncated)
			}
		})
	}
}

func TestRecvWouldBlockAndClosed(t *testing.T) {
	s, err := ListenUDP(any4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(t, 4, 100, 0)
	if n, err := s.RecvBatch(b); n != 0 || !errors.Is(err, ErrWouldBlock) || !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("RecvBatch on an empty socket = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var scratch Scratch
	var entry ErrQueueEntry
	if n, err := s.RecvBatch(b); n != 0 || !errors.Is(err, ErrClosed) {
		t.Errorf("RecvBatch after Close = %d, %v", n, err)
	}
	b.SetAddr(0, any4)
	if n, err := s.SendBatch(b, 1); n != 0 || !errors.Is(err, ErrClosed) {
		t.Errorf("SendBatch after Close = %d, %v", n, err)
	}
	if err := s.SendTo(nil, netip.MustParseAddrPort("127.0.0.1:9"), &scratch); !errors.Is(err, ErrClosed) {
		t.Errorf("SendTo after Close = %v", err)
	}
	if ok, err := s.ReadErrQueue(&entry); ok || !errors.Is(err, ErrClosed) {
		t.Errorf("ReadErrQueue after Close = %v, %v", ok, err)
	}
}

// TestBatchReuse drives one Batch through a random mix of receives of
// various counts and sends of some of its messages, the way a relay loop
// reuses its batch, and checks every datagram against what was sent:
// receives reset only the headers that an earlier receive or send changed,
// so a header left stale would show up here as a wrong length, source or
// truncation flag.
func TestBatchReuse(t *testing.T) {
	const headroom, slots = 8, 6
	rng := rand.New(rand.NewPCG(6, 8))
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			senders := []*Socket{listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})}
			hub, sink := listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{})
			b := newBatch(t, slots, 64, headroom)
			sinkBatch := newBatch(t, slots, 128, 0)
			var scratch Scratch
			for step := 0; step < 60; step++ {
				count := 1 + rng.IntN(slots)
				var want []string
				for i := 0; i < count; i++ {
					s := senders[rng.IntN(len(senders))]
					// Lengths up to 70 bytes, some above the 64-byte
					// receive area so truncation is exercised too.
					p := strings.Repeat(string(rune('a'+step%26)), rng.IntN(71))
					if err := s.SendTo([]byte(p), hub.LocalAddr(), &scratch); err != nil {
						t.Fatal(err)
					}
					want = append(want, fmt.Sprintf("%v %d %t", s.LocalAddr(), min(len(p), 64), len(p) > 64))
				}
				var got []string
				for len(got) < count {
					n := recvSome(t, hub, b)
					for i := 0; i < n; i++ {
						got = append(got, fmt.Sprintf("%v %d %t", b.Addr(i), len(b.Data(i)), b.Truncated(i)))
					}
					if rng.IntN(2) == 0 {
						// Forward a prefix of the batch, with a header
						// written into the headroom as the relay does: what
						// arrived, and messages beyond it filled here.
						m := 1 + rng.IntN(slots)
						for i := 0; i < m; i++ {
							size := len(b.Data(i))
							if i >= n {
								size = copy(b.Buffer(i)[headroom:], strings.Repeat("z", 1+rng.IntN(20)))
							}
							if err := b.SetData(i, headroom-4, size+4); err != nil {
								t.Fatal(err)
							}
							b.SetAddr(i, sink.LocalAddr())
						}
						if sent, err := hub.SendBatch(b, m); sent != m || err != nil {
							t.Fatalf("step %d: SendBatch = %d, %v", step, sent, err)
						}
						recvN(t, sink, sinkBatch, m)
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: got %q, want %q", step, got, want)
				}
			}
		})
	}
}

// recvSome receives at least one datagram into b, waiting up to two
// seconds, and returns how many.
func recvSome(t *testing.T, s *Socket, b *Batch) int {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		n, err := s.RecvBatch(b)
		if err == nil {
			return n
		}
		if !errors.Is(err, ErrWouldBlock) || time.Now().After(deadline) {
			t.Fatalf("RecvBatch: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
