// Package bench runs turnstile, coturn and pion/turn's server side by side on
// loopback and drives the same loads against each with package loadtest
// (issue 6: "measure against coturn and pion side by side").
//
// One Run is a Plan: for every repetition, for every load, every server is
// started afresh as a child process on 127.0.0.1 (a fresh process, so the
// resident-memory delta of a load is not hidden by memory an earlier load
// left behind), the load runs against it with its pid (for its CPU time and
// RSS), and the server is stopped again. The order of the servers rotates
// between repetitions so drift on a shared machine does not favour one of
// them. The Report holds every measurement and, per metric, the median over
// the repetitions (or the worst value, for counts of failures), the ratios
// turnstile / coturn and turnstile / pion, and the target for the
// ratio against coturn.
//
// The load generator runs in this process and shares the machine's cores
// with the server under test, so absolute numbers depend on the generator's
// own cost; the ratios are what compare. Every server is given the same
// number of threads (Plan.Threads): GOMAXPROCS for the Go servers,
// --relay-threads for coturn (which adds its own listener, auth and admin
// threads).
//
// Safety: servers listen and relay on 127.0.0.1 only, every load is bounded
// in time and count by its loadtest.Config, and every server started is
// stopped before Run returns, also when a load fails or the context ends
// (SIGTERM, then SIGKILL after a grace period; on Linux the kernel also
// kills the children if this process dies, see PR_SET_PDEATHSIG).
package bench
