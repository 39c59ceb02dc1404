package compat

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vicinity-go/vicinity/realtime"
)

// binDoc is what bin-struct binds the client's object into and sends back:
// []byte in struct fields, a slice, a map and an inner struct, which the
// server must send as attachments.
type binDoc struct {
	Name  string            `json:"name"`
	Data  []byte            `json:"data"`
	Parts [][]byte          `json:"parts"`
	Inner binInner          `json:"inner"`
	ByKey map[string][]byte `json:"byKey"`
	Any   any               `json:"any"`
}

type binInner struct {
	Blob []byte `json:"blob"`
	N    int    `json:"n"`
}

// binShapes describes v as path → type: "[]byte <hex>" for binary data,
// the Go type for the rest, objects and arrays walked into. The root is
// named by prefix.
func binShapes(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case []byte:
		out[prefix] = "[]byte " + hex.EncodeToString(v)
	case map[string]any:
		for k, x := range v {
			binShapes(prefix+"."+k, x, out)
		}
	case []any:
		for i, x := range v {
			binShapes(prefix+"."+strconv.Itoa(i), x, out)
		}
	default:
		out[prefix] = fmt.Sprintf("%T", v)
	}
}

// argShapes binds every argument into an any and describes them, argument
// i's paths starting with "i".
func argShapes(args realtime.Args) (map[string]string, error) {
	vals := make([]any, args.Len())
	dst := make([]any, len(vals))
	for i := range vals {
		dst[i] = &vals[i]
	}
	if err := args.Bind(dst...); err != nil {
		return nil, err
	}
	out := make(map[string]string)
	for i, v := range vals {
		binShapes(strconv.Itoa(i), v, out)
	}
	return out, nil
}

// registerBinary sets the handlers of binary.test.mjs.
func (e *env) registerBinary(s *realtime.Socket, tag string) {
	// bin-types acknowledges with the shapes of the arguments bound into
	// an any: a Buffer anywhere must be a []byte.
	s.On("bin-types", func(ev *realtime.Event) {
		shapes, err := argShapes(ev.Args)
		if err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = ev.Ack(shapes)
	})
	// echo-event emits the arguments back as "echoed", as they came.
	s.On("echo-event", func(ev *realtime.Event) { _ = s.Emit("echoed", ev.Values()...) })
	// bin-json acknowledges with Args.JSON of every argument, as strings.
	s.On("bin-json", func(ev *realtime.Event) {
		out := make([]string, ev.Len())
		for i := range out {
			out[i] = string(ev.JSON(i))
		}
		_ = ev.Ack(out)
	})
	// bin-struct binds its argument into a binDoc, emits it back as
	// "bin-struct-back" and acknowledges with it and the hex of its fields.
	s.On("bin-struct", func(ev *realtime.Event) {
		var d binDoc
		if err := ev.Bind(&d); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		seen := map[string]string{
			"data":       hex.EncodeToString(d.Data),
			"inner.blob": hex.EncodeToString(d.Inner.Blob),
		}
		for i, p := range d.Parts {
			seen["parts."+strconv.Itoa(i)] = hex.EncodeToString(p)
		}
		for k, b := range d.ByKey {
			seen["byKey."+k] = hex.EncodeToString(b)
		}
		binShapes("any", d.Any, seen)
		_ = s.Emit("bin-struct-back", d)
		_ = ev.Ack(d, seen)
	})
	// bin-push emits "pushed" and "pushed-map" with []byte built in Go at
	// every depth: top level, struct fields, a map, a slice of any, an
	// empty slice; and acknowledges with the struct.
	s.On("bin-push", func(ev *realtime.Event) {
		d := binDoc{
			Name:  "go",
			Data:  []byte{0, 1, 2, 255},
			Parts: [][]byte{{10}, {11, 12}},
			Inner: binInner{Blob: []byte("inner"), N: 7},
			ByKey: map[string][]byte{"k": {0xca, 0xfe}},
			Any:   []any{[]byte{1}, "text", map[string]any{"deep": []byte{2, 3}}},
		}
		m := map[string]any{
			"top":   []byte{0xde, 0xad},
			"list":  []any{[]byte{8}, "x", map[string][]byte{"deep": {9}}},
			"empty": []byte{},
		}
		// apart: socket.io-parser refuses packets of more than 10
		// attachments (its maxAttachments), whichever server sends them
		_ = s.Emit("pushed", []byte{0xbe, 0xef}, d)
		_ = s.Emit("pushed-map", m)
		_ = ev.Ack(d)
	})
	// bin-nil acknowledges with nil []byte: at the top level, in a map, in
	// struct fields with and without omitempty.
	s.On("bin-nil", func(ev *realtime.Event) {
		type doc struct {
			A []byte `json:"a"`
			B []byte `json:"b,omitempty"`
			C []byte `json:"c"`
		}
		_ = ev.Ack([]byte(nil), map[string]any{"nil": []byte(nil)}, doc{C: []byte{1}})
	})
	// bin-to-room relays the arguments after the first, with a []byte
	// added, to the room of the first ({room, token, fromSocket}) as
	// "room-bin", then sends "barrier" to the namespace.
	s.On("bin-to-room", func(ev *realtime.Event) {
		var req struct {
			Room       string `json:"room"`
			Token      string `json:"token"`
			FromSocket bool   `json:"fromSocket"`
		}
		if err := ev.Bind(&req); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		op := s.Namespace().To(req.Room)
		if req.FromSocket {
			op = s.To(req.Room)
		}
		args := append(ev.Values()[1:], map[string]any{"server": []byte{0x5e, 0x4e}})
		_ = op.Emit("room-bin", args...)
		_ = s.Namespace().Emit("barrier", req.Token)
		_ = ev.Ack()
	})
	// ask-room-bin asks the sockets of a room "room-question" with binary
	// arguments, waiting inline for every answer (the sender's too, if it
	// is in the room: its read loop takes the answer while this handler
	// waits), and acknowledges with the shapes of the answers, sorted.
	s.On("ask-room-bin", func(ev *realtime.Event) {
		var room string
		if err := ev.Bind(&room); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		answers, err := s.Namespace().To(room).EmitWithAck(ctx, "room-question", []byte{0xaa}, map[string]any{"k": []byte{0xbb}})
		if err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		out := make([]map[string]string, 0, len(answers))
		for _, a := range answers {
			shapes, err := argShapes(a)
			if err != nil {
				_ = ev.Ack(map[string]string{"error": err.Error()})
				return
			}
			out = append(out, shapes)
		}
		slices.SortFunc(out, func(x, y map[string]string) int { return strings.Compare(x["0"], y["0"]) })
		_ = ev.Ack(out)
	})
	// ask-bin asks the client "bin-question" with binary arguments, waiting
	// inline, and acknowledges with the client's answer as it came and with
	// its shapes.
	s.On("ask-bin", func(ev *realtime.Event) {
		ctx, cancel := context.WithTimeout(s.Context(), wait)
		defer cancel()
		answer, err := s.EmitWithAck(ctx, "bin-question", []byte{1, 2, 3}, map[string]any{"n": []byte{4}})
		if err != nil {
			e.rec.note(tag, "ask-bin: "+err.Error())
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		shapes, err := argShapes(answer)
		if err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = ev.Ack(answer.Values(), shapes)
	})
}
