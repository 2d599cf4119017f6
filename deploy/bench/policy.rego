# policy.yaml's decisions in Rego, for `opa run --server` in the side-by-side
# benchmarks (make bench-compare). OPA answers POST / (its simple API: the
# body is the input) with the value of data.invitegate.answer, set as
# default_decision, which is already IM's answer.
package invitegate

staff := {"admin", "support"}

banned_operators := {"banned-0", "banned-1", "banned-2", "banned-3", "banned-4", "banned-5", "banned-6", "banned-7", "banned-8", "banned-9", "banned-10", "banned-11", "banned-12", "banned-13", "banned-14", "banned-15", "banned-16", "banned-17", "banned-18", "banned-19", "banned-20", "banned-21", "banned-22", "banned-23", "banned-24", "banned-25", "banned-26", "banned-27", "banned-28", "banned-29", "banned-30", "banned-31", "banned-32", "banned-33", "banned-34", "banned-35", "banned-36", "banned-37", "banned-38", "banned-39", "banned-40", "banned-41", "banned-42", "banned-43", "banned-44", "banned-45", "banned-46", "banned-47", "banned-48", "banned-49"}

banned_members := {"banned-0", "banned-1", "banned-2", "banned-3", "banned-4", "banned-5", "banned-6", "banned-7", "banned-8", "banned-9", "banned-10", "banned-11", "banned-12", "banned-13", "banned-14", "banned-15", "banned-16", "banned-17", "banned-18", "banned-19", "banned-20", "banned-21", "banned-22", "banned-23", "banned-24", "banned-25", "banned-26", "banned-27", "banned-28", "banned-29", "banned-30", "banned-31", "banned-32", "banned-33", "banned-34", "banned-35", "banned-36", "banned-37", "banned-38", "banned-39", "banned-40", "banned-41", "banned-42", "banned-43", "banned-44", "banned-45", "banned-46", "banned-47", "banned-48", "banned-49", "banned-50", "banned-51", "banned-52", "banned-53", "banned-54", "banned-55", "banned-56", "banned-57", "banned-58", "banned-59", "banned-60", "banned-61", "banned-62", "banned-63", "banned-64", "banned-65", "banned-66", "banned-67", "banned-68", "banned-69", "banned-70", "banned-71", "banned-72", "banned-73", "banned-74", "banned-75", "banned-76", "banned-77", "banned-78", "banned-79", "banned-80", "banned-81", "banned-82", "banned-83", "banned-84", "banned-85", "banned-86", "banned-87", "banned-88", "banned-89", "banned-90", "banned-91", "banned-92", "banned-93", "banned-94", "banned-95", "banned-96", "banned-97", "banned-98", "banned-99"}

members := [m.Member_Account | some m in input.DestinationMembers]

# The first matching reject rule, in document order.
reject := {"code": 10101, "info": "You cannot invite users right now."} if {
	input.Operator_Account in banned_operators
} else := {"code": 1, "info": ""} if {
	input.Type == "Community"
	not input.Operator_Account in staff
}

refused := [m | some m in members; m in banned_members]

answer := {"ActionStatus": "OK", "ErrorCode": reject.code, "ErrorInfo": reject.info} if {
	reject
} else := {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "RefusedMembers_Account": refused} if {
	count(refused) > 0
} else := {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
