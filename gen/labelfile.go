package gen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LabelFile writes the ground truth of generated events as CSV with the header
// "event_id,label,pattern,event_time" (label 1 = fraud, 0 = genuine; event_time
// in Unix ms): the labels file `scorestream replay --labels` joins by event id.
// It writes under a temporary name and renames the file into place on Close.
type LabelFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int64
}

// CreateLabelFile starts the labels file at path.
func CreateLabelFile(path string) (*LabelFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("event_id,label,pattern,event_time\n")
	return &LabelFile{path: path, f: f, w: w}, nil
}

// Add writes ev's label.
func (l *LabelFile) Add(ev Event) {
	lab := "0"
	if ev.Fraud {
		lab = "1"
	}
	l.w.WriteString(ev.EventID)
	l.w.WriteByte(',')
	l.w.WriteString(lab)
	l.w.WriteByte(',')
	l.w.WriteString(ev.Pattern)
	l.w.WriteByte(',')
	l.w.WriteString(strconv.FormatInt(ev.EventTime.UnixMilli(), 10))
	l.w.WriteByte('\n')
	l.n++
}

// Count is the number of labels written.
func (l *LabelFile) Count() int64 { return l.n }

// Close flushes the file and renames it into place.
func (l *LabelFile) Close() error {
	err := l.w.Flush()
	if err == nil {
		err = l.f.Chmod(0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(l.f.Name(), l.path)
	}
	if err != nil {
		os.Remove(l.f.Name())
		return fmt.Errorf("labels %s: %w", l.path, err)
	}
	return nil
}

// Abort drops the temporary file.
func (l *LabelFile) Abort() {
	l.f.Close()
	os.Remove(l.f.Name())
}
