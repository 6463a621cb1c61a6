// Package turncore decides what a TURN server does, without doing it: the
// requests of RFC 8656 (Allocate, Refresh, CreatePermission, ChannelBind),
// Binding (RFC 8489), Send indications and the data path's per-packet
// lookups. It takes a message, the client's 5-tuple and the time, and
// returns the response bytes and the actions the shell must carry out:
// open or close relayed sockets, deliver a datagram to a peer, publish an
// allocation's creation or deletion, count a drop.
//
// The core does no I/O, starts no goroutine and never reads a clock: the
// monotonic and wall-clock instants are arguments, and randomness (relayed
// port candidates, reservation tokens) comes from Config. State lives in
// the pure packages it drives: allocation (the table and reservations),
// auth (credentials and nonces) and internal/txcache (retransmissions).
//
// Allocate is two-phase because only the shell can bind sockets: Handle
// runs the checks of RFC 8656 §7.2 and asks for a socket (Result.Step is
// StepOpen); the shell binds it and reports back with Opened, as often as
// the core asks (a port may be taken, an EVEN-PORT pair needs two sockets,
// a dual allocation one per family); then the core asks for the shell's
// per-allocation state (StepCommit), and Commit creates the allocation and
// builds the response.
//
// A Core is shared by every packet loop; a Processor is one loop's reusable
// scratch state (parsed message, response buffer, actions) and is not safe
// for concurrent use.
package turncore
