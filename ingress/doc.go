// Package ingress is the HTTP edge of invitegate: it answers Tencent IM's
// callbacks within IM's 2 s budget.
//
// Place in the flow:
//
//	IM -> [ingress] -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//
// A Handler serves one callback URL. It checks the method, the SdkAppid and,
// with a CallbackToken, the Sign/RequestTime pair; then it dispatches on the
// CallbackCommand query parameter:
//
//   - Group.CallbackBeforeInviteJoinGroup: the body is parsed into a
//     decider.Request, decided by the decider.Engine, and answered with OK/0
//     (plus RefusedMembers_Account when someone is refused) or a rejection
//     with the rule's ErrorCode and ErrorInfo. Before the answer is written,
//     a decider.NewInviteEvent is handed to the EventSink.
//   - Group.CallbackAfterNewMemberJoin and Group.CallbackAfterMemberExit: answered
//     OK/0 and recorded as membership events (a malformed body is still
//     answered OK, since IM ignores the answer, but counted and logged).
//   - any other command: OK/0 at once, so enabling a new callback in the IM
//     console never blocks users.
//
// Every error answer is a 4xx with the JSON body
// {"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"<what is wrong>"} and is
// counted in invitegate_callback_errors_total{reason}.
//
// A Server runs two hardened http.Servers: the callback listener (HTTPAddr,
// only CallbackPath) and the admin listener (AdminAddr: /metrics, /healthz,
// /readyz). /readyz answers 200 only once the engine holds a policy snapshot.
//
//	h, err := ingress.NewHandler(cfg, ingress.Deps{Engine: engine, Registry: reg, Logger: log, Sink: outbox})
//	srv, err := ingress.NewServer(cfg, h)
//	err = srv.Start(ctx) // binds both ports now, serves in goroutines
//	defer srv.Stop(ctx)  // stops accepting, finishes in-flight requests
//
// The request body is read by a hand-written JSON parser (parse.go) that is
// fuzz-tested against encoding/json; answers are encoded by appending to
// pooled buffers. EventSink.Enqueue returns at once with the outbox's async
// durability (the outbox owns delivery), or once the event is durable
// (acknowledged by JetStream or fsynced to its spool) with sync durability,
// within the outbox's bound.
package ingress
