package kpu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxConfigFileBytes bounds the size of a config file; real ones are a few KB.
const MaxConfigFileBytes = 1 << 20

// ConfigFormat names the dialect a config file is written in.
type ConfigFormat string

// Config file dialects.
const (
	FormatNative ConfigFormat = "kpuopt"  // the keys of Config (json/yaml tags)
	FormatKPUSim ConfigFormat = "kpu-sim" // stillwater-sc/kpu-sim configs/kpu/*.yaml
)

// Resolve returns the machine named by nameOrPath: a preset name (see
// PresetNames; "Edge-AI" and "edge_ai" are the same preset), or else the path
// of a config file in kpuopt's own format or kpu-sim's, as JSON or YAML. The
// warnings list what was ignored (unknown keys, parameters kpuopt does not
// model). A preset name wins over a file of the same name: write ./edge_ai
// to load the file.
func Resolve(nameOrPath string) (*Config, []string, error) {
	if strings.TrimSpace(nameOrPath) == "" {
		return nil, nil, fmt.Errorf("no machine config given: name a preset (%s) or a config file",
			strings.Join(PresetNames, ", "))
	}
	if p := presetByName(nameOrPath); p != "" {
		c, err := Preset(p)
		return c, nil, err
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("config %q: not a preset (%s) and no such file",
				nameOrPath, strings.Join(PresetNames, ", "))
		}
		return nil, nil, fmt.Errorf("config %q: %w", nameOrPath, err)
	}
	return LoadConfig(nameOrPath)
}

// presetByName returns the preset nameOrPath names, or "".
func presetByName(s string) string {
	n := normalizeMachineName(s)
	for _, p := range PresetNames {
		if n == p {
			return p
		}
	}
	return ""
}

// LoadConfig reads, fills and validates a config file (see ParseConfig).
func LoadConfig(path string) (*Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: read: %w", path, err)
	}
	if len(data) > MaxConfigFileBytes {
		return nil, nil, fmt.Errorf("config %s: file larger than %d bytes: not a machine config", path, MaxConfigFileBytes)
	}
	return ParseConfig(data, path)
}

// ParseConfig decodes a config document. source names it in messages (a file
// path) and, when it ends in .json, .yaml or .yml, picks the syntax; without
// such an extension a document starting with '{' is JSON and anything else
// YAML. The dialect (kpuopt's keys or kpu-sim's) is detected from the
// top-level keys. Parameters the document lacks take the documented defaults
// (docs/config-format.md); the result is validated. Every error names the
// source and the key.
func ParseConfig(data []byte, source string) (*Config, []string, error) {
	c, warns, _, err := parseConfig(data, source)
	return c, warns, err
}

// ParseConfigFormat is ParseConfig that also reports the detected dialect.
func ParseConfigFormat(data []byte, source string) (*Config, []string, ConfigFormat, error) {
	return parseConfig(data, source)
}

func parseConfig(data []byte, source string) (*Config, []string, ConfigFormat, error) {
	if source == "" {
		source = "<config>"
	}
	fail := func(err error) (*Config, []string, ConfigFormat, error) {
		return nil, nil, "", fmt.Errorf("config %s: %w", source, err)
	}
	doc, err := decodeDocument(data, source)
	if err != nil {
		return fail(err)
	}
	format, err := detectFormat(doc)
	if err != nil {
		return fail(err)
	}
	base := strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	var (
		c         *Config
		warns     []string
		l1Derived bool
	)
	switch format {
	case FormatKPUSim:
		c, warns, l1Derived, err = decodeKPUSim(doc, base)
	default:
		c, warns, l1Derived, err = decodeNative(doc, base)
	}
	if err != nil {
		return fail(err)
	}
	if err := c.Validate(); err != nil {
		if l1Derived {
			err = explainDerivedL1(err, c.L1Buffers)
		}
		if format == FormatKPUSim {
			err = renameFields(err, kpuSimFieldNames)
		}
		return fail(err)
	}
	for i, w := range warns {
		warns[i] = fmt.Sprintf("config %s: %s", source, w)
	}
	return c, warns, format, nil
}

// decodeDocument parses JSON or YAML into a mapping.
func decodeDocument(data []byte, source string) (map[string]any, error) {
	ext := strings.ToLower(filepath.Ext(source))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("empty file: no machine parameters")
	}
	isJSON := ext == ".json" || (ext != ".yaml" && ext != ".yml" && trimmed[0] == '{')
	var raw any
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(data, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("invalid JSON: data after the top-level value (offset %d)", dec.InputOffset())
		}
	} else {
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
	}
	if raw == nil {
		return nil, errors.New("empty document: no machine parameters")
	}
	m, err := asMap(raw)
	if err != nil {
		return nil, fmt.Errorf("top level: %w", err)
	}
	return m, nil
}

// jsonError turns a JSON decoding error into one with a line and column.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid JSON: truncated document: %w", err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// detectFormat tells kpuopt's keys from kpu-sim's.
func detectFormat(doc map[string]any) (ConfigFormat, error) {
	native := nativeKeys()
	var simHits, nativeHits []string
	for k := range doc {
		if _, ok := kpuSimSchema[k]; ok && k != "name" && k != "description" {
			simHits = append(simHits, k)
		}
		if _, ok := native[k]; ok && k != "name" && k != "description" {
			nativeHits = append(nativeHits, k)
		}
	}
	sort.Strings(simHits)
	sort.Strings(nativeHits)
	switch {
	case len(simHits) > 0 && len(nativeHits) > 0:
		return "", fmt.Errorf("mixes kpu-sim keys (%s) with kpuopt keys (%s): use one format",
			strings.Join(simHits, ", "), strings.Join(nativeHits, ", "))
	case len(simHits) > 0:
		return FormatKPUSim, nil
	case len(nativeHits) > 0:
		return FormatNative, nil
	}
	return "", errors.New("no machine parameters: expected kpuopt keys (compute_tiles, array_rows, ...) " +
		"or kpu-sim keys (compute, on_chip_memory, external_memory, data_movement)")
}

// nativeRequired are the kpuopt keys a file must give: the machine's shape
// has no sensible default.
var nativeRequired = []string{
	"compute_tiles", "array_rows", "array_cols",
	"l3_tiles", "l3_tile_bytes", "l2_banks", "l2_bank_bytes", "l1_buffer_bytes",
	"dram_channels", "dram_channel_bytes", "dram_channel_gbps",
	"dma_engines", "block_movers", "streamers",
}

// nativeKeys maps each top-level kpuopt key to its Config field index.
func nativeKeys() map[string]int {
	t := reflect.TypeFor[Config]()
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if k := jsonKey(t.Field(i)); k != "" {
			out[k] = i
		}
	}
	return out
}

func jsonKey(f reflect.StructField) string {
	k, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if k == "-" || !f.IsExported() {
		return ""
	}
	return k
}

// decodeNative reads kpuopt's own format: the keys of Config.
func decodeNative(doc map[string]any, base string) (*Config, []string, bool, error) {
	c := &Config{}
	present := map[string]bool{}
	var warns []string
	errs := decodeStruct(reflect.ValueOf(c).Elem(), doc, "", present, &warns)
	var missing []string
	for _, k := range nativeRequired {
		if !present[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, missingKeys(missing))
	}
	if len(errs) > 0 {
		return nil, nil, false, errors.Join(errs...)
	}
	fillNativeDefaults(c, present, base)
	return c, warns, !present["l1_buffers"], nil
}

// decodeStruct sets the fields of the struct v from m by their json keys,
// recording the dotted keys it saw in present and unknown keys in warns.
func decodeStruct(v reflect.Value, m map[string]any, prefix string, present map[string]bool, warns *[]string) []error {
	t := v.Type()
	fields := map[string]int{}
	for i := range t.NumField() {
		if k := jsonKey(t.Field(i)); k != "" {
			fields[k] = i
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		path := joinKey(prefix, k)
		i, ok := fields[k]
		if !ok {
			*warns = append(*warns, fmt.Sprintf("unknown key %q ignored", path))
			continue
		}
		present[path] = true
		if err := setField(v.Field(i), m[k], path, present, warns); err != nil {
			errs = append(errs, err...)
		}
	}
	return errs
}

func setField(f reflect.Value, raw any, path string, present map[string]bool, warns *[]string) []error {
	wrap := func(err error) []error { return []error{fmt.Errorf("%s: %w", path, err)} }
	switch f.Kind() {
	case reflect.Int, reflect.Int64:
		n, err := asInt(raw)
		if err != nil {
			return wrap(err)
		}
		if f.OverflowInt(n) {
			return wrap(fmt.Errorf("%d does not fit in %s", n, f.Type()))
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := asFloat(raw)
		if err != nil {
			return wrap(err)
		}
		f.SetFloat(x)
	case reflect.String:
		s, err := asString(raw)
		if err != nil {
			return wrap(err)
		}
		f.SetString(s)
	case reflect.Struct:
		m, err := asMap(raw)
		if err != nil {
			return wrap(err)
		}
		return decodeStruct(f, m, path, present, warns)
	default:
		return wrap(fmt.Errorf("unsupported field type %s", f.Type()))
	}
	return nil
}

// fillNativeDefaults gives every key the file did not set its documented
// default.
func fillNativeDefaults(c *Config, present map[string]bool, base string) {
	if !present["name"] {
		c.Name = base
	}
	if !present["clock_ghz"] {
		c.ClockGHz = defaultClock(c.Name, base)
	}
	if !present["l1_buffers"] {
		c.L1Buffers = derivedL1Buffers(c.ArrayRows, c.ArrayCols, c.ComputeTiles)
	}
	if !present["dma_bytes_per_cycle"] {
		c.DMABytesPerCycle = DefaultDMABytesPerCycle
	}
	if !present["block_mover_bytes_per_cycle"] {
		c.BlockMoverBytesPerCycle = DefaultBlockMoverBytesPerCycle
	}
	fillStructDefaults(reflect.ValueOf(&c.Latency).Elem(), reflect.ValueOf(DefaultLatencies), "latency", present)
	fillStructDefaults(reflect.ValueOf(&c.Energy).Elem(), reflect.ValueOf(DefaultEnergy), "energy", present)
}

func fillStructDefaults(v, def reflect.Value, prefix string, present map[string]bool) {
	t := v.Type()
	for i := range t.NumField() {
		k := jsonKey(t.Field(i))
		if k != "" && !present[joinKey(prefix, k)] {
			v.Field(i).Set(def.Field(i))
		}
	}
}

// defaultClock is the clock kpu-sim states for the preset the machine is
// named after (by its name, else its file name), or DefaultClockGHz.
func defaultClock(name, base string) float64 {
	for _, n := range []string{name, base} {
		if p := presetByName(n); p != "" {
			if c, err := Preset(p); err == nil {
				return c.ClockGHz
			}
		}
	}
	return DefaultClockGHz
}

// derivedL1Buffers is kpu-sim's rule for a rectangular array: four buffers
// per edge position, 4 x (rows + cols) per compute tile. It returns 0 (left
// to validation) when the inputs are not positive or the count overflows.
func derivedL1Buffers(rows, cols, tiles int) int {
	if rows <= 0 || cols <= 0 || tiles <= 0 || rows > MaxArraySide || cols > MaxArraySide || tiles > MaxCount {
		return 0
	}
	return 4 * (rows + cols) * tiles
}

// missingKeys reports required keys a file lacks.
func missingKeys(keys []string) error {
	if len(keys) == 1 {
		return fmt.Errorf("%s: required key missing", keys[0])
	}
	return fmt.Errorf("required keys missing: %s", strings.Join(keys, ", "))
}

// explainDerivedL1 adjusts validation errors about an L1 buffer count the
// file did not give: if the count could not be derived (its inputs are
// invalid and reported already) the error is dropped, otherwise it says how
// the count was derived.
func explainDerivedL1(err error, n int) error {
	return mapFieldErrors(err, func(fe *FieldError) error {
		if fe.Field != "l1_buffers" {
			return fe
		}
		if n <= 0 {
			return nil
		}
		return &FieldError{Field: fe.Field, Msg: fe.Msg + " (derived as 4 x (rows + cols) x compute tiles)"}
	})
}

// mapFieldErrors applies f to every *FieldError joined in err; f returning
// nil drops the error.
func mapFieldErrors(err error, f func(*FieldError) error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe *FieldError
		if errors.As(e, &fe) {
			e = f(fe)
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// renameFields rewrites the Field of every FieldError in err through names.
func renameFields(err error, names map[string]string) error {
	return mapFieldErrors(err, func(fe *FieldError) error {
		if n, ok := names[fe.Field]; ok {
			return &FieldError{Field: n, Msg: fe.Msg}
		}
		return fe
	})
}
