package kpu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// programWith returns matmul_single_tile.json with the first occurrence of
// old replaced by new (the test fails when old is missing).
func programWith(t *testing.T, old, new string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(programsDir, "matmul_single_tile.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, old) {
		t.Fatalf("matmul_single_tile.json lacks %q", old)
	}
	return []byte(strings.Replace(s, old, new, 1))
}

// TestProgramArithmeticOverflow: address, stride and extent arithmetic that
// overflows int64 is rejected when the program is loaded, naming the file,
// the command (or tensor) and the field, instead of reaching the checks as a
// wrapped or clamped number.
func TestProgramArithmeticOverflow(t *testing.T) {
	const cmd0 = `"addr":0,"shape":[16,32],"strides":[128,4]`
	tests := []struct {
		name     string
		old, new string
		want     string // the whole error; "" = loads
	}{
		{"plain program loads", cmd0, cmd0, ""},
		{"stride times extent", cmd0, `"addr":0,"shape":[16,32],"strides":[9223372036854775807,4]`,
			"x.json: program: command 0: field src.strides[0]: stride 9223372036854775807 times 15 (shape[0] - 1) overflows int64"},
		{"byte span", cmd0, `"addr":0,"shape":[2,2,32],"strides":[4611686018427387904,4611686018427387904,4]`,
			"x.json: program: command 0: field src.strides[1]: the byte span of shape [2 2 32] with strides [4611686018427387904 4611686018427387904 4] overflows int64"},
		{"element count", cmd0, `"addr":0,"shape":[4294967296,4294967296,4],"strides":[128,4,4]`,
			"x.json: program: command 0: field src.shape: the element count of [4294967296 4294967296 4] overflows int64"},
		{"bytes", cmd0, `"addr":0,"shape":[4294967296,1073741824]`,
			"x.json: program: command 0: field src.shape: 4611686018427387904 elements of 4 bytes ([4294967296 1073741824]) overflow int64"},
		{"address plus span", cmd0, `"addr":9223372036854775000,"shape":[16,32],"strides":[128,4]`,
			"x.json: program: command 0: field src.addr: address 9223372036854775000 plus the access's 2048 bytes overflows int64"},
		{"dst of a later command", `"dst":{"level":"l2","unit":1,"addr":0,"shape":[32,24]}`, `"dst":{"level":"l2","unit":1,"addr":0,"shape":[32,24],"strides":[96,9223372036854775807]}`,
			"x.json: program: command 3: field dst.strides[1]: stride 9223372036854775807 times 23 (shape[1] - 1) overflows int64"},
		{"tensor placement", `"addr": 2048,`, `"addr": 9223372036854775807,`,
			`x.json: program: tensor "B": field addr: address 9223372036854775807 plus the access's 3072 bytes overflows int64`},
		{"huge but representable is left to the checks", cmd0, `"addr":0,"shape":[2,32],"strides":[4611686018427387904,4]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProgram(programWith(t, tt.old, tt.new), "x.json")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckHugeStrides: a program built in memory (not parsed) whose strides
// are too large is reported with the values it holds, not a clamped range.
func TestCheckHugeStrides(t *testing.T) {
	tests := []struct {
		name    string
		strides []int64
		shape   []int64
		want    string
	}{
		{"stride above 2^40", []int64{1 << 41, 4}, []int64{16, 32}, "command 0: src: stride 2199023255552 is outside [1, 2^40]"},
		{"span above 2^61", []int64{1 << 40, 4}, []int64{1 << 22, 32},
			"command 0: src: shape [4194304 32] with strides [1099511627776 4] spans more than 2^61 bytes, beyond DRAM channel 0 capacity of 268435456 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProgram(programWith(t, `"strides":[128,4]`, `"strides":[128,4]`), "x.json")
			if err != nil {
				t.Fatal(err)
			}
			p.Commands[0].Src.Strides = tt.strides
			p.Commands[0].Src.Shape = tt.shape
			_, err = Simulate(context.Background(), p, mustPreset(t, "minimal"), SimOptions{})
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a check error", err)
			}
			if diff := cmp.Diff(tt.want, ce.Violations[0].Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProgramGraphErrorNamesFileOnce: an invalid embedded graph is reported
// as "x.json: program graph: ...", with the file named once.
func TestProgramGraphErrorNamesFileOnce(t *testing.T) {
	tests := []struct {
		name  string
		graph string
		want  string
	}{
		{"undeclared output", `{"name":"g","tensors":{"x":{"shape":[2],"dtype":"float32"}},"operators":[{"name":"r","type":"RELU","inputs":["x"],"outputs":["y"]}]}`,
			`x.json: program graph: operator "r" (RELU): invalid graph: output tensor "y" is not declared in "tensors"`},
		{"bad tensor", `{"name":"g","tensors":{"x":1},"operators":[]}`, "x.json: program graph: "},
		{"empty", `{}`, "x.json: program graph: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := fmt.Sprintf(`{"name":"p","config":"minimal","graph":%s,"commands":[]}`, tt.graph)
			_, err := ParseProgram([]byte(data), "x.json")
			if err == nil {
				t.Fatal("loaded an invalid graph")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error %q, want it to start with %q", msg, tt.want)
			}
			if n := strings.Count(msg, "x.json"); n != 1 {
				t.Errorf("error %q names the file %d times, want once", msg, n)
			}
		})
	}
}
