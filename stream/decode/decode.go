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
// schema id. With Config.Paths, the value may hold only those fields (see
// projection). Errors are *Error (dead-letter) or wrap
// ErrRegistryUnavailable (retry).
func (d *Decoder) Decode(ctx context.Context, v []byte) (map[string]any, int, error) {
	return d.DecodeReuse(ctx, v, nil)
}

// DecodeReuse is Decode, reusing scratch's maps for the decoded record when the
// projection decodes it: the returned record (and every record nested in it)
// is valid only until the next DecodeReuse with the same scratch. The strings
// and other values in it stay valid. scratch nil is Decode.
func (d *Decoder) DecodeReuse(ctx context.Context, v []byte, scratch *Scratch) (map[string]any, int, error) {
	id, body, err := SplitFrame(v)
	if err != nil {
		return nil, 0, err
	}
	e, err := d.entry(ctx, id)
	if err != nil {
		return nil, id, err
	}
	if e.bad != nil {
		return nil, id, &Error{Class: ClassAvro, Err: e.bad}
	}
	if e.proj != nil {
		// The projection accepts exactly what goavro accepts (FuzzProjection), so
		// its refusal is final: handing the record to goavro anyway would let a
		// few bytes of array headers make goavro allocate gigabytes.
		m, err := e.proj.decode(body, scratch)
		if err != nil {
			class := ClassAvro
			if errors.Is(err, errShort) {
				class = ClassTruncated
			}
			return nil, id, &Error{Class: class, Err: fmt.Errorf("schema %d: %w", id, err)}
		}
		return m, id, nil
	}
	native, rest, err := e.codec.NativeFromBinary(body)
	if err != nil {
		class := ClassAvro
		if strings.Contains(err.Error(), "short buffer") {
			class = ClassTruncated
		}
		return nil, id, &Error{Class: class, Err: fmt.Errorf("schema %d: %w", id, err)}
	}
	if len(rest) != 0 {
		return nil, id, &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d: %d trailing bytes after the record", id, len(rest))}
	}
	if d.paths != nil {
		native = stripPaths(e.schema.root, native, d.tree) // only what Paths ask for is read
	} else {
		native = strip(e.schema.root, native)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, id, &Error{Class: ClassAvro, Err: fmt.Errorf("schema %d: top-level type is %T, want a record", id, native)}
	}
	return m, id, nil
}
