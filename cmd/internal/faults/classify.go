package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// answerBody is an IM callback answer as the ingress documents it.
type answerBody struct {
	ActionStatus *string `json:"ActionStatus"`
	ErrorCode    *int    `json:"ErrorCode"`
	ErrorInfo    *string `json:"ErrorInfo"`
}

// ClassifyAnswer returns "" when (status, body) is an answer the ingress
// documents for case c sent to a service of app id app, else what is wrong:
//
//   - wrong SdkAppid: 403 FAIL/1;
//   - no CallbackCommand: 400 FAIL/1;
//   - an invite: 200 OK with ErrorCode 0 (allow, maybe with refused
//     members), 1 or 10100..10200 (reject); or 400/413 FAIL/1 for a body
//     that is not a valid callback;
//   - membership and unknown commands: 200 OK/0 whatever the body.
//
// Every FAIL answer carries a non-empty ErrorInfo.
func ClassifyAnswer(app string, c FuzzCase, status int, body []byte) string {
	var a answerBody
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Sprintf("status %d, body not JSON: %v", status, err)
	}
	if a.ActionStatus == nil || a.ErrorCode == nil || a.ErrorInfo == nil {
		return fmt.Sprintf("status %d, answer lacks ActionStatus, ErrorCode or ErrorInfo", status)
	}
	switch {
	case c.App != app:
		return wantFail(status, a, http.StatusForbidden)
	case c.Command == "":
		return wantFail(status, a, http.StatusBadRequest)
	case c.Command != commandInvite:
		if status != http.StatusOK || *a.ActionStatus != "OK" || *a.ErrorCode != 0 {
			return fmt.Sprintf("%s: status %d %s/%d, want 200 OK/0", c.Command, status, *a.ActionStatus, *a.ErrorCode)
		}
		return ""
	case status == http.StatusOK:
		code := *a.ErrorCode
		if *a.ActionStatus != "OK" || !(code == 0 || code == 1 || (code >= 10100 && code <= 10200)) {
			return fmt.Sprintf("invite: 200 %s/%d, want OK with 0, 1 or 10100..10200", *a.ActionStatus, code)
		}
		return ""
	}
	return wantFail(status, a, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
}

func wantFail(status int, a answerBody, statuses ...int) string {
	ok := false
	for _, s := range statuses {
		ok = ok || status == s
	}
	if !ok || *a.ActionStatus != "FAIL" || *a.ErrorCode != 1 || *a.ErrorInfo == "" {
		return fmt.Sprintf("status %d %s/%d %q, want FAIL/1 with ErrorInfo and status in %v",
			status, *a.ActionStatus, *a.ErrorCode, *a.ErrorInfo, statuses)
	}
	return ""
}
