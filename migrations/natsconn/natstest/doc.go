// Package natstest starts the embedded NATS server for tests and
// benchmarks: a JetStream server with its store in a temporary directory,
// reached in-process (Connect) or on a random port (Dial), shut down at
// the test's cleanup. Its place in the flow: none; it stands in for the NATS server
// every role of the binary connects to (migrations/natsconn), the way
// net/http/httptest stands in for an HTTP server.
package natstest
