package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// decodeUBJSON decodes the Universal Binary JSON that xgboost writes for .ubj model
// files into the same generic values the JSON path yields: map[string]any, []any,
// string, bool, nil, int64 and float64 for scalars, and, for strongly typed counted
// arrays ("[$d#", "[$l#", "[$U#", ...), []float32, []float64 or []int64 so that large
// per-node arrays decode without boxing every element.
//
// Every count is checked against the bytes left before anything is allocated, and
// nesting is bounded, so a corrupt or hostile file yields an error, never a panic or
// a huge allocation.
func decodeUBJSON(data []byte) (any, error) {
	d := ubjDecoder{buf: data}
	v, err := d.value(0)
	if err != nil {
		return nil, fmt.Errorf("ubjson: offset %d: %w", d.off, err)
	}
	for d.off < len(d.buf) && d.buf[d.off] == 'N' { // trailing no-ops
		d.off++
	}
	if d.off != len(d.buf) {
		return nil, fmt.Errorf("ubjson: offset %d: %d trailing bytes after the document", d.off, len(d.buf)-d.off)
	}
	return v, nil
}

const ubjMaxDepth = 128

var errUBJTruncated = errors.New("unexpected end of data")

type ubjDecoder struct {
	buf []byte
	off int
}

func (d *ubjDecoder) need(n int) ([]byte, error) {
	if n < 0 || n > len(d.buf)-d.off {
		return nil, errUBJTruncated
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *ubjDecoder) byte() (byte, error) {
	b, err := d.need(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// marker returns the next type marker, skipping no-op 'N' markers.
func (d *ubjDecoder) marker() (byte, error) {
	for {
		m, err := d.byte()
		if err != nil || m != 'N' {
			return m, err
		}
	}
}

// intOf reads an integer payload of type m.
func (d *ubjDecoder) intOf(m byte) (int64, error) {
	switch m {
	case 'i':
		b, err := d.need(1)
		if err != nil {
			return 0, err
		}
		return int64(int8(b[0])), nil
	case 'U':
		b, err := d.need(1)
		if err != nil {
			return 0, err
		}
		return int64(b[0]), nil
	case 'I':
		b, err := d.need(2)
		if err != nil {
			return 0, err
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		b, err := d.need(4)
		if err != nil {
			return 0, err
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 'L':
		b, err := d.need(8)
		if err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("marker %q is not an integer type", m)
}

// length reads a length: an integer marker and its payload, which must be >= 0.
func (d *ubjDecoder) length() (int, error) {
	m, err := d.marker()
	if err != nil {
		return 0, err
	}
	n, err := d.intOf(m)
	if err != nil {
		return 0, fmt.Errorf("length: %w", err)
	}
	if n < 0 || n > int64(len(d.buf)) {
		return 0, fmt.Errorf("length %d out of range", n)
	}
	return int(n), nil
}

func (d *ubjDecoder) str() (string, error) {
	n, err := d.length()
	if err != nil {
		return "", err
	}
	b, err := d.need(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *ubjDecoder) value(depth int) (any, error) {
	m, err := d.marker()
	if err != nil {
		return nil, err
	}
	return d.valueOf(m, depth)
}

// valueOf reads the payload of a value whose marker m was already read.
func (d *ubjDecoder) valueOf(m byte, depth int) (any, error) {
	switch m {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L':
		return d.intOf(m)
	case 'd':
		b, err := d.need(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 'D':
		b, err := d.need(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case 'C':
		b, err := d.need(1)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case 'S':
		return d.str()
	case 'H':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("high-precision number %q: %w", s, err)
		}
		return f, nil
	case '[':
		if depth >= ubjMaxDepth {
			return nil, errors.New("nesting too deep")
		}
		return d.array(depth + 1)
	case '{':
		if depth >= ubjMaxDepth {
			return nil, errors.New("nesting too deep")
		}
		return d.object(depth + 1)
	}
	return nil, fmt.Errorf("unknown marker %q", m)
}

// header reads the optional "$type" and "#count" of a container. count is -1 when
// absent.
func (d *ubjDecoder) header() (typ byte, count int, err error) {
	count = -1
	if d.off < len(d.buf) && d.buf[d.off] == '$' {
		d.off++
		if typ, err = d.byte(); err != nil {
			return 0, 0, err
		}
		if d.off >= len(d.buf) || d.buf[d.off] != '#' {
			return 0, 0, errors.New("typed container without a count")
		}
	}
	if d.off < len(d.buf) && d.buf[d.off] == '#' {
		d.off++
		if count, err = d.length(); err != nil {
			return 0, 0, err
		}
	}
	return typ, count, nil
}

func ubjSize(typ byte) int {
	switch typ {
	case 'i', 'U', 'C':
		return 1
	case 'I':
		return 2
	case 'l', 'd':
		return 4
	case 'L', 'D':
		return 8
	case 'Z', 'T', 'F', 'N':
		return 0
	}
	return 1 // variable-size values take at least one byte
}

func (d *ubjDecoder) array(depth int) (any, error) {
	typ, count, err := d.header()
	if err != nil {
		return nil, err
	}
	if count >= 0 {
		// Even elements without a payload (null, true, false) count one byte each
		// here, so a count can never ask for more than the file's size in values.
		sz := max(ubjSize(typ), 1)
		if count > (len(d.buf)-d.off)/sz {
			return nil, fmt.Errorf("array of %d elements longer than the data left", count)
		}
	}
	switch {
	case count >= 0 && typ == 'd':
		out := make([]float32, count)
		b, _ := d.need(4 * count)
		for i := range out {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
		}
		return out, nil
	case count >= 0 && typ == 'D':
		out := make([]float64, count)
		b, _ := d.need(8 * count)
		for i := range out {
			out[i] = math.Float64frombits(binary.BigEndian.Uint64(b[8*i:]))
		}
		return out, nil
	case count >= 0 && (typ == 'i' || typ == 'U' || typ == 'I' || typ == 'l' || typ == 'L'):
		out := make([]int64, count)
		for i := range out {
			if out[i], err = d.intOf(typ); err != nil {
				return nil, err
			}
		}
		return out, nil
	case count >= 0:
		out := make([]any, count)
		for i := range out {
			if typ != 0 {
				out[i], err = d.valueOf(typ, depth)
			} else {
				out[i], err = d.value(depth)
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var out []any
	for {
		m, err := d.marker()
		if err != nil {
			return nil, err
		}
		if m == ']' {
			return out, nil
		}
		v, err := d.valueOf(m, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (d *ubjDecoder) object(depth int) (any, error) {
	typ, count, err := d.header()
	if err != nil {
		return nil, err
	}
	if count > len(d.buf)-d.off {
		return nil, fmt.Errorf("object of %d members longer than the data left", count)
	}
	out := make(map[string]any)
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			for d.off < len(d.buf) && d.buf[d.off] == 'N' {
				d.off++
			}
			if d.off < len(d.buf) && d.buf[d.off] == '}' {
				d.off++
				return out, nil
			}
		}
		k, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("object key: %w", err)
		}
		var v any
		if typ != 0 {
			v, err = d.valueOf(typ, depth)
		} else {
			v, err = d.value(depth)
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}
