// Package ingresstest holds the worst-case callback bodies the ingress is
// held to: repeated keys, brace floods, deep nesting, megabyte strings,
// tens of thousands of tiny members, escapes. They sit in front of the
// data path (IM -> ingress): the ingress's fuzz seeds and benchmarks, and
// the hostile-clients fault scenario (cmd/internal/faults) against a real
// process, all send the same bodies.
//
// Every body answers within a small constant of work per byte; see
// ingress/README.md ("What is bounded and at what cost") for the figures.
package ingresstest
