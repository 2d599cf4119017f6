package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/invitegate/invitegate/ingress/ingresstest"
)

// WorstCaseReport is a run of the worst-case bodies (ingresstest.Bodies)
// against a real ingress.
type WorstCaseReport struct {
	Sent, Documented int64
	Slowest          time.Duration // longest wait for an answer
	SlowestBody      string
	Failures         []string
}

// RunWorstCase posts every worst-case body of at most maxBytes to the
// callback URL base, rounds times each, unsigned (what an attacker sends
// when authentication is off): each must be answered with its documented
// status and a JSON answer within IM's 2 s.
func RunWorstCase(ctx context.Context, base, app string, maxBytes, rounds int) WorstCaseReport {
	var rep WorstCaseReport
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	bodies := ingresstest.Bodies(maxBytes)
	for range rounds {
		for _, b := range bodies {
			if ctx.Err() != nil {
				return rep
			}
			rep.Sent++
			why, took := postWorstCase(ctx, client, CaseURL(base, FuzzCase{App: app, Command: commandInvite}), b)
			if took > rep.Slowest {
				rep.Slowest, rep.SlowestBody = took, b.Name
			}
			if why == "" && took >= 2*time.Second {
				why = fmt.Sprintf("answered in %s, past IM's 2 s", took)
			}
			if why != "" {
				if len(rep.Failures) < maxExamples {
					rep.Failures = append(rep.Failures, b.Name+": "+why)
				}
				continue
			}
			rep.Documented++
		}
	}
	return rep
}

func postWorstCase(ctx context.Context, client *http.Client, url string, b ingresstest.Body) (string, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.Data))
	if err != nil {
		return "new request: " + err.Error(), 0
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return "no answer: " + err.Error(), time.Since(start)
	}
	defer resp.Body.Close()
	var answer struct{ ActionStatus string }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	took := time.Since(start)
	switch {
	case resp.StatusCode != b.Status:
		return fmt.Sprintf("status %d, want %d", resp.StatusCode, b.Status), took
	case err != nil || answer.ActionStatus == "":
		return fmt.Sprintf("answer is not IM's JSON: %v", err), took
	}
	return "", took
}
