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
// Parse and Compile turn it into a Snapshot; Compile validates everything and
// fails all-or-nothing with a *ValidationError listing every problem.
package decider
