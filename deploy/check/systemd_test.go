package check

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	unitFile       = "../systemd/turnstile.service"
	envExampleFile = "../systemd/turnstile.env.example"
	// defaultDrainTimeout is turnstile's TURNSTILE_DRAIN_TIMEOUT default.
	defaultDrainTimeout = 30 * time.Second
	// defaultPortRangeSize is the size of the default relay range 49152-65535.
	defaultPortRangeSize = 65535 - 49152 + 1
)

// unitDirectives reads a systemd unit into section → key → values, one value per
// assignment in file order. systemd-analyze verify (run.sh) checks the syntax; this
// checks the hardening and drain policy the unit promises.
func unitDirectives(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string]map[string][]string{}
	section := ""
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			sections[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: unexpected line %q", path, line)
			}
			sections[section][key] = append(sections[section][key], value)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// systemdSeconds parses a systemd time span of the forms the unit uses: "45", "45s",
// "2min", "1min 30s".
func systemdSeconds(t *testing.T, span string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(span); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.ReplaceAll(strings.ReplaceAll(span, "min", "m"), " ", ""))
	if err != nil {
		t.Fatalf("cannot read time span %q: %v", span, err)
	}
	return d
}

func TestSystemdUnitPolicy(t *testing.T) {
	unit := unitDirectives(t, unitFile)
	service := unit["Service"]
	only := func(key string) string {
		t.Helper()
		values := service[key]
		if len(values) != 1 {
			t.Errorf("[Service] %s set %d times, want once", key, len(values))
			return ""
		}
		return values[0]
	}
	for key, want := range map[string]string{
		"ExecStart":               "/usr/local/bin/turnstile serve",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"Restart":                 "on-failure",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	} {
		if got := only(key); got != want {
			t.Errorf("[Service] %s = %q, want %q", key, got, want)
		}
	}
	if !slices.Contains(service["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter = %q, want @system-service among them", service["SystemCallFilter"])
	}
	dynamicUser := slices.Equal(service["DynamicUser"], []string{"yes"})
	users := service["User"]
	dedicatedUser := len(users) == 1 && users[0] != "" && users[0] != "root" && users[0] != "0"
	if !dynamicUser && !dedicatedUser {
		t.Errorf("the relay must run as DynamicUser or a dedicated user, got User=%q", users)
	}
	if only("EnvironmentFile") == "" {
		t.Error("EnvironmentFile missing: turnstile is configured only through its environment")
	}
	if stop := systemdSeconds(t, only("TimeoutStopSec")); stop <= defaultDrainTimeout {
		t.Errorf("TimeoutStopSec = %v, want more than the %v drain timeout", stop, defaultDrainTimeout)
	}
	if n, err := strconv.Atoi(only("LimitNOFILE")); err != nil || n < 2*defaultPortRangeSize {
		t.Errorf("LimitNOFILE = %q, want a number of at least %d (two descriptors per relay port)", service["LimitNOFILE"], 2*defaultPortRangeSize)
	}
}

// The environment example names every turnstile setting (set or commented out),
// so an operator sees all of them in one place.
func TestEnvExampleNamesEverySetting(t *testing.T) {
	data, err := os.ReadFile(envExampleFile)
	if err != nil {
		t.Fatal(err)
	}
	assignment := regexp.MustCompile(`(?m)^#?(TURNSTILE_[A-Z0-9_]+)=`)
	named := map[string]bool{}
	for _, m := range assignment.FindAllStringSubmatch(string(data), -1) {
		suffix := strings.TrimPrefix(m[1], "TURNSTILE_")
		if !slices.Contains(turnstileSettings, suffix) {
			t.Errorf("%s is not a turnstile setting", m[1])
		}
		named[suffix] = true
	}
	for _, s := range turnstileSettings {
		if !named[s] {
			t.Errorf("TURNSTILE_%s is missing from %s", s, envExampleFile)
		}
	}
}
