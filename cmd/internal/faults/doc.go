// Package faults proves invitegate's two promises, every callback answered
// within IM's 2 s budget and no event lost, by breaking things under load and
// counting. Its place is around the whole flow:
//
//	[loadgen as IM] -> ingress -> decider -> JetStream -> projector -> Postgres
//	      ^ records every request      [faults: kill, cut, poison]     ^ checker reads
//
// The package holds the pieces; the scenarios are tests behind the build tag
// "faults" (make test-faults), the soak behind "soak" (make soak), the
// three-node cluster scenarios and capacity figures behind "cluster" (make
// test-cluster, make bench-cluster), and the side-by-side benchmarks in
// cmd/invitegate-dev use the same pieces.
//
//   - Build compiles the invitegate binary and a real nats-server (the v2.15
//     module of go.mod) into a directory.
//   - Process runs a child process, captures its output, waits for a ready
//     line and sends it signals; children die with the parent (Pdeathsig).
//     Invitegate and NATSServer are Processes that know their addresses;
//     a NATSServer restarts on the same port and store after a SIGKILL and
//     can be paused (SIGSTOP) to freeze its acknowledgements. With
//     NATSConfig.Shipped it runs the shipped compose configuration
//     (accounts, users, permissions) and tells each user's URL and the
//     permission violations it logged.
//   - NATSCluster starts three nats-servers from the shipped
//     deploy/k8s/base/nats.conf and its permissions file, with only the
//     addresses (random loopback client, route and monitoring ports), the
//     paths and the secrets (a fresh nkey per shipped user) filled in by
//     TemplateNATSConf; StreamLeader names the server leading a stream and
//     each node can be killed, frozen or put in lame duck mode.
//   - PGProxy is an in-process TCP proxy (toxiproxy v2.9) in front of
//     PostgreSQL that can blackhole (packets vanish) or refuse connections.
//   - Check is a set checker in the style of Jepsen's: every request loadgen
//     recorded is answered or not; every answered one is looked up in
//     PostgreSQL by its unique GroupId; Result.Line prints
//     "faults: <scenario>: attempted=N answered=N stored=N lost=N duplicated=N unexpected=N".
//   - Hostile clients: Slowloris, Oversized and FuzzBodies with
//     ClassifyAnswer, which accepts only the answers the ingress documents.
//   - Scrape reads a /metrics page into a map of series.
//
// Typical use in a scenario:
//
//	bins, _ := faults.Build(ctx, dir)
//	ns, _ := faults.StartNATSServer(ctx, faults.NATSConfig{Binary: bins.NATSServer, Dir: dir, SyncAlways: true})
//	ing, _ := faults.StartInvitegate(ctx, bins.Invitegate, "ingress", "--nats-url", ns.URL(), ...)
//	rep, _ := loadgen.Run(ctx, loadgen.Config{URL: ing.Callback, RecordFile: recPath, ...})
//	_ = ns.Kill(); ...; _ = ns.Start(ctx)
//	res, _ := faults.Check(ctx, dsn, records)
//	fmt.Println(res.Line("nats-sigkill"))
package faults
