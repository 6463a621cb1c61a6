// Package archtest holds the test that keeps docs/architecture.md's package
// graph true and the layering rules of the module enforced. It has no code of
// its own; see graph_test.go.
package archtest
