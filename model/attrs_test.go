package model

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAttributes(t *testing.T) {
	a := Attributes{"i": 3.0, "f": 2.5, "b": true, "b1": 1.0, "l": []any{1.0, -2.0}, "s": "x", "big": 1e300,
		"frac": []any{1.0, 0.5}}
	if v, err := a.Int("i", 0); v != 3 || err != nil {
		t.Errorf("Int(i) = %d, %v", v, err)
	}
	if v, err := a.Int("missing", 7); v != 7 || err != nil {
		t.Errorf("Int(missing) = %d, %v", v, err)
	}
	if v, err := a.Float("f", 0); v != 2.5 || err != nil {
		t.Errorf("Float(f) = %v, %v", v, err)
	}
	if v, err := a.Bool("b1", false); !v || err != nil {
		t.Errorf("Bool(b1) = %v, %v", v, err)
	}
	if v, err := a.Ints("l", nil); err != nil || !cmp.Equal(v, []int64{1, -2}) {
		t.Errorf("Ints(l) = %v, %v", v, err)
	}
	if diff := cmp.Diff([]string{"b", "b1", "big", "f", "frac", "i", "l", "s"}, a.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	errs := []struct {
		call func() error
		want string
	}{
		{func() error { _, err := a.Int("f", 0); return err }, `attribute "f": want an integer, got 2.5`},
		{func() error { _, err := a.Int("big", 0); return err }, `attribute "big": want an integer`},
		{func() error { _, err := a.Int("s", 0); return err }, `attribute "s": want an integer, got string "x"`},
		{func() error { _, err := a.Bool("i", false); return err }, `attribute "i": want true or false, got number 3`},
		{func() error { _, err := a.Float("b", 0); return err }, `attribute "b": want a number, got boolean true`},
		{func() error { _, err := a.Ints("i", nil); return err }, `attribute "i": want a list of integers, got number 3`},
		{func() error { _, err := a.Ints("frac", nil); return err }, `attribute "frac"[1]: want an integer, got 0.5`},
	}
	for _, e := range errs {
		if err := e.call(); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("err = %v, want %q", err, e.want)
		}
	}
}
