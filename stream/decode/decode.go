// Package decode turns Confluent-framed Avro record values into Go values.
//
// Wire format: magic byte 0, 4-byte big-endian schema id, Avro binary. The writer
// schema is fetched by id from the registry once and its goavro codec kept in an
// LRU. Every record is decoded with its own writer schema, so schema evolution
// (fields added, removed, reordered, made nullable) needs no reader schema: the
// feature stage takes fields by name. Decoded values are union-free: which
// values are unions comes from the writer schema (see Schema), so a union's value
// is its branch's value on every path.
package decode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Error classes; they are the dead-letter reasons for undecodable records.
const (
	ClassBadMagic       = "bad_magic"
	ClassTruncated      = "truncated"
	ClassSchemaNotFound = "schema_not_found"
	ClassAvro           = "avro_decode"
)

// Error is a record that can never be decoded: it belongs in the dead-letter topic.
type Error struct {
	Class string
	Err   error
}

func (e *Error) Error() string { return e.Class + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrRegistryUnavailable wraps a registry failure that may pass (connection
// refused, timeout, 5xx). Records hitting it must be retried, not dead-lettered.
var ErrRegistryUnavailable = errors.New("schema registry unavailable")

// Registry returns the schema text for an id. sr.Client satisfies it via
// SRRegistry. A not-found answer must wrap ErrSchemaNotFound.
type Registry interface {
	SchemaByID(ctx context.Context, id int) (string, error)
}

// ErrSchemaNotFound is returned by a Registry that answered "no such schema".
var ErrSchemaNotFound = errors.New("schema not found")

// SRRegistry adapts a franz-go sr.Client, classifying its errors.
type SRRegistry struct{ Client *sr.Client }

// SchemaByID implements Registry.
func (r SRRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := r.Client.SchemaByID(ctx, id)
	if err == nil {
		if s.Type != sr.TypeAvro {
			return "", &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d is %s, not Avro", id, s.Type)}
		}
		if len(s.References) > 0 {
			return "", &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d uses references, which are not supported", id)}
		}
		return s.Schema, nil
	}
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == 40403) {
		return "", fmt.Errorf("schema %d: %w", id, ErrSchemaNotFound)
	}
	return "", fmt.Errorf("schema %d: %w: %w", id, ErrRegistryUnavailable, err)
}

// MaxBlockItems is the most items one block of an Avro array or map may
// declare; more is a decode error (dead letter). goavro allocates a block's
// declared item count up front: with its own limit (2^31−1) a 6-byte record
// asks for 32 GiB and the process dies of it. A 1 MiB Kafka record cannot hold
// more than about a million non-null items anyway.
const MaxBlockItems = 1 << 20

func init() { goavro.MaxBlockCount = MaxBlockItems }

// Decoder decodes framed Avro values. Safe for concurrent use.
type Decoder struct {
	reg      Registry
	paths    [][]string
	tree     pathTree // paths as a tree; nil with all fields
	codecs   *lru.Cache[int, *entry]
	notFound sync.Map // int -> time.Time: ids the registry said do not exist
	retryNF  time.Duration
}

// entry is a writer schema's goavro codec and, when the schema allows one, the
// projection that decodes only the fields the pipeline reads.
type entry struct {
	codec  *goavro.Codec
	schema *Schema
	proj   *projection
	bad    error // the schema's records cannot be decoded safely: every one is a dead letter
}

// Config for a Decoder.
type Config struct {
	CacheSize int // codecs kept; default 1000
	// Paths are the fields Decode must return (dotted paths split), e.g. the
	// feature spec's; Decode may leave out every other field. Nil: all fields.
	Paths [][]string
	// NotFoundTTL is how long a "schema not found" answer is remembered before the
	// registry is asked again; default 30s.
	NotFoundTTL time.Duration
}

// New returns a Decoder that asks reg for writer schemas.
func New(reg Registry, cfg Config) (*Decoder, error) {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 1000
	}
	if cfg.NotFoundTTL <= 0 {
		cfg.NotFoundTTL = 30 * time.Second
	}
	c, err := lru.New[int, *entry](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &Decoder{reg: reg, paths: cfg.Paths, tree: newPathTree(cfg.Paths), codecs: c, retryNF: cfg.NotFoundTTL}, nil
}

// SplitFrame parses the Confluent framing.
func SplitFrame(v []byte) (id int, body []byte, err error) {
	if len(v) == 0 {
		return 0, nil, &Error{Class: ClassTruncated, Err: errors.New("empty value")}
	}
	if v[0] != 0 {
		return 0, nil, &Error{Class: ClassBadMagic, Err: fmt.Errorf("magic byte %d, want 0", v[0])}
	}
	if len(v) < 5 {
		return 0, nil, &Error{Class: ClassTruncated, Err: fmt.Errorf("%d bytes, shorter than the 5-byte header", len(v))}
	}
	return int(binary.BigEndian.Uint32(v[1:5])), v[5:], nil
}

// Codec returns the codec for a schema id, asking the registry on a miss.
func (d *Decoder) Codec(ctx context.Context, id int) (*goavro.Codec, error) {
	e, err := d.entry(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.codec, nil
}

func (d *Decoder) entry(ctx context.Context, id int) (*entry, error) {
	if e, ok := d.codecs.Get(id); ok {
		return e, nil
	}
	if at, ok := d.notFound.Load(id); ok && time.Since(at.(time.Time)) < d.retryNF {
		return nil, &Error{Class: ClassSchemaNotFound, Err: fmt.Errorf("schema %d: %w", id, ErrSchemaNotFound)}
	}
	text, err := d.reg.SchemaByID(ctx, id)
	switch {
	case errors.Is(err, ErrSchemaNotFound):
		d.notFound.Store(id, time.Now())
		return nil, &Error{Class: ClassSchemaNotFound, Err: err}
	case err != nil:
		var de *Error
		if errors.As(err, &de) {
			return nil, err
		}
		if !errors.Is(err, ErrRegistryUnavailable) {
			err = fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
		}
		return nil, err
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		return nil, &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d: %w", id, err)}
	}
	e := &entry{codec: c}
	if e.schema, err = ParseSchema(text); err != nil {
		// goavro took it, so this is a gap in ParseSchema: refuse its records
		// rather than read its unions by guesswork.
		e.bad = fmt.Errorf("schema %d: %w", id, err)
	}
	paths := d.paths
	if paths == nil {
		paths = [][]string{} // still checked for records goavro would recurse on forever
	}
	proj, err := newProjection(text, paths)
	switch {
	case errors.Is(err, errNoFiniteValue):
		e.bad = fmt.Errorf("schema %d: %w", id, err)
	case e.bad != nil:
	case err == nil && d.paths != nil:
		e.proj = proj
	} // otherwise goavro decodes it all
	d.codecs.Add(id, e)
	return e, nil
}

// Schema returns the shape of writer schema id, asking the registry on a miss.
func (d *Decoder) Schema(ctx context.Context, id int) (*Schema, error) {
	e, err := d.entry(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.schema == nil {
		return nil, &Error{Class: ClassAvro, Err: e.bad}
	}
	return e.schema, nil
}

// Decode returns the record's Go value (goavro's native types: map[string]any
// for records, with every union replaced by its branch's value) and the writer
// schema id. With Config.Paths, the value holds only those fields (nested
// records as maps along the paths; a null or absent value has no key). Errors
// are *Error (dead-letter) or wrap ErrRegistryUnavailable (retry).
func (d *Decoder) Decode(ctx context.Context, v []byte) (map[string]any, int, error) {
	id, e, body, err := d.frame(ctx, v)
	if err != nil {
		return nil, id, err
	}
	if e.proj == nil {
		m, err := d.native(id, e, body)
		return m, id, err
	}
	vals := make([]Value, len(d.paths))
	if err := d.project(id, e, body, vals); err != nil {
		return nil, id, err
	}
	m := map[string]any{}
	for i, p := range d.paths {
		if vals[i].kind == Absent {
			continue
		}
		cur := m
		for _, seg := range p[:len(p)-1] {
			next, _ := cur[seg].(map[string]any)
			if next == nil {
				next = map[string]any{}
				cur[seg] = next
			}
			cur = next
		}
		cur[p[len(p)-1]] = vals[i].Any()
	}
	return m, id, nil
}

// Paths are the decoder's Config.Paths: DecodeInto's values are theirs, by
// index.
func (d *Decoder) Paths() [][]string { return d.paths }

// Index returns the index of path in Paths, -1 if it is not there.
func (d *Decoder) Index(path []string) int {
	for i, p := range d.paths {
		if slices.Equal(p, path) {
			return i
		}
	}
	return -1
}

// Record is a decoded record's values, reused record after record by one
// goroutine (DecodeInto): Values[i] is the value at the decoder's Paths()[i].
type Record struct {
	Values []Value
	d      *Decoder
	id     int
	e      *entry // the last record's writer schema: a run of one schema skips the codec cache
}

// NewRecord returns a Record for DecodeInto.
func (d *Decoder) NewRecord() *Record {
	return &Record{Values: make([]Value, len(d.paths)), d: d}
}

// DecodeInto decodes the record into r (from NewRecord): r.Values[i] is the
// value at Paths()[i], Absent when the writer schema has no such field, the
// value is null or the path leads through a value that is not a record or map.
// Under a writer schema the projection decodes, that is all it does: no map,
// no boxing, and one copy of the record body for all the strings (they stay
// valid after the next DecodeInto). Other schemas are decoded by goavro and
// their values looked up. It returns the writer schema id; errors as Decode's.
// With no Config.Paths there is nothing to fill.
func (d *Decoder) DecodeInto(ctx context.Context, v []byte, r *Record) (int, error) {
	vals := r.Values
	if r.d != d || len(vals) != len(d.paths) {
		return 0, errors.New("decode: DecodeInto with a Record of another decoder")
	}
	var id int
	var e *entry
	var body []byte
	var err error
	if len(v) >= 5 && v[0] == 0 && r.e != nil && int(binary.BigEndian.Uint32(v[1:5])) == r.id {
		id, e, body = r.id, r.e, v[5:]
	} else if id, e, body, err = d.frame(ctx, v); err != nil {
		return id, err
	} else {
		r.id, r.e = id, e
	}
	if e.proj != nil {
		return id, d.project(id, e, body, vals)
	}
	m, err := d.native(id, e, body)
	if err != nil {
		return id, err
	}
	for i, p := range d.paths {
		vals[i] = FromNative(Lookup(m, p))
	}
	return id, nil
}

// Lookup walks a path through the records (and maps) of a union-free value
// (as Decode returns them); nil if absent.
func Lookup(rec map[string]any, p []string) any {
	var cur any = rec
	for _, seg := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

// frame splits the framing and finds the writer schema's entry.
func (d *Decoder) frame(ctx context.Context, v []byte) (int, *entry, []byte, error) {
	id, body, err := SplitFrame(v)
	if err != nil {
		return 0, nil, nil, err
	}
	e, err := d.entry(ctx, id)
	if err != nil {
		return id, nil, nil, err
	}
	if e.bad != nil {
		return id, nil, nil, &Error{Class: ClassAvro, Err: e.bad}
	}
	return id, e, body, nil
}

// project decodes body with e's projection.
func (d *Decoder) project(id int, e *entry, body []byte, vals []Value) error {
	// The projection accepts exactly what goavro accepts (FuzzProjection), so
	// its refusal is final: handing the record to goavro anyway would let a
	// few bytes of array headers make goavro allocate gigabytes.
	if err := e.proj.decode(body, vals); err != nil {
		class := ClassAvro
		if errors.Is(err, errShort) {
			class = ClassTruncated
		}
		return &Error{Class: class, Err: fmt.Errorf("schema %d: %w", id, err)}
	}
	return nil
}

// native decodes body with goavro, union-free.
func (d *Decoder) native(id int, e *entry, body []byte) (map[string]any, error) {
	native, rest, err := e.codec.NativeFromBinary(body)
	if err != nil {
		class := ClassAvro
		if strings.Contains(err.Error(), "short buffer") {
			class = ClassTruncated
		}
		return nil, &Error{Class: class, Err: fmt.Errorf("schema %d: %w", id, err)}
	}
	if len(rest) != 0 {
		return nil, &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d: %d trailing bytes after the record", id, len(rest))}
	}
	if d.paths != nil {
		native = stripPaths(e.schema.root, native, d.tree) // only what Paths ask for is read
	} else {
		native = strip(e.schema.root, native)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d: top-level type is %T, want a record", id, native)}
	}
	return m, nil
}
