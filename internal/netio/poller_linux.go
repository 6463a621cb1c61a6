package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event is one readiness report from Poller.Wait.
type Event struct {
	// Token is the value given to Add for this registration.
	Token uint64
	// Socket is the registered socket. It may have been closed since;
	// its methods then return ErrClosed.
	Socket BatchSocket
	// Readable: datagrams are queued (EPOLLIN), or the socket was shut
	// down (EPOLLHUP); RecvBatch will not return ErrWouldBlock at once.
	Readable bool
	// Error: the socket has a pending error or a non-empty error queue
	// (EPOLLERR). Drain it with ReadErrQueue until it returns false.
	Error bool
}

// slot is one entry of a Poller's registration table. gen changes every
// time the slot is reused, so the epoll key of a removed registration never
// matches a later one in the same slot.
type slot struct {
	sock  *Socket
	token uint64
	gen   uint32
	live  bool
}

// membership is a Socket's record of the Poller slot it holds, guarded by
// the Socket's mu. It may name a Poller that has since closed; holds and
// unregister check.
type membership struct {
	poller *Poller
	index  uint32
	gen    uint32
}

// wakeKey is the epoll key of the Poller's eventfd. Socket keys are
// gen<<32 | (slot+1), never 0.
const wakeKey = 0

func registrationKey(index, gen uint32) uint64 { return uint64(gen)<<32 | (uint64(index) + 1) }

func splitKey(key uint64) (index, gen uint32) { return uint32(key) - 1, uint32(key >> 32) }

// setEventKey and eventKey store the 64-bit key in epoll_event.data, which
// x/sys/unix exposes as the two 32-bit fields Fd and Pad.
func setEventKey(ev *unix.EpollEvent, key uint64) {
	ev.Fd = int32(uint32(key))
	ev.Pad = int32(uint32(key >> 32))
}

func eventKey(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Poller is one epoll instance serving many sockets, plus an eventfd that
// Wake uses to interrupt Wait.
//
// Registrations are level-triggered (EPOLLIN | EPOLLERR, no EPOLLET): a
// socket is reported by every Wait while it has queued datagrams or a
// pending error. A loop may therefore read one batch per ready socket per
// Wait, for fairness across thousands of sockets, and rely on the rest
// being reported again. On Error it must drain the error queue, or the next
// Wait reports the socket again immediately.
//
// Events are keyed by a slot and a generation, not by the descriptor
// number: Wait drops any event whose registration was removed (by Remove or
// Socket.Close) before Wait looked it up, even if the kernel had already
// queued it, and a new socket that reuses a closed socket's descriptor
// number gets a new key. Wait is for one goroutine at a time; Add, Remove,
// Wake and Close are safe for concurrent use.
type Poller struct {
	epfd   int
	wakefd int
	ref    fdRef // covers epfd and wakefd

	// mu guards closed, slots and free.
	mu     sync.Mutex
	closed bool
	slots  []slot
	free   []uint32

	waiting sync.Mutex // held by the one goroutine in Wait
	raw     []unix.EpollEvent

	// file wraps epfd so that Wait parks in the Go runtime's netpoller (an
	// epoll instance is readable while it has events) instead of blocking
	// a thread in epoll_wait: a blocked thread makes the runtime hand its P
	// away and back on every wake-up, which profiles showed costing more
	// CPU per relayed packet than the relay's own work. file owns epfd.
	file        *os.File
	rawConn     syscall.RawConn
	pollReady   func(fd uintptr) bool // p.collect, bound once so Wait allocates nothing
	pollRaw     []unix.EpollEvent     // Wait's buffer for collect
	pollN       int
	pollErr     error
	deadlineSet bool
	drained     [8]byte
	one         [8]byte // the eventfd increment, read-only after NewPoller
}

// NewPoller creates an epoll instance and its wake eventfd.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventKey(&ev, wakeKey)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	// A non-blocking descriptor makes os.NewFile register it with the
	// runtime's netpoller; epoll_wait itself ignores O_NONBLOCK.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, file: os.NewFile(uintptr(epfd), "epoll")}
	rc, err := p.file.SyscallConn()
	if err != nil {
		unix.Close(wakefd)
		p.file.Close()
		return nil, err
	}
	p.rawConn = rc
	p.pollReady = p.collect
	binary.NativeEndian.PutUint64(p.one[:], 1) // eventfd adds a host-order uint64
	return p, nil
}

// Add registers s for readiness and error events, reported with token.
// A socket belongs to at most one open Poller at a time
// (ErrAlreadyRegistered); Add returns ErrClosed when s or p is closed.
// Tokens are the caller's; they need not be unique, because stale events
// are filtered by the registration's own key. c must be a *Socket
// (ErrForeignSocket).
func (p *Poller) Add(c BatchSocket, token uint64) error {
	s, ok := c.(*Socket)
	if !ok {
		return ErrForeignSocket
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.member.poller != nil && s.member.poller.holds(s) {
		return ErrAlreadyRegistered
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	var index uint32
	if k := len(p.free); k > 0 {
		index = p.free[k-1]
		p.free = p.free[:k-1]
	} else {
		if uint64(len(p.slots)) >= math.MaxUint32-1 {
			return fmt.Errorf("netio: poller holds %d registrations, the maximum", len(p.slots))
		}
		p.slots = append(p.slots, slot{})
		index = uint32(len(p.slots) - 1)
	}
	r := &p.slots[index]
	r.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLERR}
	setEventKey(&ev, registrationKey(index, r.gen))
	if err := sysEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		p.free = append(p.free, index)
		return os.NewSyscallError("epoll_ctl", err)
	}
	r.sock, r.token, r.live = s, token, true
	s.member = membership{poller: p, index: index, gen: r.gen}
	return nil
}

// Remove unregisters s from p. Once it returns, no Wait reports s's token
// for this registration. Removing from a closed Poller succeeds (the
// registration ended with it); a socket registered elsewhere, or not at all,
// gives ErrNotRegistered.
func (p *Poller) Remove(c BatchSocket) error {
	s, ok := c.(*Socket)
	if !ok {
		return ErrNotRegistered
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.member.poller != p {
		return ErrNotRegistered
	}
	err := p.unregister(s)
	s.member = membership{}
	return err
}

// holds reports whether p is open and still holds s's registration.
func (p *Poller) holds(s *Socket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ownsLocked(s)
}

// ownsLocked reports whether p (whose mu the caller holds) is open and s's
// membership names a live slot of p that holds s.
func (p *Poller) ownsLocked(s *Socket) bool {
	m := s.member
	if p.closed || m.poller != p || int(m.index) >= len(p.slots) {
		return false
	}
	r := &p.slots[m.index]
	return r.live && r.gen == m.gen && r.sock == s
}

// unregister deletes s's registration, which s.mu (held by the caller)
// protects: EPOLL_CTL_DEL runs while s's descriptor is still open, and the
// slot is freed so Wait drops events already queued for it.
func (p *Poller) unregister(s *Socket) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ownsLocked(s) {
		return nil
	}
	r := &p.slots[s.member.index]
	var err error
	if e := sysEpollCtl(p.epfd, unix.EPOLL_CTL_DEL, s.fd, nil); e != nil {
		err = os.NewSyscallError("epoll_ctl", e)
	}
	r.sock, r.token, r.live = nil, 0, false
	p.free = append(p.free, s.member.index)
	return err
}

// Wait blocks until at least one registered socket is ready, Wake is
// called, or timeout passes, and stores up to len(events) events in
// events[:n].
//
// A Wait that finds events returns without reaching a scheduling point, so
// a loop that always has work never lets the scheduler in: it must yield
// (runtime.Gosched) every few milliseconds. Without that, packet loops were
// measured stalling for 100-700 ms under 5000 allocations: the runtime's
// own preemption comes from sysmon, which sleeps when nothing it sees
// needs it. A negative timeout waits forever; zero polls; other timeouts
// are read deadlines of the runtime's poller. A wake-up or a timeout returns
// n == 0.
//
// The goroutine parks in the Go runtime's netpoller until the epoll
// instance is readable, then collects the events with a non-blocking
// epoll_wait; no thread is blocked in a system call. Wait allocates nothing,
// except once to grow its kernel event buffer when len(events) exceeds every
// earlier call's. It returns ErrConcurrentWait when another goroutine is in
// Wait, and ErrClosed once Close has begun, including to a Wait that Close
// interrupted.
func (p *Poller) Wait(events []Event, timeout time.Duration) (int, error) {
	if len(events) == 0 {
		return 0, ErrBounds
	}
	if !p.waiting.TryLock() {
		return 0, ErrConcurrentWait
	}
	defer p.waiting.Unlock()
	if !p.ref.acquire() {
		return 0, ErrClosed
	}
	defer p.release()
	if len(p.raw) < len(events) {
		p.raw = make([]unix.EpollEvent, len(events))
	}
	raw := p.raw[:len(events)]
	if timeout == 0 {
		k, err := p.epollNow(raw)
		if err != nil {
			return 0, err
		}
		return p.deliver(raw[:k], events)
	}
	if timeout > 0 {
		p.file.SetReadDeadline(time.Now().Add(timeout))
		p.deadlineSet = true
	} else if p.deadlineSet {
		p.file.SetReadDeadline(time.Time{})
		p.deadlineSet = false
	}
	p.pollRaw, p.pollN, p.pollErr = raw, 0, nil
	err := p.rawConn.Read(p.pollReady)
	p.pollRaw = nil
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil
	case err != nil:
		return 0, err
	case p.pollErr != nil:
		return 0, p.pollErr
	}
	return p.deliver(raw[:p.pollN], events)
}

// collect is Wait's RawConn.Read callback: a non-blocking epoll_wait that
// reports done when it found events or failed, and otherwise lets the
// runtime park the goroutine until the epoll instance becomes readable.
func (p *Poller) collect(fd uintptr) bool {
	p.pollN, p.pollErr = p.epollNow(p.pollRaw)
	return p.pollN > 0 || p.pollErr != nil
}

// epollNow is epoll_wait with a zero timeout, retried on EINTR.
func (p *Poller) epollNow(raw []unix.EpollEvent) (int, error) {
	for {
		// epoll_pwait with a zero timeout and no signal mask (epoll_wait
		// itself is missing on arm64), hidden from the scheduler like the
		// socket calls: through the scheduler, each poll woke the runtime's
		// sysmon thread from its idle sleep, which then ran at 20 µs ticks
		// (4 500 context switches a second and 8 % of a core under an
		// allocate/delete load). The caller's duty that follows is in Wait.
		k, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
			uintptr(unsafe.Pointer(&raw[0])), uintptr(len(raw)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, os.NewSyscallError("epoll_wait", errno)
		}
		return int(k), nil
	}
}

// deliver translates kernel events into events and reports Close.
func (p *Poller) deliver(raw []unix.EpollEvent, events []Event) (int, error) {
	n, closed := p.translate(raw, events)
	if closed {
		return 0, ErrClosed
	}
	return n, nil
}

// translate turns kernel events into Events, dropping stale ones and
// consuming wake-ups. It returns how many it stored and whether Close has
// begun (Close sets closed before it wakes Wait).
func (p *Poller) translate(raw []unix.EpollEvent, events []Event) (n int, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, true
	}
	for i := range raw {
		ev := &raw[i]
		key := eventKey(ev)
		if key == wakeKey {
			p.drainWake()
			continue
		}
		index, gen := splitKey(key)
		if int(index) >= len(p.slots) {
			continue
		}
		r := &p.slots[index]
		if !r.live || r.gen != gen {
			continue // removed after the kernel queued the event
		}
		events[n] = Event{
			Token:    r.token,
			Socket:   r.sock,
			Readable: ev.Events&(unix.EPOLLIN|unix.EPOLLHUP) != 0,
			Error:    ev.Events&unix.EPOLLERR != 0,
		}
		n++
	}
	return n, false
}

// drainWake resets the eventfd counter so the wake-up is reported once.
func (p *Poller) drainWake() {
	for {
		_, err := unix.Read(p.wakefd, p.drained[:])
		if err != unix.EINTR {
			return
		}
	}
}

// Wake makes a Wait in progress, or the next Wait, return. Several Wakes
// before a Wait collapse into one wake-up. It is safe from any goroutine.
func (p *Poller) Wake() error {
	if !p.ref.acquire() {
		return ErrClosed
	}
	defer p.release()
	return p.signal()
}

// signal increments the eventfd. EAGAIN means the counter is already far
// above zero: a wake-up is pending anyway.
func (p *Poller) signal() error {
	for {
		_, err := unix.Write(p.wakefd, p.one[:])
		switch err {
		case nil, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("write", err)
	}
}

// Close ends all registrations, wakes a Wait in progress (which returns
// ErrClosed) and closes the epoll instance and eventfd once no call is using
// them. It is idempotent. Registered sockets stay open; closing them later
// is fine.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for i := range p.slots {
		p.slots[i] = slot{gen: p.slots[i].gen}
	}
	p.free = nil
	p.mu.Unlock()
	// The descriptors stay open until beginClose: nothing else closes them.
	wakeErr := p.signal()
	if _, closeNow := p.ref.beginClose(); closeNow {
		if err := p.closeDescriptors(); err != nil {
			return err
		}
	}
	return wakeErr
}

// release ends a call and closes the descriptors if Close is waiting.
func (p *Poller) release() {
	if p.ref.release() {
		p.closeDescriptors()
	}
}

func (p *Poller) closeDescriptors() error {
	errWake := unix.Close(p.wakefd)
	if err := p.file.Close(); err != nil {
		return err
	}
	if errWake != nil {
		return os.NewSyscallError("close", errWake)
	}
	return nil
}
