package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/pionserver"
)

func TestRunAgainstPion(t *testing.T) {
	s, err := pionserver.Start(pionserver.Config{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Secret: "cli-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	plot := filepath.Join(dir, "run.png")
	jsonFile := filepath.Join(dir, "run.json")
	tests := []struct {
		name     string
		args     []string
		jsonPath string
	}{
		{"closed to stdout with plot", []string{"-server", s.UDPAddr().String(), "-duration", "300ms", "-warmup", "50ms", "-allocations", "2", "-plot", plot}, ""},
		{"realistic flows", []string{"-server", s.UDPAddr().String(), "-mode", "realistic", "-duration", "300ms", "-warmup", "50ms", "-allocations", "3", "-video-flows", "1", "-seed", "42"}, ""},
		{"churn over tcp to file", []string{"-server", s.TCPAddr().String(), "-transport", "tcp", "-mode", "churn", "-duration", "300ms", "-warmup", "0s", "-allocations", "2", "-json", jsonFile}, jsonFile},
	}
	t.Setenv("TURNSTILE_LOAD_SECRET", "cli-secret")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			out := stdout.Bytes()
			if tc.jsonPath != "" {
				if stdout.Len() != 0 {
					t.Fatalf("stdout not empty with -json file: %q", stdout.String())
				}
				var err error
				if out, err = os.ReadFile(tc.jsonPath); err != nil {
					t.Fatal(err)
				}
			}
			var res loadtest.Result
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("JSON: %v\n%s", err, out)
			}
			if res.Setup == nil && res.Churn == nil {
				t.Fatalf("empty result %s", out)
			}
			if !strings.Contains(stderr.String(), "loop,") {
				t.Fatalf("no summary on stderr: %q", stderr.String())
			}
		})
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("plot is not a PNG: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"-secret", "x", "extra"}, 2, "unexpected arguments"},
		{"bad mode", []string{"-secret", "x", "-mode", "burst"}, 2, "Config.Mode"},
		{"no credentials", []string{}, 2, "no credentials"},
		{"bad peer ip", []string{"-secret", "x", "-peer-ip", "nope"}, 2, "-peer-ip"},
		{"bad rss checkpoint", []string{"-secret", "x", "-server-pid", "1", "-rss-checkpoints", "8,x"}, 2, "-rss-checkpoints"},
		{"rss checkpoints beyond allocations", []string{"-secret", "x", "-server-pid", "1", "-allocations", "4", "-rss-checkpoints", "2,8"}, 2, "Config.RSSCheckpoints"},
		{"counter without server pid", []string{"-secret", "x", "-counter-url", "http://127.0.0.1:9464/metrics", "-counter-series", "x"}, 2, "Config.CounterURL"},
		{"remote server", []string{"-secret", "x", "-server", "192.0.2.1:3478"}, 1, "not loopback"},
	}
	t.Setenv("TURNSTILE_LOAD_SECRET", "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}
