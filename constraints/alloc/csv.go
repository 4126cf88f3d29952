package alloc

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The MiniMalloc CSV format: a header line naming the columns, then one buffer
// per line. Required columns: id, lower, upper, size (lifetimes half-open);
// optional: alignment, and offset (a placement: read back by ReadCSV so that a
// solved file can be checked, written by WriteCSV). Column order is free and
// names are matched without regard to case or surrounding spaces; any other
// column is an error, so that a typo cannot be silently ignored.

// File is the content of a MiniMalloc CSV file.
type File struct {
	Problem Problem
	// Offsets holds the offset column, one per buffer, or nil if the file has none.
	Offsets []int64
}

var csvColumns = []string{"id", "lower", "upper", "size", "alignment", "offset"}

// ReadCSV parses a MiniMalloc CSV file and validates it. source names the input
// in errors, which read "source:line: column: problem".
func ReadCSV(r io.Reader, source string) (*File, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: expected a header line with columns id,lower,upper,size", source)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range csvColumns {
			known = known || c == name
		}
		if !known {
			return nil, fmt.Errorf("%s:1: column %d: unknown column %q (known: %s)", source, i+1, h, strings.Join(csvColumns, ", "))
		}
		if _, dup := col[name]; dup {
			return nil, fmt.Errorf("%s:1: column %q appears twice", source, name)
		}
		col[name] = i
	}
	for _, c := range csvColumns[:4] {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s:1: missing column %q (the header must name id, lower, upper and size)", source, c)
		}
	}
	_, hasAlign := col["alignment"]
	_, hasOffset := col["offset"]
	f := &File{}
	ids := map[string]int{} // id -> line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %w", source, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("%s:%d: %d fields, but the header has %d", source, line, len(rec), len(header))
		}
		num := func(name string, min int64) (int64, error) {
			s := strings.TrimSpace(rec[col[name]])
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s:%d: %s: %q is not an integer", source, line, name, s)
			}
			if v < min {
				return 0, fmt.Errorf("%s:%d: %s: %d is less than %d", source, line, name, v, min)
			}
			return v, nil
		}
		b := Buffer{ID: strings.TrimSpace(rec[col["id"]])}
		if b.ID == "" {
			return nil, fmt.Errorf("%s:%d: id: empty", source, line)
		}
		if prev, dup := ids[b.ID]; dup {
			return nil, fmt.Errorf("%s:%d: id: %q duplicates the buffer on line %d", source, line, b.ID, prev)
		}
		ids[b.ID] = line
		if b.Lower, err = num("lower", -1<<62); err != nil {
			return nil, err
		}
		if b.Upper, err = num("upper", -1<<62); err != nil {
			return nil, err
		}
		if b.Upper <= b.Lower {
			return nil, fmt.Errorf("%s:%d: upper: %d must be greater than lower %d (lifetimes are half-open [lower, upper))", source, line, b.Upper, b.Lower)
		}
		if b.Size, err = num("size", 0); err != nil {
			return nil, err
		}
		if b.Size > 1<<60 {
			return nil, fmt.Errorf("%s:%d: size: %d exceeds the limit 2^60", source, line, b.Size)
		}
		if hasAlign {
			if b.Alignment, err = num("alignment", 1); err != nil {
				return nil, err
			}
			if b.Alignment > 1<<40 {
				return nil, fmt.Errorf("%s:%d: alignment: %d exceeds the limit 2^40", source, line, b.Alignment)
			}
		}
		if hasOffset {
			o, err := num("offset", 0)
			if err != nil {
				return nil, err
			}
			f.Offsets = append(f.Offsets, o)
		}
		f.Problem.Buffers = append(f.Problem.Buffers, b)
	}
	if err := f.Problem.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return f, nil
}

// WriteCSV writes p in the MiniMalloc format: columns id,lower,upper,size, then
// alignment if any buffer has a non-zero Alignment, then offset if offsets is
// not nil (one per buffer, same order). Rows keep the order of p.Buffers.
func WriteCSV(w io.Writer, p *Problem, offsets []int64) error {
	if offsets != nil && len(offsets) != len(p.Buffers) {
		return fmt.Errorf("write csv: %d offsets for %d buffers", len(offsets), len(p.Buffers))
	}
	withAlign := false
	for _, b := range p.Buffers {
		withAlign = withAlign || b.Alignment != 0
	}
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	head := []string{"id", "lower", "upper", "size"}
	if withAlign {
		head = append(head, "alignment")
	}
	if offsets != nil {
		head = append(head, "offset")
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	rec := make([]string, 0, len(head))
	for i, b := range p.Buffers {
		rec = append(rec[:0], b.ID, strconv.FormatInt(b.Lower, 10), strconv.FormatInt(b.Upper, 10), strconv.FormatInt(b.Size, 10))
		if withAlign {
			rec = append(rec, strconv.FormatInt(b.Align(), 10))
		}
		if offsets != nil {
			rec = append(rec, strconv.FormatInt(offsets[i], 10))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
