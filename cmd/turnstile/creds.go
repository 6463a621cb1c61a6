package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/config"
)

// urlList collects repeated -url flags.
type urlList []string

func (u *urlList) String() string     { return fmt.Sprint(*u) }
func (u *urlList) Set(s string) error { *u = append(*u, s); return nil }

// creds mints TURN REST credentials with the first configured secret
// (TURNSTILE_AUTH_SECRETS or TURNSTILE_AUTH_SECRETS_FILE) and prints them,
// with the JSON a WebRTC application puts in RTCConfiguration.iceServers.
func creds(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("creds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user name embedded in the credential (quotas and logs use it)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the credential stays valid")
	var urls urlList
	fs.Var(&urls, "url", "TURN URL for the iceServers JSON (repeatable), e.g. turn:relay.example.org:3478?transport=udp")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "turnstile creds: -ttl must be positive")
		return 2
	}
	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "turnstile creds: %v\n", err)
		return 1
	}
	if cfg.Dev {
		fmt.Fprintln(stderr, "turnstile creds: no TURNSTILE_AUTH_SECRETS or TURNSTILE_AUTH_SECRETS_FILE set; the development relay's secret is random and printed at its start")
		return 1
	}
	if len(cfg.AuthSecrets) == 0 {
		fmt.Fprintln(stderr, "turnstile creds: TURN REST credentials need TURNSTILE_AUTH_SECRETS or TURNSTILE_AUTH_SECRETS_FILE")
		return 1
	}
	secret := []byte(cfg.AuthSecrets[0].Expose())
	username, password := auth.MintREST(secret, *user, *ttl, time.Now())
	if len(urls) == 0 {
		urls = defaultURLs(cfg)
	}
	js, err := auth.ICEServersJSON(urls, username, password, *ttl)
	if err != nil {
		fmt.Fprintf(stderr, "turnstile creds: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "username: %s\npassword: %s\n%s\n", username, password, js)
	return 0
}

// defaultURLs names the configured listeners as turn:/turns: URLs.
func defaultURLs(cfg *config.Config) []string {
	var urls []string
	for _, ap := range cfg.UDPListen {
		urls = append(urls, fmt.Sprintf("turn:%s?transport=udp", ap))
	}
	for _, ap := range cfg.TCPListen {
		urls = append(urls, fmt.Sprintf("turn:%s?transport=tcp", ap))
	}
	for _, ap := range cfg.TLSListen {
		urls = append(urls, fmt.Sprintf("turns:%s?transport=tcp", ap))
	}
	return urls
}
