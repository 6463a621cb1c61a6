package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A window counter is a series of the server's own Prometheus text
// exposition, summed over its matching samples and read together with the
// CPU clocks at a window's start and end (Config.CounterURL): the server's
// count of something (the packets its kernel fast path relayed, say) over
// exactly the window the load measured.

// counterScrapeTimeout bounds one scrape; a server that cannot answer in it
// is not measured.
const counterScrapeTimeout = 5 * time.Second

// maxExposition bounds the text read from the endpoint.
const maxExposition = 16 << 20

// seriesSelector is a metric name and the labels a sample must carry, with
// these values, to count; other labels may differ.
type seriesSelector struct {
	name   string
	labels map[string]string
}

// parseSelector reads `name` or `name{label="value",...}`.
func parseSelector(s string) (seriesSelector, error) {
	s = strings.TrimSpace(s)
	name, labels, rest, err := splitSample(s)
	if err != nil {
		return seriesSelector{}, fmt.Errorf("series %q: %w", s, err)
	}
	if rest != "" {
		return seriesSelector{}, fmt.Errorf("series %q: unexpected %q after the labels", s, rest)
	}
	return seriesSelector{name: name, labels: labels}, nil
}

// matches reports whether a sample of name with labels is one of the
// selector's.
func (sel seriesSelector) matches(name string, labels map[string]string) bool {
	if name != sel.name {
		return false
	}
	for k, v := range sel.labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sum adds up the selector's samples in a Prometheus text exposition.
// Matching no sample is an error: a misspelt series would otherwise read
// as a counter that never moved.
func (sel seriesSelector) sum(text string) (float64, error) {
	var total float64
	found := false
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, sel.name) {
			continue
		}
		name, labels, rest, err := splitSample(line)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		if !sel.matches(name, labels) {
			continue
		}
		// The value, then an optional timestamp.
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return 0, fmt.Errorf("metrics line %q: want a value and at most a timestamp", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("metrics line %q: the value is no finite number", line)
		}
		total += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no sample of %s in the exposition", sel)
	}
	return total, nil
}

func (sel seriesSelector) String() string {
	if len(sel.labels) == 0 {
		return sel.name
	}
	parts := make([]string, 0, len(sel.labels))
	for _, k := range slices.Sorted(maps.Keys(sel.labels)) {
		parts = append(parts, k+"="+strconv.Quote(sel.labels[k]))
	}
	return sel.name + "{" + strings.Join(parts, ",") + "}"
}

// splitSample splits `name{labels} rest` (the exposition format's sample
// line, or a selector) into the name, the labels and what follows them.
// Label values are quoted with \\, \" and \n escapes.
func splitSample(s string) (name string, labels map[string]string, rest string, err error) {
	i := 0
	for i < len(s) && isNameByte(s[i], i == 0) {
		i++
	}
	if i == 0 {
		return "", nil, "", errors.New("no metric name")
	}
	name, s = s[:i], s[i:]
	labels = map[string]string{}
	if !strings.HasPrefix(s, "{") {
		if s != "" && s[0] != ' ' && s[0] != '\t' {
			return "", nil, "", fmt.Errorf("unexpected %q after the name", s[:1])
		}
		return name, labels, strings.TrimSpace(s), nil
	}
	s = s[1:]
	for {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, "}") {
			return name, labels, strings.TrimSpace(s[1:]), nil
		}
		j := 0
		for j < len(s) && isNameByte(s[j], j == 0) && s[j] != ':' {
			j++
		}
		if j == 0 || j+1 >= len(s) || s[j] != '=' || s[j+1] != '"' {
			return "", nil, "", errors.New(`want label="value"`)
		}
		key := s[:j]
		value, after, ok := unquoteLabel(s[j+2:])
		if !ok {
			return "", nil, "", fmt.Errorf("label %s: unterminated value", key)
		}
		labels[key] = value
		s = strings.TrimLeft(after, " ")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return "", nil, "", fmt.Errorf("label %s: want , or } after the value", key)
		}
	}
}

// unquoteLabel reads a label value up to its closing quote.
func unquoteLabel(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// isNameByte reports whether c may appear in a metric or label name
// ([a-zA-Z_:][a-zA-Z0-9_:]*); digits not first.
func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// windowCounter reads one series from a server's metrics endpoint.
type windowCounter struct {
	url    string
	sel    seriesSelector
	client *http.Client
}

// newWindowCounter returns nil when no endpoint is configured.
func newWindowCounter(cfg *Config) (*windowCounter, error) {
	if cfg.CounterURL == "" {
		return nil, nil
	}
	sel, err := parseSelector(cfg.CounterSeries)
	if err != nil {
		return nil, err
	}
	return &windowCounter{url: cfg.CounterURL, sel: sel, client: &http.Client{Timeout: counterScrapeTimeout}}, nil
}

// read scrapes the endpoint once and sums the series.
func (c *windowCounter) read() (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), counterScrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExposition))
	if err != nil {
		return 0, fmt.Errorf("counter: %s: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("counter: %s: %s", c.url, resp.Status)
	}
	v, err := c.sel.sum(string(body))
	if err != nil {
		return 0, fmt.Errorf("counter: %s: %w", c.url, err)
	}
	return v, nil
}

// validateCounter checks the window counter's settings: an http URL on a
// loopback host unless AllowNonLoopback, a parsable series, and ServerPID,
// since the counter is read with the server's CPU clocks.
func (c *Config) validateCounter(bad func(string, any, string) error) error {
	if c.CounterURL == "" {
		if c.CounterSeries != "" {
			return bad("CounterSeries", c.CounterSeries, "needs CounterURL")
		}
		return nil
	}
	u, err := url.Parse(c.CounterURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("CounterURL", c.CounterURL, "must be an http or https URL")
	}
	if !c.AllowNonLoopback {
		ip, err := netip.ParseAddr(u.Hostname())
		if err != nil || !ip.Unmap().IsLoopback() {
			return bad("CounterURL", c.CounterURL, "is not on a loopback address (set AllowNonLoopback to read other hosts)")
		}
	}
	if _, err := parseSelector(c.CounterSeries); err != nil {
		return bad("CounterSeries", c.CounterSeries, err.Error())
	}
	if c.ServerPID == 0 {
		return bad("CounterURL", c.CounterURL, "needs ServerPID: the counter is read with the server's CPU clocks")
	}
	return nil
}
