//go:build race

package stunmsg

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put back, on purpose, so pooled code allocates under it.
const raceEnabled = true
