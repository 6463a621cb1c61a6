package main

import (
	"log/slog"
	"net/netip"
	"slices"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/xdp"
)

// xdpMaxBindings sizes each of the fast path's two binding maps (about
// 6 MB of kernel memory each); bindings beyond it stay in userspace and are
// counted as turnstile_xdp_not_offloaded_total{reason="map_full"}.
const xdpMaxBindings = 65536

// startXDP loads and attaches the in-kernel fast path as TURNSTILE_XDP says
// (docs/xdp.md): nil when it is off, or when auto could not attach (after
// one warning); an error when an explicit mode cannot attach.
func startXDP(cfg *config.Config, log *slog.Logger) (*xdp.Offload, error) {
	if cfg.XDP == config.XDPOff {
		return nil, nil
	}
	var ports []uint16
	addrs := append([]netip.Addr(nil), cfg.RelayIPs...)
	for _, ap := range cfg.UDPListen {
		addrs = append(addrs, ap.Addr())
		if !slices.Contains(ports, ap.Port()) {
			ports = append(ports, ap.Port())
		}
	}
	return xdp.Start(xdp.Config{
		Mode:  xdp.Mode(cfg.XDP),
		Addrs: addrs,
		Program: xdp.ProgramConfig{
			ListenPorts: ports,
			ChannelMax:  xdp.ChannelMax(cfg.LegacyChannels),
			MaxBindings: xdpMaxBindings,
		},
		Log: log,
	})
}

// closeXDP removes the fast path's bindings and detaches it.
func (d *daemon) closeXDP() {
	if d.offload == nil {
		return
	}
	if err := d.offload.Close(); err != nil {
		d.log.Warn("XDP fast path did not close cleanly", "error", err.Error())
	}
	d.offload = nil
}
