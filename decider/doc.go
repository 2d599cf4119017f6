// Package decider is the pure domain of invitegate: the policy language, its
// compiled snapshot, the decision for one Group.CallbackBeforeInviteJoinGroup
// callback, and the events that record decisions and membership changes.
//
// Place in the flow:
//
//	IM -> ingress -> [decider] -> JetStream -> projector -> Postgres and snapshot -> ingress
//
// The ingress parses a callback into a Request, asks an Engine for a Decision
// (a lock-free read of the current Snapshot behind an atomic pointer), answers
// IM, and publishes an InviteEvent built from the two. The package imports no
// network or database code, so everything here is tested with plain tables.
//
// A policy is a YAML (or JSON) Document:
//
//	apiVersion: invitegate/v1
//	lists:
//	  banned: [spammer1, spammer2]
//	rules:
//	  - name: banned-operator
//	    reject: operator in lists.banned
//	    error_code: 10101
//	    error_info: "You cannot invite users right now."
//	  - name: banned-member
//	    refuse_member: member in lists.banned
//
// ParseDocument and Compile turn it into a Snapshot; Compile validates
// everything and fails all-or-nothing with a *ValidationError listing every
// problem (errors.Is(err, ErrInvalidPolicy)), each reading like
//
//	rule "banned-member" (rules[1]): refuse_member: undefined list "bannd" (defined: banned, staff)
//
// # The policy log
//
// Every change is a Change event (ParseChange reads it as strict JSON:
// unknown fields, repeated keys and bytes that are not UTF-8 are errors), and
// a Fold applies events in stream order into Snapshots; WriteState and
// ReadState store a fold. With a Trust, only events signed by a trusted
// Ed25519 key apply (SigningKey.SignEvent, Trust.VerifyEvent; the key
// formats are those of openssl and OpenSSH, see policykeys.go).
//
// # Rules
//
// Each rule is a CEL expression of type bool over the variables operator,
// members, member (refuse_member only), group.id, group.type, platform,
// client_ip, app, event_time and lists (see the Var constants). Values are
// compared exactly as sent: platform == "iOS", not "ios". lists.NAME is a
// set: `x in lists.NAME` and size(lists.NAME) are its only operations, and
// a lookup costs the same for a list of ten entries or of a million.
//
// Snapshot.Decide applies the rules in document order: the first enforcing
// reject rule that matches rejects the request (its error_code, 1 by
// default or 10100..10200, and error_info); otherwise each member matched by
// an enforcing refuse_member rule is refused, naming the first such rule.
// Shadow rules are evaluated on every request and their would-be effect is
// recorded in Decision.Shadow. A rule whose evaluation fails (members[5]
// on a shorter list, int("abc")) counts as not matched and is named in
// Decision.RuleErrors; CEL's && and || absorb errors as usual.
//
// # Explaining and replaying
//
// Explain evaluates every rule of a snapshot on one request with CEL alone
// and returns a Trace (each rule's value, per member for refuse_member
// rules, shadow rules and errors included) beside the Decision; it is for
// people (invitegate policy explain) and never on the decision path. To
// let a candidate policy be replayed over recorded invites, a decision of
// a policy that reads statistics also records the values its rules did not
// need (Decision.StatsUnread, Decision.StatsKnown; Event schema 2), and
// RecordedStats serves them back as a StatsSource.
//
// # Performance
//
// Evaluating CEL costs hundreds of nanoseconds per expression, too much for
// every member of every rule. Compile therefore indexes rules: it reads the
// checked CEL AST and turns string equality, startsWith/endsWith/contains,
// `x in lists.NAME`, `x in ["literal", ...]`, !, && and || over operator,
// member, platform, client_ip, app and group into native predicates, and
// keeps CEL only for the rest. Whatever does not depend on member is
// evaluated once per request, and `member in lists.NAME` once per member
// however many rules ask. Tests compare every decision with CEL alone.
//
// Events travel as NDJSON batches (AppendEvent, DecodeBatch), and both
// directions are written by hand, without reflection, and held to
// encoding/json by tests and fuzzing: what AppendEvent writes decodes as
// encoding/json's output would, and DecodeEvent returns what
// encoding/json.Unmarshal would, errors included (a line its decoder is not
// certain of, such as invalid JSON, null or a repeated key, goes to
// encoding/json itself).
package decider
