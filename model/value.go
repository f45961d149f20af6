package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The JSON and UBJSON decoders both yield generic values (see decodeUBJSON); the
// helpers below read them without caring which encoding they came from. JSON
// numbers stay json.Number so that float32 fields parse straight to float32.

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON document")
	}
	return v, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any, []float32, []float64, []int64:
		return "array"
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "number"
}

func asObject(v any, what string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %s", what, typeName(v))
	}
	return m, nil
}

func member(m map[string]any, key string) (map[string]any, error) {
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("missing %q", key)
	}
	return asObject(v, key)
}

// asFloat reads a number, or a string holding one (xgboost writes parameters as
// strings).
func asFloat(v any, bits int) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), bits)
		return f, err == nil
	case float64:
		if bits == 32 {
			return float64(float32(x)), true
		}
		return x, true
	case int64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), bits)
		return f, err == nil
	}
	return 0, false
}

// asInt reads an integral number (or a string holding one).
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, true
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return i, true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	f, ok := asFloat(v, 64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// intParam reads an integer that may be missing (def) or written as a string.
func intParam(m map[string]any, key string, def int64) (int64, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	i, ok := asInt(v)
	if !ok {
		return 0, fmt.Errorf("%q: want an integer, got %v", key, v)
	}
	return i, nil
}

func float32s(v any, what string) ([]float32, error) {
	switch x := v.(type) {
	case []float32:
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil
	case []int64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			f, ok := asFloat(e, 32)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: want a number, got %s", what, i, typeName(e))
			}
			out[i] = float32(f)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("%s: want an array of numbers, got %s", what, typeName(v))
}

func int64s(v any, what string) ([]int64, error) {
	switch x := v.(type) {
	case []int64:
		return x, nil
	case []float32, []float64:
		fs, _ := float32s(x, what)
		if f64, ok := x.([]float64); ok {
			out := make([]int64, len(f64))
			for i, f := range f64 {
				if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					return nil, fmt.Errorf("%s[%d]: %v is not an integer", what, i, f)
				}
				out[i] = int64(f)
			}
			return out, nil
		}
		out := make([]int64, len(fs))
		for i, f := range fs {
			if float64(f) != math.Trunc(float64(f)) || math.Abs(float64(f)) > 1<<53 {
				return nil, fmt.Errorf("%s[%d]: %v is not an integer", what, i, f)
			}
			out[i] = int64(f)
		}
		return out, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			n, ok := asInt(e)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: want an integer, got %v", what, i, e)
			}
			out[i] = n
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("%s: want an array of integers, got %s", what, typeName(v))
}

func stringList(v any, what string) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: want a string, got %s", what, i, typeName(e))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want an array of strings, got %s", what, typeName(v))
}

// isJSONObject reports whether data looks like a JSON (not UBJSON) object: '{'
// followed by white space, '"' or '}'. UBJSON objects continue with a length marker.
func isJSONObject(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	switch data[1] {
	case ' ', '\t', '\r', '\n', '"', '}':
		return true
	}
	return false
}
