package netio_test

import (
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Example shows the shape of a relay loop goroutine: one Poller, one Batch,
// one ErrQueueEntry, level-triggered events, one batch per ready socket per
// Wait, and the error queue drained whenever a socket reports Error.
func Example() {
	relayed, err := netio.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netio.Options{RecvErr: true})
	if err != nil {
		log.Fatal(err)
	}
	defer relayed.Close()
	peer, err := netio.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netio.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()

	poller, err := netio.NewPoller()
	if err != nil {
		log.Fatal(err)
	}
	defer poller.Close()
	const token = 1 // the caller's handle for the allocation owning the socket
	if err := poller.Add(relayed, token); err != nil {
		log.Fatal(err)
	}

	var scratch netio.Scratch
	if err := peer.SendTo([]byte("hello"), relayed.LocalAddr(), &scratch); err != nil {
		log.Fatal(err)
	}

	// Headroom for a 4-byte ChannelData header written in place.
	batch, err := netio.NewBatch(32, 1500, 4)
	if err != nil {
		log.Fatal(err)
	}
	var entry netio.ErrQueueEntry
	events := make([]netio.Event, 64)
	for received := 0; received == 0; {
		n, err := poller.Wait(events, time.Second)
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			if ev.Error {
				for {
					ok, err := ev.Socket.ReadErrQueue(&entry)
					if err != nil || !ok {
						break
					}
					// RFC 8656 §11.5: check permissions for
					// entry.Destination, then send a Data indication.
				}
			}
			if !ev.Readable {
				continue
			}
			k, err := ev.Socket.RecvBatch(batch)
			var pending netio.PendingError
			switch {
			case errors.As(err, &pending), errors.Is(err, netio.ErrWouldBlock):
				continue // reported again by the next Wait
			case err != nil:
				log.Fatal(err)
			}
			for i := 0; i < k; i++ {
				if batch.Truncated(i) {
					continue // too large for the buffer: drop
				}
				fmt.Printf("token %d: %q from %v\n", ev.Token, batch.Data(i), batch.Addr(i).Addr())
				received++
			}
		}
	}
	// Output: token 1: "hello" from 127.0.0.1
}
