package kpu

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// This file holds the typed readers over a decoded config document: both
// JSON (decoded with UseNumber) and YAML (decoded by yaml.v3) become trees of
// map[string]any, []any and scalars, and these functions turn one scalar into
// the Go type a field needs, with an error that says what was found.

// describeValue names a decoded value for an error message.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case json.Number:
		return "number " + x.String()
	case int, int64, uint64, float64:
		return fmt.Sprintf("number %v", x)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// asInt reads an integer that must fit in int64.
func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d overflows int64", x)
		}
		return int64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("want an integer, got number %s (out of range)", x)
		}
		return floatToInt(f)
	case float64:
		return floatToInt(x)
	}
	return 0, fmt.Errorf("want an integer, got %s", describeValue(v))
}

func floatToInt(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want an integer, got %v", f)
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("want an integer, got %v", f)
	}
	if f >= 9.223372036854775807e18 || f < -9.223372036854775808e18 {
		return 0, fmt.Errorf("%g overflows int64", f)
	}
	return int64(f), nil
}

// asFloat reads a number.
func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("want a number, got %s (out of range)", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number, got %s", describeValue(v))
}

// asString reads a string.
func asString(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("want a string, got %s", describeValue(v))
}

// asBool reads a boolean.
func asBool(v any) (bool, error) {
	if b, ok := v.(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %s", describeValue(v))
}

// asMap reads a mapping with string keys.
func asMap(v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("mapping keys must be strings, got %s", describeValue(k))
			}
			out[ks] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a mapping, got %s", describeValue(v))
}

// joinKey builds a dotted key path.
func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// normalizeMachineName maps a machine name such as "Edge AI KPU" or
// "edge-ai" to the preset spelling "edge_ai".
func normalizeMachineName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "_", "-", "_").Replace(s)
	s = strings.TrimSuffix(s, "_kpu")
	s = strings.TrimPrefix(s, "kpu_")
	return s
}
