package scripttest

import "testing"

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct{ want, got, diff string }{
		{"a\nb\nc", "a\nb\nc", ""},
		{"a\nb\nc", "a\nx\nc", "line 2: + x\nline 2: - b\n"},
		{"a\nc", "a\nb\nc", "line 2: + b\n"},
	} {
		if d := LineDiff(tc.want, tc.got); d != tc.diff {
			t.Errorf("LineDiff(%q, %q) =\n%q\nwant\n%q", tc.want, tc.got, d, tc.diff)
		}
	}
}
