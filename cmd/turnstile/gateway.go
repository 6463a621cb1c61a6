package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"

	envlib "github.com/caarlos0/env/v11"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/gateway/relayext"
)

// The gateway's settings (docs/gateway.md, Settings). The daemon reads them
// itself, not package config: gateway.Config names its variables in `env`
// tags and validates them (errors name the variable); the two below are the
// daemon's own.
const (
	// varGatewayResourcesFile turns the gateway on: the resources file,
	// re-read on SIGHUP.
	varGatewayResourcesFile = "TURNSTILE_GATEWAY_RESOURCES_FILE"
	// varGatewayResolver is the DNS server for resource domains, "IP" (port
	// 53) or "IP:port"; unset, the system resolver.
	varGatewayResolver = "TURNSTILE_GATEWAY_RESOLVER"
	gatewayPrefix      = "TURNSTILE_GATEWAY_"
)

// maxResourcesFile bounds the resources file read at start and on SIGHUP,
// in bytes: a file this large is a mistake, not a configuration.
const maxResourcesFile = 4 << 20

// gatewaySetup is the gateway module of the daemon: the core the relay
// consults, the resolver it uses, and the file SIGHUP re-reads.
type gatewaySetup struct {
	core     *gateway.Gateway
	resolver *relayext.DNSResolver
	file     string
	server   netip.AddrPort // TURNSTILE_GATEWAY_RESOLVER; invalid for the system resolver
}

// gatewayVariables lists the TURNSTILE_GATEWAY_* variables the daemon
// reads, sorted.
func gatewayVariables() []string {
	names := []string{varGatewayResourcesFile, varGatewayResolver}
	t := reflect.TypeOf(gateway.Config{})
	for i := 0; i < t.NumField(); i++ {
		if name := t.Field(i).Tag.Get("env"); name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// loadGateway reads the gateway's settings from environ ("NAME=value"
// entries) and, when TURNSTILE_GATEWAY_RESOURCES_FILE is set, builds the
// gateway with the file's resources. It returns nil without that variable;
// any other gateway setting without it is an error, since it would do
// nothing. Unknown TURNSTILE_GATEWAY_* names are the caller's to warn
// about (unknownGatewayVariables).
func loadGateway(environ []string) (*gatewaySetup, error) {
	env := envlib.ToMap(environ)
	file := env[varGatewayResourcesFile]
	if file == "" {
		for _, name := range gatewayVariables() {
			if v, ok := env[name]; ok && v != "" && name != varGatewayResourcesFile {
				return nil, fmt.Errorf("%s is set but %s is not: the gateway is off without resources", name, varGatewayResourcesFile)
			}
		}
		return nil, nil
	}
	cfg := gateway.DefaultConfig()
	if err := envlib.ParseWithOptions(&cfg, envlib.Options{Environment: env}); err != nil {
		return nil, namedEnvError(err)
	}
	core, err := gateway.New(cfg)
	if err != nil {
		return nil, err
	}
	g := &gatewaySetup{core: core, file: file}
	if s := env[varGatewayResolver]; s != "" {
		if g.server, err = parseResolverAddr(s); err != nil {
			return nil, fmt.Errorf("%s: %w", varGatewayResolver, err)
		}
	}
	g.resolver = relayext.NewDNSResolver(g.server)
	data, err := readResourcesFile(file)
	if err == nil {
		err = core.Reload(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", varGatewayResourcesFile, file, err)
	}
	return g, nil
}

// unknownGatewayVariables returns the names among names (sorted) that
// start with TURNSTILE_GATEWAY_ but are no gateway setting: typos.
func unknownGatewayVariables(names []string) []string {
	known := gatewayVariables()
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, gatewayPrefix) && !slices.Contains(known, n) {
			out = append(out, n)
		}
	}
	return out
}

// namedEnvError rewrites the env library's errors, which name struct
// fields, to name the variable instead (the text of the gateway's own
// parsers already does).
func namedEnvError(err error) error {
	var agg envlib.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeOf(gateway.Config{})
	var out []error
	for _, e := range agg.Errors {
		var pe envlib.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name := f.Tag.Get("env")
				if msg := pe.Err.Error(); strings.HasPrefix(msg, name+":") {
					e = pe.Err
				} else {
					e = fmt.Errorf("%s: %w", name, pe.Err)
				}
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// parseResolverAddr parses TURNSTILE_GATEWAY_RESOLVER: a unicast IP
// address with an optional port ("192.0.2.53", "192.0.2.53:5353",
// "[2001:db8::53]:53"; 53 when omitted).
func parseResolverAddr(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, err2 := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
		if err2 != nil {
			return netip.AddrPort{}, fmt.Errorf("%q is not an IP address with an optional port", s)
		}
		ap = netip.AddrPortFrom(a, 53)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if a := ap.Addr(); a.IsUnspecified() || a.IsMulticast() || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: needs a unicast address and a non-zero port", s)
	}
	return ap, nil
}

// readResourcesFile reads at most maxResourcesFile bytes of path.
func readResourcesFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxResourcesFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResourcesFile {
		return nil, fmt.Errorf("larger than %d bytes", maxResourcesFile)
	}
	return data, nil
}

// reload re-reads the resources file (SIGHUP). The whole file is validated
// first; a file that is unreadable or invalid anywhere keeps the previous
// resources, and the log line says where it is wrong. What a reload does
// to live allocations is gateway.Gateway.Reload's business: flows and
// proxy IPs stay, every later decision uses the new resources.
func (g *gatewaySetup) reload(log *slog.Logger) {
	data, err := readResourcesFile(g.file)
	if err == nil {
		err = g.core.Reload(data)
	}
	if err != nil {
		log.Error("gateway resources file rejected; keeping the previous resources", "file", g.file, "error", err.Error())
		return
	}
	log.Info("gateway resources reloaded", "file", g.file, "resources", g.core.Snapshot().Len())
}

// logStart writes the gateway's start line.
func (g *gatewaySetup) logStart(log *slog.Logger) {
	resolver := "system"
	if g.server.IsValid() {
		resolver = g.server.String()
	}
	cfg := g.core.Config()
	log.Info("gateway enabled", "file", g.file, "resources", g.core.Snapshot().Len(),
		"dns", cfg.DNS.String(), "proxy_ranges", cfg.ProxyRanges.String(), "resolver", resolver)
}
