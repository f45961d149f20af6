package replay

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
)

// Prediction columns of the Parquet output, one row per event per model.
const (
	ColEventID      = "event_id"
	ColKey          = "key"
	ColEventTime    = "event_time" // timestamp (ms, UTC)
	ColModel        = "model"
	ColModelVersion = "model_version"
	ColModelHash    = "model_hash"
	ColScore        = "score"
	ColDecision     = "decision"
	ColLabel        = "label"   // nullable int32: 1, 0 or null (no label)
	ColSegment      = "segment" // nullable string
	// FeaturePrefix names the feature columns (nullable doubles; null = missing)
	// written with --features: "f_" + the feature's name.
	FeaturePrefix = "f_"
)

// ModelID names a model in the outputs.
type ModelID struct{ Name, Version, Hash string }

// ParquetWriter writes predictions to a Parquet file that pandas, polars,
// DuckDB and pyarrow read as-is. It writes to a temporary name in the target
// directory and renames it into place on Close, so a failed replay leaves no
// half-written file.
type ParquetWriter struct {
	path, tmp string
	f         *os.File
	w         *parquet.Writer
	models    []ModelID
	features  []string       // nil: no feature columns
	col       map[string]int // column index by name (the schema sorts them)
	row       parquet.Row
	rows      []parquet.Row // batched, written by flush
	spare     []parquet.Row // reused row buffers
	closed    bool
}

// NewParquetWriter creates the writer of path. features are the feature names
// to write as columns, nil for none.
func NewParquetWriter(path string, models []ModelID, features []string) (*ParquetWriter, error) {
	g := parquet.Group{
		ColEventID:      parquet.String(),
		ColKey:          parquet.String(),
		ColEventTime:    parquet.Timestamp(parquet.Millisecond),
		ColModel:        parquet.String(),
		ColModelVersion: parquet.String(),
		ColModelHash:    parquet.String(),
		ColScore:        parquet.Optional(parquet.Leaf(parquet.DoubleType)),
		ColDecision:     parquet.Optional(parquet.String()),
		ColLabel:        parquet.Optional(parquet.Int(32)),
		ColSegment:      parquet.Optional(parquet.String()),
	}
	for _, n := range features {
		if _, dup := g[FeaturePrefix+n]; dup {
			return nil, fmt.Errorf("parquet: feature %q named twice", n)
		}
		g[FeaturePrefix+n] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	schema := parquet.NewSchema("prediction", g)
	w := parquet.NewWriter(f, schema, parquet.Compression(&parquet.Snappy))
	col := map[string]int{}
	for i, c := range schema.Columns() {
		col[c[0]] = i
	}
	return &ParquetWriter{path: path, tmp: f.Name(), f: f, w: w, models: models, features: features,
		col: col, row: make(parquet.Row, len(col)), rows: make([]parquet.Row, 0, 512)}, nil
}

// set puts v (nil: null) into column name of the row. Every column is at the
// top level: repetition level 0, definition level 1 for a present optional
// value, 0 for null or a required one.
func (p *ParquetWriter) set(name string, v parquet.Value, present, optional bool) {
	i := p.col[name]
	switch {
	case !present:
		p.row[i] = parquet.NullValue().Level(0, 0, i)
	case optional:
		p.row[i] = v.Level(0, 1, i)
	default:
		p.row[i] = v.Level(0, 0, i)
	}
}

// Write writes one row per model for ev; label is 1, 0 or -1 (none).
func (p *ParquetWriter) Write(ev *Event, label int8) error {
	str := func(s string) parquet.Value { return parquet.ByteArrayValue([]byte(s)) }
	p.set(ColEventID, str(ev.EventID), true, false)
	p.set(ColKey, parquet.ByteArrayValue(ev.Key), true, false)
	p.set(ColEventTime, parquet.Int64Value(ev.Time), true, false)
	p.set(ColLabel, parquet.Int32Value(int32(label)), label >= 0, true)
	p.set(ColSegment, str(ev.Segment), ev.Segment != "", true)
	for i, n := range p.features {
		v := ev.Features[i]
		p.set(FeaturePrefix+n, parquet.DoubleValue(v), !math.IsNaN(v), true)
	}
	for k, m := range p.models {
		ok := !math.IsNaN(ev.Scores[k])
		p.set(ColModel, str(m.Name), true, false)
		p.set(ColModelVersion, str(m.Version), true, false)
		p.set(ColModelHash, str(m.Hash), true, false)
		p.set(ColScore, parquet.DoubleValue(ev.Scores[k]), ok, true)
		p.set(ColDecision, str(ev.Decisions[k]), ok, true)
		p.rows = append(p.rows, append(p.next(), p.row...))
		if len(p.rows) == cap(p.rows) {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// next returns a row buffer to fill: rows are written in batches, which costs
// parquet-go far less per row than one call per row.
func (p *ParquetWriter) next() parquet.Row {
	if n := len(p.rows); n < len(p.spare) {
		return p.spare[n][:0]
	}
	r := make(parquet.Row, 0, len(p.row))
	p.spare = append(p.spare, r)
	return r
}

func (p *ParquetWriter) flush() error {
	if len(p.rows) == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.rows)
	p.rows = p.rows[:0]
	if err != nil {
		return fmt.Errorf("parquet: write: %w", err)
	}
	return nil
}

// Close finishes the file and renames it into place.
func (p *ParquetWriter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.flush(); err != nil {
		p.abort()
		return err
	}
	if err := p.w.Close(); err != nil {
		p.abort()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := p.f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		p.abort()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := p.f.Sync(); err != nil {
		p.abort()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("parquet: %w", err)
	}
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// Abort drops the temporary file; the target is left as it was.
func (p *ParquetWriter) Abort() {
	if !p.closed {
		p.closed = true
		p.abort()
	}
}

func (p *ParquetWriter) abort() {
	p.f.Close()
	os.Remove(p.tmp)
}
