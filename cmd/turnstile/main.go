// Command turnstile is the STUN/TURN relay daemon.
//
//	turnstile [serve]   run the relay, configured by TURNSTILE_* variables
//	turnstile creds     mint TURN REST credentials for a user
//	turnstile version   print the version
//
// With no TURNSTILE_* variable at all, serve runs a development relay on
// 127.0.0.1:3478 (UDP and TCP) with a random secret and prints a working
// credential and a turnutils_uclient command line.
//
// serve also answers /metrics (Prometheus), /healthz and /readyz on
// TURNSTILE_METRICS_LISTEN, logs JSON lines on stderr (a summary line every
// minute), reloads the secrets file, the TLS certificate and the gateway's
// resources file (TURNSTILE_GATEWAY_RESOURCES_FILE, see gateway.go) on
// SIGHUP, and on SIGTERM or SIGINT drains: /readyz turns 503 and new
// allocations are refused at once, existing ones relay until they end or
// TURNSTILE_DRAIN_TIMEOUT passes, then it exits 0; a second signal exits
// at once.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, environ, stdout, stderr)
	case "creds":
		return creds(args, environ, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "turnstile %s\n", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "turnstile: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  turnstile [serve]                      run the relay (TURNSTILE_* environment)
  turnstile creds [-user U] [-ttl D] [-url URL]...
                                         mint TURN REST credentials
  turnstile version                      print the version
`)
}
