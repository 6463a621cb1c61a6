package check

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const dockerfile = "../Dockerfile"

// dockerInstruction is one Dockerfile instruction with its continuation lines joined.
type dockerInstruction struct {
	keyword string
	args    string
}

func readDockerfile(t *testing.T) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var pending strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if rest, continued := strings.CutSuffix(trimmed, "\\"); continued {
			pending.WriteString(rest + " ")
			continue
		}
		pending.WriteString(trimmed)
		keyword, args, _ := strings.Cut(pending.String(), " ")
		out = append(out, dockerInstruction{strings.ToUpper(keyword), strings.TrimSpace(args)})
		pending.Reset()
	}
	return out
}

// No Docker engine runs on the project's machines, so the image cannot be built
// here; this pins what the brief asks of the Dockerfile: a multi-stage static
// build, a distroless or scratch base, a non-root user and the relay's ports.
func TestDockerfileShape(t *testing.T) {
	instructions := readDockerfile(t)
	var froms, runs, users, exposes, entrypoints, envs []string
	for _, in := range instructions {
		switch in.keyword {
		case "FROM":
			froms = append(froms, in.args)
		case "RUN":
			runs = append(runs, in.args)
		case "USER":
			users = append(users, in.args)
		case "EXPOSE":
			exposes = append(exposes, strings.Fields(in.args)...)
		case "ENTRYPOINT":
			entrypoints = append(entrypoints, in.args)
		case "ENV":
			envs = append(envs, in.args)
		}
	}
	if len(froms) < 2 || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("FROM lines = %q, want a build stage named build and a runtime stage", froms)
	}
	if final := froms[len(froms)-1]; final != "scratch" && !strings.HasPrefix(final, "gcr.io/distroless/static") {
		t.Errorf("runtime base = %q, want distroless static or scratch", final)
	}
	build := slices.IndexFunc(runs, func(r string) bool { return strings.Contains(r, "go build") })
	if build < 0 || !strings.Contains(runs[build], "-trimpath") || !strings.Contains(runs[build], "./cmd/turnstile") {
		t.Errorf("want a `go build -trimpath … ./cmd/turnstile` step, got RUN %q", runs)
	}
	if !slices.Contains(envs, "CGO_ENABLED=0") && (build < 0 || !strings.Contains(runs[build], "CGO_ENABLED=0")) {
		t.Error("the build must set CGO_ENABLED=0 for a static binary")
	}
	if len(users) == 0 {
		t.Error("no USER: the image would run as root")
	} else if u := users[len(users)-1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("USER %q is root", u)
	}
	for _, port := range []string{"3478/udp", "3478/tcp", "5349/tcp", "9464/tcp"} {
		if !slices.Contains(exposes, port) {
			t.Errorf("EXPOSE lacks %s (have %q)", port, exposes)
		}
	}
	if len(entrypoints) != 1 || entrypoints[0] != `["/usr/local/bin/turnstile"]` {
		t.Errorf("ENTRYPOINT = %q, want the turnstile binary in exec form", entrypoints)
	}
}
