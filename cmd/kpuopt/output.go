package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so the file is never half-written.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	// CreateTemp makes the file private (0600); give it the mode of the file
	// it replaces, or the usual 0644 for a new one
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// checkOutputPath rejects, before any work is done, an output file that
// could not be written: a directory, or a path whose directory is missing,
// is not a directory, or cannot take a new file. flag names the option
// (such as "-o") for the message.
func checkOutputPath(flag, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: cannot write %s: is a directory, want a file name", flag, path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: cannot write %s: %w", flag, path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: cannot write %s: %s is not a directory", flag, path, dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".probe*")
	if err != nil {
		return fmt.Errorf("%s: cannot write %s: %w", flag, path, err)
	}
	name := tmp.Name()
	tmp.Close()
	os.Remove(name)
	return nil
}

// cell is a name (tensor, operator, graph, machine, label) as a table or a
// one-line header shows it: unchanged when every rune is printable, else
// quoted and escaped like strconv.Quote, so that a name holding a newline,
// tab or other control character cannot break a row or shift its columns.
// A name that itself starts with a double quote is quoted too, so a quoted
// cell always reads back as one Go string literal. JSON output keeps the raw
// name.
func cell(name string) string {
	if strings.HasPrefix(name, `"`) {
		return strconv.Quote(name)
	}
	for _, r := range name {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}

// cellList is names as cells joined by sep.
func cellList(names []string, sep string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = cell(n)
	}
	return strings.Join(out, sep)
}
