// Package cputime reads the CPU time (user and system) of processes, for
// the benchmarks that report CPU per operation: unlike wall-clock time per
// operation it does not grow when other processes compete for the cores.
//
// Place in the flow: beside it, measuring it.
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//	      [cputime: what each step costs in CPU, in the benchmarks]
//
// Self is this process (its goroutines and any in-process server
// included); Of is another process of this machine (a child process, a
// PostgreSQL backend), read from /proc. Host is the whole machine's idle
// and total CPU time, for telling a CPU-bound run from one that waits.
//
// It sits under decider, the lowest floor, so that the decider's own
// benchmarks can use it too; like decider it imports no network or
// database code.
package cputime
