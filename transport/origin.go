package transport

import "net/http"

// CheckOrigin applies the server's origin policy (see the package
// documentation, Origin policy) to r, a request for another endpoint of
// the same application that must follow the same rules, such as a
// Server-Sent Events stream. It sets the CORS response headers the
// Engine.IO endpoint would set and reports whether the request may
// proceed; on false the caller answers 403 and writes nothing else. A
// refusal is logged as the endpoint's own are.
func (s *Server) CheckOrigin(w http.ResponseWriter, r *http.Request) bool { return s.cors(w, r) }
