package transport

import (
	"encoding/json"
	"net/http"
)

// ErrorCode is an Engine.IO error code, sent in the JSON body of a refused
// HTTP request.
type ErrorCode int

// The Engine.IO error codes.
const (
	CodeUnknownTransport           ErrorCode = 0 // HTTP 400 "Transport unknown"
	CodeUnknownSID                 ErrorCode = 1 // HTTP 400 "Session ID unknown"
	CodeBadHandshakeMethod         ErrorCode = 2 // HTTP 400 "Bad handshake method"
	CodeBadRequest                 ErrorCode = 3 // HTTP 400 "Bad request"
	CodeForbidden                  ErrorCode = 4 // HTTP 403 "Forbidden"
	CodeUnsupportedProtocolVersion ErrorCode = 5 // HTTP 400 "Unsupported protocol version"
)

var codeMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// WriteError refuses a request the way the Node.js server does: HTTP 403 for
// CodeForbidden, 400 otherwise, with a JSON body {"code":..,"message":..}.
// An empty message is the code's standard text.
func WriteError(w http.ResponseWriter, code ErrorCode, message string) {
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	writeJSONError(w, status, code, message)
}

func writeJSONError(w http.ResponseWriter, status int, code ErrorCode, message string) {
	if message == "" && int(code) < len(codeMessages) {
		message = codeMessages[code]
	}
	body, _ := json.Marshal(struct {
		Code    ErrorCode `json:"code"`
		Message string    `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
