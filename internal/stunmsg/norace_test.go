//go:build !race

package stunmsg

const raceEnabled = false
