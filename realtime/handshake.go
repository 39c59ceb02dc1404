package realtime

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Handshake is what a client sent when it connected to a namespace, in the
// shape of the Node.js server's socket.handshake. Its JSON encoding (in
// [SocketInfo], for tools and cluster adapters) is Node's too:
//
//	{"headers": {"user-agent": "…"}, "time": "Wed Dec 02 2026 23:29:08 GMT+0000 (Coordinated Universal Time)",
//	 "address": "127.0.0.1", "xdomain": false, "secure": false, "issued": 1796254148000,
//	 "url": "/socket.io/?EIO=4&transport=polling&t=…", "query": {"EIO": "4", …}, "auth": {}}
type Handshake struct {
	// Headers are the headers of the Engine.IO handshake request, Host
	// included.
	Headers http.Header
	// Time is when the socket connected to its namespace; "issued" in
	// JSON is the same instant in milliseconds.
	Time time.Time
	// Address is the client's IP address, without the port.
	Address string
	// XDomain reports whether the request was cross-origin: it had an
	// Origin header.
	XDomain bool
	// Secure reports whether the request came over TLS.
	Secure bool
	// URL is the handshake request's path and query.
	URL string
	// Query is the handshake request's query.
	Query url.Values
	// Auth is the CONNECT packet's payload, a JSON object; {} when the
	// client sent none.
	Auth json.RawMessage
}

// emptyAuth is the auth of a client that sent none.
var emptyAuth = json.RawMessage("{}")

// newHandshake returns the part of a handshake every socket of the
// connection opened by r shares.
func newHandshake(r *http.Request) *Handshake {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	headers := r.Header.Clone()
	if headers == nil {
		headers = make(http.Header)
	}
	if r.Host != "" {
		headers.Set("Host", r.Host) // net/http moves it out of Header; Node keeps it
	}
	return &Handshake{
		Headers: headers,
		Address: addr,
		XDomain: r.Header.Get("Origin") != "",
		Secure:  r.TLS != nil,
		URL:     r.URL.RequestURI(),
		Query:   r.URL.Query(),
		Auth:    emptyAuth,
	}
}

// jsDate is how JavaScript's Date.prototype.toString writes a time, in UTC.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700"

// singleHeaders are the headers of which Node.js keeps the first value
// (http.IncomingMessage.headers).
var singleHeaders = map[string]bool{
	"age": true, "authorization": true, "content-length": true, "content-type": true, "etag": true,
	"expires": true, "from": true, "host": true, "if-modified-since": true, "if-unmodified-since": true,
	"last-modified": true, "location": true, "max-forwards": true, "proxy-authorization": true,
	"referer": true, "retry-after": true, "server": true, "user-agent": true,
}

// handshakeJSON is the JSON shape of a Handshake, Node's.
type handshakeJSON struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// MarshalJSON writes the handshake as the Node.js server does: header names
// in lower case, each with its values joined ("; " for cookies, ", " for
// most) except set-cookie, an array, and the headers Node keeps the first
// value of (host, user-agent, authorization…); the time as JavaScript's
// Date string in UTC and as "issued" milliseconds; a query key with one
// value as a string, with more as an array.
func (h Handshake) MarshalJSON() ([]byte, error) {
	j := handshakeJSON{
		Headers: make(map[string]any, len(h.Headers)),
		Time:    h.Time.UTC().Format(jsDate) + " (Coordinated Universal Time)",
		Address: h.Address,
		XDomain: h.XDomain,
		Secure:  h.Secure,
		Issued:  h.Time.UnixMilli(),
		URL:     h.URL,
		Query:   make(map[string]any, len(h.Query)),
		Auth:    h.Auth,
	}
	for k, vs := range h.Headers {
		if len(vs) == 0 {
			continue
		}
		switch k = strings.ToLower(k); {
		case k == "set-cookie":
			j.Headers[k] = vs
		case k == "cookie":
			j.Headers[k] = strings.Join(vs, "; ")
		case singleHeaders[k]:
			j.Headers[k] = vs[0]
		default:
			j.Headers[k] = strings.Join(vs, ", ")
		}
	}
	for k, vs := range h.Query {
		if len(vs) == 1 {
			j.Query[k] = vs[0]
		} else {
			j.Query[k] = vs
		}
	}
	if len(j.Auth) == 0 {
		j.Auth = emptyAuth
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a handshake in the shape MarshalJSON writes, as a
// Node.js server of the cluster sends it.
func (h *Handshake) UnmarshalJSON(b []byte) error {
	var j handshakeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*h = Handshake{
		Headers: make(http.Header, len(j.Headers)),
		Address: j.Address,
		XDomain: j.XDomain,
		Secure:  j.Secure,
		URL:     j.URL,
		Query:   make(url.Values, len(j.Query)),
		Auth:    j.Auth,
	}
	switch {
	case j.Issued != 0:
		h.Time = time.UnixMilli(j.Issued)
	case len(j.Time) >= len(jsDate):
		h.Time, _ = time.Parse(jsDate, j.Time[:len(jsDate)])
	}
	for k, v := range j.Headers {
		vs, err := stringOrStrings(v)
		if err != nil {
			return fmt.Errorf("realtime: handshake header %q: %w", k, err)
		}
		h.Headers[http.CanonicalHeaderKey(k)] = vs
	}
	for k, v := range j.Query {
		vs, err := stringOrStrings(v)
		if err != nil {
			return fmt.Errorf("realtime: handshake query %q: %w", k, err)
		}
		h.Query[k] = vs
	}
	if len(h.Auth) == 0 || string(h.Auth) == "null" {
		h.Auth = emptyAuth
	}
	return nil
}

// stringOrStrings reads a JSON string or array of strings decoded into v.
func stringOrStrings(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("not a string: %v", e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a string: %v", v)
}
