package realtime

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestV3Namespace(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, name, auth string }{
		{in: "/", name: "/"},
		{in: "/chat", name: "/chat"},
		{in: "/chat?token=x", name: "/chat", auth: `{"token":"x"}`},
		{in: "/chat?a=1&a=2&b=%20", name: "/chat", auth: `{"a":["1","2"],"b":" "}`},
		{in: "/chat?", name: "/chat", auth: `{}`},
		{in: "/?bad=%zz&ok=a+b", name: "/", auth: `{"bad":"%zz","ok":"a b"}`},
	}
	for _, tt := range tests {
		name, auth := v3Namespace(tt.in)
		assert.Equal(t, tt.name, name, "%q", tt.in)
		if tt.auth == "" {
			assert.Nil(t, auth, "%q", tt.in)
		} else {
			assert.JSONEq(t, tt.auth, string(auth), "%q", tt.in)
		}
	}
}

// A Socket.IO 2 client gets the refusal's data, or its message, as Node
// sends them.
func TestV3ErrorPayload(t *testing.T) {
	t.Parallel()
	assert.JSONEq(t, `{"code":4}`, string(v3ErrorPayload(&ConnectError{Message: "no", Data: map[string]int{"code": 4}})))
	assert.JSONEq(t, `"no"`, string(v3ErrorPayload(&ConnectError{Message: "no"})))
	assert.JSONEq(t, `"plain"`, string(v3ErrorPayload(errors.New("plain"))))
	assert.JSONEq(t, `"no"`, string(v3ErrorPayload(&ConnectError{Message: "no", Data: 0})), "err.data || err.message")
	assert.JSONEq(t, `"no"`, string(v3ErrorPayload(&ConnectError{Message: "no", Data: ""})))
}
