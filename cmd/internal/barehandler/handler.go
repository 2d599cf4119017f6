package barehandler

import (
	"encoding/json"
	"errors"
	"net/http"
)

// maxBody bounds the request body, as any real handler must.
const maxBody = 1 << 20

// request is the callback body: the invite's fields (membership callbacks
// carry other list names and decode to empty members).
type request struct {
	CallbackCommand    string `json:"CallbackCommand"`
	GroupID            string `json:"GroupId"`
	Type               string `json:"Type"`
	Operator           string `json:"Operator_Account"`
	DestinationMembers []struct {
		Member string `json:"Member_Account"`
	} `json:"DestinationMembers"`
	EventTime json.RawMessage `json:"EventTime"` // a string or a number
}

type answer struct {
	ActionStatus string   `json:"ActionStatus"`
	ErrorCode    int      `json:"ErrorCode"`
	ErrorInfo    string   `json:"ErrorInfo"`
	Refused      []string `json:"RefusedMembers_Account,omitempty"`
}

const commandInvite = "Group.CallbackBeforeInviteJoinGroup"

// New returns the bare handler. It is stateless and safe for concurrent use.
func New() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, answer{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "POST only"})
		return
	}
	var req request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, answer{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "bad body: " + err.Error()})
		return
	}
	ans := answer{ActionStatus: "OK"}
	if req.CallbackCommand == commandInvite && len(req.DestinationMembers) > 0 {
		ans.Refused = []string{req.DestinationMembers[0].Member}
	}
	writeJSON(w, http.StatusOK, ans)
}

func writeJSON(w http.ResponseWriter, status int, a answer) {
	data, err := json.Marshal(a)
	if err != nil { // cannot happen for this type
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}
