package redis

import (
	"encoding/binary"
	"errors"
)

// errMsgpack reports msgpack that readMsgpack does not take.
var errMsgpack = errors.New("redis presence: bad msgpack")

// maxMsgpackDepth bounds the nesting readMsgpack follows: the presence
// scripts write three levels.
const maxMsgpackDepth = 8

// readMsgpack reads one msgpack value of the kinds the presence scripts
// write (Lua's cmsgpack: arrays, strings, integers, nil, booleans) from b:
// an array as []any, a string or binary as string, an integer as int64.
// It returns the bytes after it.
func readMsgpack(b []byte, depth int) (any, []byte, error) {
	if len(b) == 0 || depth > maxMsgpackDepth {
		return nil, nil, errMsgpack
	}
	c, b := b[0], b[1:]
	switch {
	case c <= 0x7f:
		return int64(c), b, nil
	case c >= 0xe0:
		return int64(int8(c)), b, nil
	case c >= 0xa0 && c <= 0xbf:
		return readStr(b, int(c&0x1f))
	case c >= 0x90 && c <= 0x9f:
		return readArray(b, int(c&0x0f), depth)
	}
	switch c {
	case 0xc0:
		return nil, b, nil
	case 0xc2, 0xc3:
		return c == 0xc3, b, nil
	case 0xd9, 0xc4: // str 8, bin 8
		n, b, err := readLen(b, 1)
		if err != nil {
			return nil, nil, err
		}
		return readStr(b, n)
	case 0xda, 0xc5:
		n, b, err := readLen(b, 2)
		if err != nil {
			return nil, nil, err
		}
		return readStr(b, n)
	case 0xdb, 0xc6:
		n, b, err := readLen(b, 4)
		if err != nil {
			return nil, nil, err
		}
		return readStr(b, n)
	case 0xdc:
		n, b, err := readLen(b, 2)
		if err != nil {
			return nil, nil, err
		}
		return readArray(b, n, depth)
	case 0xdd:
		n, b, err := readLen(b, 4)
		if err != nil {
			return nil, nil, err
		}
		return readArray(b, n, depth)
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << ((c - 0xcc) & 3)
		if len(b) < size {
			return nil, nil, errMsgpack
		}
		var u uint64
		for _, x := range b[:size] {
			u = u<<8 | uint64(x)
		}
		v := int64(u)
		if c >= 0xd0 { // signed: extend
			shift := 64 - 8*size
			v = int64(u<<shift) >> shift
		}
		return v, b[size:], nil
	}
	return nil, nil, errMsgpack
}

// readLen reads a big-endian length of size bytes.
func readLen(b []byte, size int) (int, []byte, error) {
	if len(b) < size {
		return 0, nil, errMsgpack
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b))
	default:
		n = uint64(binary.BigEndian.Uint32(b))
	}
	if n > uint64(len(b)-size) { // every element is at least a byte
		return 0, nil, errMsgpack
	}
	return int(n), b[size:], nil
}

func readStr(b []byte, n int) (any, []byte, error) {
	if len(b) < n {
		return nil, nil, errMsgpack
	}
	return string(b[:n]), b[n:], nil
}

func readArray(b []byte, n, depth int) (any, []byte, error) {
	if n > len(b) {
		return nil, nil, errMsgpack
	}
	arr := make([]any, n)
	for i := range arr {
		var err error
		if arr[i], b, err = readMsgpack(b, depth+1); err != nil {
			return nil, nil, err
		}
	}
	return arr, b, nil
}
