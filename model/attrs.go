package model

import (
	"fmt"
	"math"
	"sort"
)

// maxExactInt is the largest integer a JSON number (float64) holds exactly.
const maxExactInt = 1 << 53

// Int returns the integer attribute name, or def when it is absent. A JSON
// number with a fractional part or outside +-2^53 is an error.
func (a Attributes) Int(name string, def int64) (int64, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	n, err := toInt(v)
	if err != nil {
		return 0, fmt.Errorf("attribute %q: %w", name, err)
	}
	return n, nil
}

// Ints returns the integer-list attribute name, or def when it is absent.
func (a Attributes) Ints(name string, def []int64) ([]int64, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case []int64:
		return append([]int64(nil), x...), nil
	default:
		return nil, fmt.Errorf("attribute %q: want a list of integers, got %s", name, describe(v))
	}
	out := make([]int64, len(list))
	for i, e := range list {
		n, err := toInt(e)
		if err != nil {
			return nil, fmt.Errorf("attribute %q[%d]: %w", name, i, err)
		}
		out[i] = n
	}
	return out, nil
}

// Float returns the numeric attribute name, or def when it is absent.
func (a Attributes) Float(name string, def float64) (float64, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("attribute %q: want a finite number, got %v", name, x)
		}
		return x, nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	}
	return 0, fmt.Errorf("attribute %q: want a number, got %s", name, describe(v))
}

// Bool returns the boolean attribute name, or def when it is absent. The
// numbers 0 and 1 are accepted as false and true (ONNX stores flags as ints).
func (a Attributes) Bool(name string, def bool) (bool, error) {
	v, ok := a[name]
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	}
	return false, fmt.Errorf("attribute %q: want true or false, got %s", name, describe(v))
}

// Names returns the attribute names in sorted order.
func (a Attributes) Names() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > maxExactInt {
			return 0, fmt.Errorf("want an integer, got %v", x)
		}
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	}
	return 0, fmt.Errorf("want an integer, got %s", describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case string:
		return fmt.Sprintf("string %q", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
