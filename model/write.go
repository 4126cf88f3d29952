package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Marshal writes g in kpuopt's graph format (kpu-sim's JSON graph format):
// fields in a fixed order, tensors sorted by name and one per line,
// operators in g's (topological) order and one per line, attributes sorted by
// name. Parse(Marshal(g)) gives g back.
func Marshal(g *Graph) ([]byte, error) {
	var b bytes.Buffer
	str := func(s string) []byte {
		out, _ := json.Marshal(s) // a string always marshals
		return out
	}
	b.WriteString("{\n  \"name\": ")
	b.Write(str(g.Name))
	if g.Description != "" {
		b.WriteString(",\n  \"description\": ")
		b.Write(str(g.Description))
	}
	b.WriteString(",\n  \"tensors\": {")
	for i, name := range sortedKeys(g.Tensors) {
		t := g.Tensors[name]
		if t == nil {
			return nil, fmt.Errorf("write graph %q: tensor %q is nil", g.Name, name)
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		b.Write(str(name))
		b.WriteString(": ")
		tj, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("write graph %q: tensor %q: %w", g.Name, name, err)
		}
		b.Write(tj)
	}
	b.WriteString("\n  },\n  \"operators\": [")
	for i, op := range g.Operators {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		oj, err := json.Marshal(op)
		if err != nil {
			return nil, fmt.Errorf("write graph %q: operator %q: %w", g.Name, op.Name, err)
		}
		b.Write(oj)
	}
	b.WriteString("\n  ]\n}\n")
	return b.Bytes(), nil
}

// WriteFile writes Marshal(g) to path atomically (a temporary file in the same
// directory, renamed over path).
func WriteFile(path string, g *Graph) error {
	data, err := Marshal(g)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	// CreateTemp makes the file private (0600): give it the mode of the file
	// it replaces, or 0644 for a new one
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
