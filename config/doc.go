// Package config turns the environment into a validated, typed Config for the
// turnstile daemon (docs/configuration.md). Load takes the environment as a
// slice of "NAME=value" strings, so tests never touch the process
// environment.
//
// Every setting is a TURNSTILE_* variable. Lists are comma-separated (spaces
// around items are ignored, empty items are errors); durations use Go syntax
// ("90s", "10m", "1h30m"). A variable set to the empty string counts as
// unset, except TURNSTILE_SOFTWARE and TURNSTILE_METRICS_LISTEN, where the
// empty string switches the feature off (and except for development mode,
// below, which any TURNSTILE_* variable turns off). Everything is checked at start; an
// out-of-range value is an error, never clamped, and every error names its
// variable, e.g.
//
//	TURNSTILE_PORT_RANGE: "60000-50000": min above max
//
// Values of secret variables never appear in errors, and secrets are held as
// logging.Secret, which prints as "[redacted]".
//
// # Variables
//
//	Variable                      Default          Meaning
//	TURNSTILE_UDP_LISTEN          (none)           UDP listeners, ip:port list. Specific addresses only: the
//	                                               relay must know the server address of each 5-tuple
//	                                               (RFC 8656 §2), so 0.0.0.0 and :: are rejected.
//	TURNSTILE_TCP_LISTEN          (none)           TCP listeners, ip:port list, as above.
//	TURNSTILE_TLS_LISTEN          (none)           TLS-over-TCP listeners, ip:port list, as above; needs
//	                                               TURNSTILE_TLS_CERT_FILE and TURNSTILE_TLS_KEY_FILE.
//	TURNSTILE_TLS_CERT_FILE       (none)           PEM certificate chain for the TLS listeners.
//	TURNSTILE_TLS_KEY_FILE        (none)           PEM private key matching the certificate.
//	TURNSTILE_REALM               turnstile        REALM (RFC 8489 §14.9): 1 to 127 printable ASCII characters.
//	TURNSTILE_SOFTWARE            turnstile        SOFTWARE attribute (RFC 8489 §14.14) of answers to
//	                                               authenticated requests, under 128 characters; empty omits
//	                                               the attribute.
//	TURNSTILE_AUTH_SECRETS        (none)           TURN REST shared secrets, list; the first mints, all are
//	                                               accepted. At most 8, each at least 16 bytes.
//	TURNSTILE_AUTH_SECRETS_FILE   (none)           File of TURN REST shared secrets, one per line (blank lines
//	                                               and lines starting with # ignored); the daemon can re-read
//	                                               it to rotate. Exclusive with TURNSTILE_AUTH_SECRETS.
//	TURNSTILE_USERS               (none)           Static long-term users, list of name:password. Names must not
//	                                               be all digits (that is a TURN REST username); passwords are
//	                                               printable ASCII without commas.
//	TURNSTILE_CREDENTIAL_MAX_TTL  24h              Longest accepted remaining lifetime of a TURN REST
//	                                               credential, whole seconds up to 366 days; 0 means
//	                                               unlimited.
//	TURNSTILE_NONCE_LIFETIME      10m              Nonce lifetime, 1s to 1h (RFC 8656 §5: at least hourly).
//	TURNSTILE_RELAY_IPS           UDP listen IPs   Local IPs relayed sockets bind to, list. Default: the IPs of
//	                                               the UDP listeners, or of the TCP and TLS listeners when there
//	                                               is no UDP listener.
//	TURNSTILE_EXTERNAL_IPS        (none)           Addresses advertised for the relay IPs behind a 1:1 NAT,
//	                                               list, pairwise with TURNSTILE_RELAY_IPS (same length, same
//	                                               families).
//	TURNSTILE_PORT_RANGE          49152-65535      Relayed UDP ports, min-max; min at least 1024; must not hold
//	                                               a listener or metrics port.
//	TURNSTILE_USER_QUOTA          10               Concurrent allocations per user (RFC 8656 §5, 486 beyond),
//	                                               ports reserved by its EVEN-PORT Allocates included, up to
//	                                               2^30; 0 means unlimited.
//	TURNSTILE_TOTAL_QUOTA         0                Concurrent allocations in total, reserved ports included,
//	                                               up to 2^30; 0 means unlimited.
//	TURNSTILE_MAX_LIFETIME        1h               Largest granted allocation lifetime, whole seconds, 10m to 1h
//	                                               (RFC 8656 §7.2: default 600 s, RECOMMENDED maximum 3600 s).
//	TURNSTILE_MAX_PERMISSIONS     256              Peer IPs with permissions per allocation, 1 to 1048576
//	                                               (508 beyond).
//	TURNSTILE_PEER_ALLOW          (none)           Peer CIDRs allowed despite the built-in deny list, list; a
//	                                               bare IP is one address; host bits must be zero. An entry
//	                                               covering the relay's own address opens its ports outside
//	                                               the relayed range (a warning at start says so); its
//	                                               listeners and metrics port stay refused.
//	TURNSTILE_PEER_DENY           (none)           Peer CIDRs always denied, list, as above; wins over
//	                                               TURNSTILE_PEER_ALLOW.
//	TURNSTILE_TCP_MAX_CONNECTIONS 10000            Concurrent TCP and TLS client connections, 1 to 2^30.
//	TURNSTILE_TCP_MAX_CONNECTIONS_PER_SOURCE 1000  Concurrent TCP and TLS connections of one source (an IPv4
//	                                               address, an IPv6 /64), 1 to 2^30; further connections are
//	                                               closed and counted. At or above TURNSTILE_TCP_MAX_CONNECTIONS
//	                                               it has no effect.
//	TURNSTILE_TCP_WRITE_BUDGET    262144           Bytes of frames one TCP/TLS connection may hold waiting to
//	                                               be written, 131072 to 67108864; peer data beyond it is
//	                                               dropped and counted, a reserve of 32 KiB is kept for
//	                                               responses.
//	TURNSTILE_TCP_IDLE_TIMEOUT    2m               A TCP/TLS connection without a complete frame for this long
//	                                               is closed; 1s to 24h.
//	TURNSTILE_TCP_MAX_FRAME       65539            Largest STUN or ChannelData frame on TCP/TLS in bytes,
//	                                               1280 to 65552.
//	TURNSTILE_TCP_RELAY           false            true relays TCP (RFC 6062: REQUESTED-TRANSPORT TCP, Connect,
//	                                               ConnectionBind) for clients on a TCP or TLS listener, which
//	                                               it needs; false answers TCP allocations 442. With a gateway,
//	                                               Connects reach resources on their tcp filter ports.
//	TURNSTILE_TCP_RELAY_CONNECT_TIMEOUT 30s        How long a Connect waits for the peer to accept before 447,
//	                                               30s (RFC 6062's floor) to 10m.
//	TURNSTILE_TCP_RELAY_MAX_PER_ALLOCATION 64      Peer connections of one TCP allocation, 1 to 1048576 (508
//	                                               to a Connect beyond, incoming ones closed).
//	TURNSTILE_TCP_RELAY_MAX_PER_USER 256           Peer connections of one user over all its allocations, 1 to
//	                                               1048576.
//	TURNSTILE_TCP_RELAY_MAX_PENDING 4096           Peer connections being opened or waiting for their
//	                                               ConnectionBind in the whole relay, 1 to 1048576.
//	TURNSTILE_TCP_RELAY_IDLE_TIMEOUT 1h            A relayed TCP connection with no byte either way for this
//	                                               long is closed; 1s to 24h.
//	TURNSTILE_UNAUTH_RATE         10               Unauthenticated answers over UDP (Binding, 401, 400, 420, 438,
//	                                               retransmissions) a second per source (an IPv4 address, an
//	                                               IPv6 /64) once its burst is spent, 0 to 1000000; further
//	                                               requests are dropped and counted. 0 turns the budget off,
//	                                               which makes the relay a reflector for spoofed sources.
//	TURNSTILE_UNAUTH_BURST        100              Unauthenticated answers a quiet source gets at once, 1 to
//	                                               1000000.
//	TURNSTILE_LEGACY_CHANNELS     false            true also accepts RFC 5766's channel numbers 0x5000-0x7FFF,
//	                                               which RFC 8656 §12 reserves; for old clients such as coturn
//	                                               4.6's turnutils_uclient, which picks from the old range.
//	TURNSTILE_LEGACY_DUAL_ALLOCATION false         true also reads ADDITIONAL-ADDRESS-FAMILY at 0x8032, the
//	                                               codepoint of the draft before RFC 8656 (which assigned 0x8000),
//	                                               as coturn 4.x clients (uclient -Z) send it.
//	TURNSTILE_UDP_OFFLOAD         true             false stops the relay asking the kernel to batch datagrams
//	                                               (UDP GSO on sends, UDP GRO on receives): a switch for a
//	                                               kernel or NIC driver that mishandles them.
//	TURNSTILE_XDP                 off              The in-kernel ChannelData fast path (docs/xdp.md): off,
//	                                               native (driver mode), generic (any driver) or auto (native
//	                                               where possible, else userspace after one warning). native
//	                                               and generic stop the start when they cannot attach. Needs
//	                                               CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or root), UDP
//	                                               listeners on at most 8 ports, and specific listener and
//	                                               relay addresses.
//	TURNSTILE_LOG_LEVEL           info             trace, debug, info, warn or error.
//	TURNSTILE_METRICS_LISTEN      127.0.0.1:9464   ip:port of /metrics, /healthz and /readyz; 0.0.0.0 and :: are
//	                                               allowed here; empty disables the listener.
//	TURNSTILE_DRAIN_TIMEOUT       30s              How long allocations keep relaying after SIGTERM, 0 to 24h.
//	TURNSTILE_ALTERNATE_SERVERS   (none)           ip:port list offered with 300 Try Alternate while draining
//	                                               (RFC 8489 §10); must not name this relay's own listeners.
//
// # Development mode
//
// When no variable starting with TURNSTILE_ is set at all, Load returns a
// development configuration with Dev set: UDP and TCP on 127.0.0.1:3478,
// relay IP 127.0.0.1, one random 32-byte secret (hex-encoded), and
// TURNSTILE_PEER_ALLOW of 127.0.0.0/8 and ::1/128 so loopback clients can
// reach each other; everything else keeps its default. Outside development
// mode at least one listener and at least one of TURNSTILE_AUTH_SECRETS,
// TURNSTILE_AUTH_SECRETS_FILE and TURNSTILE_USERS are required.
package config
