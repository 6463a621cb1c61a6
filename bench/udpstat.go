package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// udpCounters reads the kernel's UDP counters from /proc/net/snmp (Linux):
// the "Udp:" header line names the fields, the next "Udp:" line holds their
// values. The counters are machine-wide (every socket of every process).
func udpCounters() (map[string]uint64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return nil, err
	}
	return parseSNMP(b, "Udp:")
}

// parseSNMP returns the counters of the section whose lines start with
// prefix, from a /proc/net/snmp text.
func parseSNMP(text []byte, prefix string) (map[string]uint64, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != prefix {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		if len(fields)-1 != len(names) {
			return nil, fmt.Errorf("/proc/net/snmp: %s has %d names and %d values", prefix, len(names), len(fields)-1)
		}
		out := make(map[string]uint64, len(names))
		for i, name := range names {
			v, err := strconv.ParseUint(fields[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/net/snmp: %s %s: %w", prefix, name, err)
			}
			out[name] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("/proc/net/snmp: no %s section", prefix)
}

// rcvbufErrors returns the machine-wide count of UDP datagrams dropped
// because a socket's receive buffer was full (RcvbufErrors).
func rcvbufErrors() (uint64, error) {
	c, err := udpCounters()
	if err != nil {
		return 0, err
	}
	v, ok := c["RcvbufErrors"]
	if !ok {
		return 0, fmt.Errorf("/proc/net/snmp: no Udp RcvbufErrors")
	}
	return v, nil
}
