package config

// Variable names. The table in doc.go documents each one; a test keeps the
// two and rawEnv's tags in step.
const (
	varUDPListen         = "TURNSTILE_UDP_LISTEN"
	varTCPListen         = "TURNSTILE_TCP_LISTEN"
	varTLSListen         = "TURNSTILE_TLS_LISTEN"
	varTLSCertFile       = "TURNSTILE_TLS_CERT_FILE"
	varTLSKeyFile        = "TURNSTILE_TLS_KEY_FILE"
	varRealm             = "TURNSTILE_REALM"
	varSoftware          = "TURNSTILE_SOFTWARE"
	varAuthSecrets       = "TURNSTILE_AUTH_SECRETS"
	varAuthSecretsFile   = "TURNSTILE_AUTH_SECRETS_FILE"
	varUsers             = "TURNSTILE_USERS"
	varCredentialMaxTTL  = "TURNSTILE_CREDENTIAL_MAX_TTL"
	varNonceLifetime     = "TURNSTILE_NONCE_LIFETIME"
	varRelayIPs          = "TURNSTILE_RELAY_IPS"
	varExternalIPs       = "TURNSTILE_EXTERNAL_IPS"
	varPortRange         = "TURNSTILE_PORT_RANGE"
	varUserQuota         = "TURNSTILE_USER_QUOTA"
	varTotalQuota        = "TURNSTILE_TOTAL_QUOTA"
	varMaxLifetime       = "TURNSTILE_MAX_LIFETIME"
	varMaxPermissions    = "TURNSTILE_MAX_PERMISSIONS"
	varPeerAllow         = "TURNSTILE_PEER_ALLOW"
	varPeerDeny          = "TURNSTILE_PEER_DENY"
	varTCPMaxConnections = "TURNSTILE_TCP_MAX_CONNECTIONS"
	varTCPMaxPerSource   = "TURNSTILE_TCP_MAX_CONNECTIONS_PER_SOURCE"
	varTCPWriteBudget    = "TURNSTILE_TCP_WRITE_BUDGET"
	varTCPIdleTimeout    = "TURNSTILE_TCP_IDLE_TIMEOUT"
	// TCP relaying (RFC 6062).
	varTCPRelay               = "TURNSTILE_TCP_RELAY"
	varTCPRelayConnectTimeout = "TURNSTILE_TCP_RELAY_CONNECT_TIMEOUT"
	varTCPRelayPerAllocation  = "TURNSTILE_TCP_RELAY_MAX_PER_ALLOCATION"
	varTCPRelayPerUser        = "TURNSTILE_TCP_RELAY_MAX_PER_USER"
	varTCPRelayPending        = "TURNSTILE_TCP_RELAY_MAX_PENDING"
	varTCPRelayIdleTimeout    = "TURNSTILE_TCP_RELAY_IDLE_TIMEOUT"
	varUnauthRate             = "TURNSTILE_UNAUTH_RATE"
	varUnauthBurst            = "TURNSTILE_UNAUTH_BURST"
	varTCPMaxFrame            = "TURNSTILE_TCP_MAX_FRAME"
	varLegacyChannels         = "TURNSTILE_LEGACY_CHANNELS"
	varLegacyDual             = "TURNSTILE_LEGACY_DUAL_ALLOCATION"
	varUDPOffload             = "TURNSTILE_UDP_OFFLOAD"
	varXDP                    = "TURNSTILE_XDP"
	varLogLevel               = "TURNSTILE_LOG_LEVEL"
	varMetricsListen          = "TURNSTILE_METRICS_LISTEN"
	varDrainTimeout           = "TURNSTILE_DRAIN_TIMEOUT"
	varAlternateServers       = "TURNSTILE_ALTERNATE_SERVERS"
)

// envPrefix starts every turnstile variable.
const envPrefix = "TURNSTILE_"

// rawEnv is the environment as text, read by env.ParseWithOptions. Its
// envDefault tags are the one place where defaults live: a default is
// written as the text an operator would set, and goes through the same
// parser and checks as a set value.
type rawEnv struct {
	UDPListen         string `env:"TURNSTILE_UDP_LISTEN"`
	TCPListen         string `env:"TURNSTILE_TCP_LISTEN"`
	TLSListen         string `env:"TURNSTILE_TLS_LISTEN"`
	TLSCertFile       string `env:"TURNSTILE_TLS_CERT_FILE"`
	TLSKeyFile        string `env:"TURNSTILE_TLS_KEY_FILE"`
	Realm             string `env:"TURNSTILE_REALM" envDefault:"turnstile"`
	Software          string `env:"TURNSTILE_SOFTWARE" envDefault:"turnstile"`
	AuthSecrets       string `env:"TURNSTILE_AUTH_SECRETS"`
	AuthSecretsFile   string `env:"TURNSTILE_AUTH_SECRETS_FILE"`
	Users             string `env:"TURNSTILE_USERS"`
	CredentialMaxTTL  string `env:"TURNSTILE_CREDENTIAL_MAX_TTL" envDefault:"24h"`
	NonceLifetime     string `env:"TURNSTILE_NONCE_LIFETIME" envDefault:"10m"`
	RelayIPs          string `env:"TURNSTILE_RELAY_IPS"`
	ExternalIPs       string `env:"TURNSTILE_EXTERNAL_IPS"`
	PortRange         string `env:"TURNSTILE_PORT_RANGE" envDefault:"49152-65535"`
	UserQuota         string `env:"TURNSTILE_USER_QUOTA" envDefault:"10"`
	TotalQuota        string `env:"TURNSTILE_TOTAL_QUOTA" envDefault:"0"`
	MaxLifetime       string `env:"TURNSTILE_MAX_LIFETIME" envDefault:"1h"`
	MaxPermissions    string `env:"TURNSTILE_MAX_PERMISSIONS" envDefault:"256"`
	PeerAllow         string `env:"TURNSTILE_PEER_ALLOW"`
	PeerDeny          string `env:"TURNSTILE_PEER_DENY"`
	TCPMaxConnections string `env:"TURNSTILE_TCP_MAX_CONNECTIONS" envDefault:"10000"`
	TCPMaxPerSource   string `env:"TURNSTILE_TCP_MAX_CONNECTIONS_PER_SOURCE" envDefault:"1000"`
	TCPWriteBudget    string `env:"TURNSTILE_TCP_WRITE_BUDGET" envDefault:"262144"`
	TCPIdleTimeout    string `env:"TURNSTILE_TCP_IDLE_TIMEOUT" envDefault:"2m"`
	TCPRelay          string `env:"TURNSTILE_TCP_RELAY" envDefault:"false"`
	TCPRelayConnect   string `env:"TURNSTILE_TCP_RELAY_CONNECT_TIMEOUT" envDefault:"30s"`
	TCPRelayPerAlloc  string `env:"TURNSTILE_TCP_RELAY_MAX_PER_ALLOCATION" envDefault:"64"`
	TCPRelayPerUser   string `env:"TURNSTILE_TCP_RELAY_MAX_PER_USER" envDefault:"256"`
	TCPRelayPending   string `env:"TURNSTILE_TCP_RELAY_MAX_PENDING" envDefault:"4096"`
	TCPRelayIdle      string `env:"TURNSTILE_TCP_RELAY_IDLE_TIMEOUT" envDefault:"1h"`
	UnauthRate        string `env:"TURNSTILE_UNAUTH_RATE" envDefault:"10"`
	UnauthBurst       string `env:"TURNSTILE_UNAUTH_BURST" envDefault:"100"`
	TCPMaxFrame       string `env:"TURNSTILE_TCP_MAX_FRAME" envDefault:"65539"`
	LegacyChannels    string `env:"TURNSTILE_LEGACY_CHANNELS" envDefault:"false"`
	LegacyDual        string `env:"TURNSTILE_LEGACY_DUAL_ALLOCATION" envDefault:"false"`
	UDPOffload        string `env:"TURNSTILE_UDP_OFFLOAD" envDefault:"true"`
	XDP               string `env:"TURNSTILE_XDP" envDefault:"off"`
	LogLevel          string `env:"TURNSTILE_LOG_LEVEL" envDefault:"info"`
	MetricsListen     string `env:"TURNSTILE_METRICS_LISTEN" envDefault:"127.0.0.1:9464"`
	DrainTimeout      string `env:"TURNSTILE_DRAIN_TIMEOUT" envDefault:"30s"`
	AlternateServers  string `env:"TURNSTILE_ALTERNATE_SERVERS"`
}
