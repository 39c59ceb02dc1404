package sio

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalidArgument is wrapped by [Args.Bind] errors.
var ErrInvalidArgument = errors.New("invalid argument")

// Args are the arguments of an event or an acknowledgement, as raw JSON. A
// binary attachment appears as a base64 JSON string (see
// [FillPlaceholders]), so it decodes into a []byte.
type Args []json.RawMessage

// Bind decodes the arguments, in order, into dst (pointers, as for
// json.Unmarshal); a nil entry skips its argument. Fewer arguments than dst
// is an error; extra arguments are ignored. Errors wrap
// [ErrInvalidArgument].
func (a Args) Bind(dst ...any) error {
	if len(a) < len(dst) {
		return fmt.Errorf("%w: %d arguments, want %d", ErrInvalidArgument, len(a), len(dst))
	}
	for i, d := range dst {
		if d == nil {
			continue
		}
		if err := json.Unmarshal(a[i], d); err != nil {
			return fmt.Errorf("%w %d: %w", ErrInvalidArgument, i, err)
		}
	}
	return nil
}
