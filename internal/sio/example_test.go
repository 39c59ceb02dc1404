package sio_test

import (
	"encoding/json"
	"fmt"

	"github.com/vicinity-go/vicinity/internal/sio"
)

func ExampleDecode() {
	p, err := sio.Decode([]byte(`2/admin,13["hello","world"]`), sio.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	name, args, _ := sio.EventName(p.Data)
	fmt.Println(p.Type, p.Namespace, p.ID, name, len(args))

	_, err = sio.Decode([]byte(`2["disconnect"]`), sio.Limits{})
	fmt.Println(err)
	// Output:
	// EVENT /admin 13 hello 1
	// sio: invalid packet: data not allowed for EVENT
}

func ExampleMarshalArgs() {
	data, atts, err := sio.MarshalArgs("upload", []any{"a.bin", []byte{1, 2, 3, 4}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := sio.Packet{Type: sio.BinaryEvent, Namespace: "/", Data: data, Attachments: len(atts)}
	fmt.Printf("%s + %d attachment\n", p.Append(nil), len(atts))
	// Output:
	// 51-["upload","a.bin",{"_placeholder":true,"num":0}] + 1 attachment
}

func ExampleReassembler() {
	r := sio.NewReassembler(sio.Limits{})
	messages := []struct {
		data   []byte
		binary bool
	}{
		{[]byte(`51-["upload",{"_placeholder":true,"num":0}]`), false},
		{[]byte{1, 2, 3, 4}, true},
	}
	for _, m := range messages {
		p, atts, done, err := r.Add(m.data, m.binary)
		if err != nil {
			fmt.Println(err)
			return
		}
		if !done {
			continue
		}
		data, err := sio.FillPlaceholders(p.Data, atts)
		if err != nil {
			fmt.Println(err)
			return
		}
		var body []byte
		var name string
		if err := json.Unmarshal(data, &[]any{&name, &body}); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, body)
	}
	// Output:
	// upload [1 2 3 4]
}
