package replay

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

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
//
// Write fills rows in batches; a goroutine of the writer's own encodes and
// compresses full batches (parquet-go's WriteRows) while Write fills the next,
// so the encoding overlaps the replay's other output work. Two batches exist,
// so memory is bounded by two batches whatever the range.
type ParquetWriter struct {
	path, tmp string
	f         *os.File
	w         *parquet.Writer
	models    []ModelID
	features  []string // nil: no feature columns

	// Column indexes (the schema sorts the columns by name).
	cEventID, cKey, cTime, cModel, cVersion, cHash, cScore, cDecision, cLabel, cSegment int
	cFeatures                                                                           []int
	modelVals                                                                           [][3]parquet.Value // name, version, hash per model, levelled

	row   parquet.Row // the event's columns, copied for each model
	batch *rowBatch   // being filled
	free  chan *rowBatch
	full  chan *rowBatch
	done  chan struct{} // closed when the encoder has returned
	// encErr is the encoder's first error; Write returns it from then on.
	encErr atomic.Pointer[error]

	closed  bool
	stopped bool // full closed and the encoder returned
}

// rowBatch is a batch of rows and their reused buffers.
type rowBatch struct {
	rows  []parquet.Row // filled, written by the encoder
	spare []parquet.Row // row buffers, reused batch after batch
}

// parquetBatch is how many rows the encoder gets at a time: one WriteRows call
// costs parquet-go far less per row than one call per row.
const parquetBatch = 1024

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
	col := map[string]int{}
	for i, c := range schema.Columns() {
		col[c[0]] = i
	}
	p := &ParquetWriter{path: path, tmp: f.Name(), f: f, w: parquet.NewWriter(f, schema, parquet.Compression(&parquet.Snappy)),
		models: models, features: features,
		cEventID: col[ColEventID], cKey: col[ColKey], cTime: col[ColEventTime], cModel: col[ColModel],
		cVersion: col[ColModelVersion], cHash: col[ColModelHash], cScore: col[ColScore], cDecision: col[ColDecision],
		cLabel: col[ColLabel], cSegment: col[ColSegment],
		row: make(parquet.Row, len(col)), free: make(chan *rowBatch, 2), full: make(chan *rowBatch, 1), done: make(chan struct{})}
	for _, n := range features {
		p.cFeatures = append(p.cFeatures, col[FeaturePrefix+n])
	}
	for _, m := range models {
		p.modelVals = append(p.modelVals, [3]parquet.Value{
			parquet.ByteArrayValue([]byte(m.Name)).Level(0, 0, p.cModel),
			parquet.ByteArrayValue([]byte(m.Version)).Level(0, 0, p.cVersion),
			parquet.ByteArrayValue([]byte(m.Hash)).Level(0, 0, p.cHash)})
	}
	p.batch = &rowBatch{rows: make([]parquet.Row, 0, parquetBatch)}
	p.free <- &rowBatch{rows: make([]parquet.Row, 0, parquetBatch)}
	go p.encode()
	return p, nil
}

// encode writes full batches until full is closed. After an error it keeps
// taking batches (and drops them) so that Write never blocks; Write reports the
// error.
func (p *ParquetWriter) encode() {
	defer close(p.done)
	for b := range p.full {
		if p.encErr.Load() == nil {
			if _, err := p.w.WriteRows(b.rows); err != nil {
				err = fmt.Errorf("parquet: write: %w", err)
				p.encErr.Store(&err)
			}
		}
		b.rows = b.rows[:0]
		p.free <- b
	}
}

// failed is the encoder's error, if any.
func (p *ParquetWriter) failed() error {
	if e := p.encErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Every column is at the top level: repetition level 0, definition level 1 for
// a present optional value, 0 for null or a required one.
func required(v parquet.Value, col int) parquet.Value { return v.Level(0, 0, col) }

func optional(v parquet.Value, present bool, col int) parquet.Value {
	if !present {
		return parquet.NullValue().Level(0, 0, col)
	}
	return v.Level(0, 1, col)
}

// bytesOf is s's bytes without a copy: parquet-go copies a value's bytes into
// its pages and never writes to them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Write writes one row per model for ev; label is 1, 0 or -1 (none).
func (p *ParquetWriter) Write(ev *Event, label int8) error {
	if err := p.failed(); err != nil {
		return err
	}
	r := p.row
	r[p.cEventID] = required(parquet.ByteArrayValue(bytesOf(ev.EventID)), p.cEventID)
	r[p.cKey] = required(parquet.ByteArrayValue(ev.Key), p.cKey)
	r[p.cTime] = required(parquet.Int64Value(ev.Time), p.cTime)
	r[p.cLabel] = optional(parquet.Int32Value(int32(label)), label >= 0, p.cLabel)
	r[p.cSegment] = optional(parquet.ByteArrayValue(bytesOf(ev.Segment)), ev.Segment != "", p.cSegment)
	for i, c := range p.cFeatures {
		v := ev.Features[i]
		r[c] = optional(parquet.DoubleValue(v), !math.IsNaN(v), c)
	}
	for k := range p.models {
		ok := !math.IsNaN(ev.Scores[k])
		mv := &p.modelVals[k]
		r[p.cModel], r[p.cVersion], r[p.cHash] = mv[0], mv[1], mv[2]
		r[p.cScore] = optional(parquet.DoubleValue(ev.Scores[k]), ok, p.cScore)
		r[p.cDecision] = optional(parquet.ByteArrayValue(bytesOf(ev.Decisions[k])), ok, p.cDecision)
		b := p.batch
		b.rows = append(b.rows, append(b.next(len(r)), r...))
		if len(b.rows) == cap(b.rows) {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// next returns a row buffer to fill.
func (b *rowBatch) next(n int) parquet.Row {
	if i := len(b.rows); i < len(b.spare) {
		return b.spare[i][:0]
	}
	r := make(parquet.Row, 0, n)
	b.spare = append(b.spare, r)
	return r
}

// flush hands the filled batch to the encoder and takes the free one.
func (p *ParquetWriter) flush() error {
	p.full <- p.batch
	p.batch = <-p.free
	return p.failed()
}

// stop hands the encoder what is left and waits for it to finish.
func (p *ParquetWriter) stop() error {
	if !p.stopped {
		p.stopped = true
		if len(p.batch.rows) > 0 {
			p.full <- p.batch
		}
		close(p.full)
		<-p.done
	}
	return p.failed()
}

// Close finishes the file and renames it into place.
func (p *ParquetWriter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.stop(); err != nil {
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
	_ = p.stop() // the encoder is done with the file
	p.f.Close()
	os.Remove(p.tmp)
}
