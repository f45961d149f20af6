// Package checkpoint keeps a partition's state in a local file, so that an
// instance assigned the partition again restores from the file and reads only
// the changelog's tail instead of its whole history.
//
// # What a checkpoint is
//
// A file per changelog partition holding the partition's full state — every
// entity the LRU holds, least recently written first (restoring them in that
// order rebuilds the same LRU), and the watermark — and Offset, the changelog
// offset it reflects: the state equals a restore of the changelog's committed
// records before Offset. Restoring the checkpoint and then the committed records
// from Offset on therefore equals a full restore.
//
// # When a checkpoint is refused
//
// Load refuses (and the caller restores in full) a checkpoint that is:
//   - corrupt: bad magic, unknown format version, checksum mismatch, a value
//     that does not decode (ErrCorrupt);
//   - from another changelog: another topic name, partition or topic id — a
//     topic deleted and created again under the same name has a new id
//     (ErrForeign);
//
// and the caller refuses one that is stale (see Stale): its offset is beyond
// the changelog's end (the topic was recreated, or a checkpoint from elsewhere
// was copied in) or before the log start (records were deleted), or it is
// older than the changelog's delete.retention.ms allows. That last rule is
// compaction's: the compactor never removes a record that a later record of the
// same key does not supersede, and the later record is in the tail, so a
// compacted tail still turns the checkpoint into the right state — except for
// tombstones, which compaction drops delete.retention.ms after cleaning. A
// checkpoint older than that may miss the tombstone of an entity it holds.
//
// # Format (version 1)
//
//	"SSCP" | version byte | uvarint len + topic | 16-byte topic id |
//	int32 partition | int64 offset | int64 written (unix ms) | int64 watermark |
//	uvarint entities | entities × (uvarint len + key, uvarint len + value) |
//	uint32 CRC-32C of everything before it (big endian)
//
// A value is the entity's changelog encoding (state.Entity.AppendBinary), so a
// checkpoint written by an older release or feature spec upgrades exactly as
// its changelog would.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scorestream/scorestream/state"
)

// Version is the checkpoint format version written.
const Version = 1

const magic = "SSCP"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors Load returns; each means "restore in full".
var (
	ErrMissing = errors.New("checkpoint: none")
	ErrCorrupt = errors.New("checkpoint: corrupt")
	ErrForeign = errors.New("checkpoint: from another changelog")
)

// Identity names the changelog partition a checkpoint belongs to.
type Identity struct {
	Topic     string
	TopicID   [16]byte // all zero when the broker has no topic ids; then only the name is compared
	Partition int32
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	State   *state.Partition
	Offset  int64     // the changelog offset the state reflects: restore the tail from here
	Written time.Time // when it was written
	Bytes   int       // file size
	Corrupt int       // entity values that did not decode (they start empty, as on a changelog restore)
}

// Dir is a directory of checkpoints, one file per changelog partition.
type Dir struct{ path string }

// Open returns the checkpoint directory at path, creating it if needed.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("state.dir: %w", err)
	}
	return &Dir{path: path}, nil
}

// Path is the file of id's checkpoint.
func (d *Dir) Path(id Identity) string {
	return filepath.Join(d.path, id.Topic+"-"+strconv.Itoa(int(id.Partition))+".checkpoint")
}

// Write saves st as id's checkpoint reflecting changelog offset offset,
// atomically: a temporary file, fsynced, renamed over the old one, and the
// directory fsynced. st must have no open transaction. It returns the file size.
func (d *Dir) Write(id Identity, offset int64, st *state.Partition, now time.Time) (int, error) {
	b := Encode(id, offset, st, now)
	final := d.Path(id)
	tmp, err := os.CreateTemp(d.path, filepath.Base(final)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return 0, fmt.Errorf("checkpoint %s: %w", final, err)
	}
	if dir, err := os.Open(d.path); err == nil { // make the rename durable
		err = dir.Sync()
		dir.Close()
		if err != nil {
			return 0, fmt.Errorf("checkpoint %s: sync directory: %w", final, err)
		}
	}
	return len(b), nil
}

// Load reads id's checkpoint into a new partition built with cfg.
func (d *Dir) Load(id Identity, cfg state.Config) (*Checkpoint, error) {
	b, err := os.ReadFile(d.Path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMissing
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return Decode(id, b, cfg)
}

// Encode returns st's checkpoint bytes.
func Encode(id Identity, offset int64, st *state.Partition, now time.Time) []byte {
	b := make([]byte, 0, 64+st.Len()*64)
	b = append(b, magic...)
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(id.Topic)))
	b = append(b, id.Topic...)
	b = append(b, id.TopicID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(id.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(st.Watermark()))
	b = binary.AppendUvarint(b, uint64(st.Len()))
	st.RangeEncoded(func(k string, val []byte) bool {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = append(b, val...)
		return true
	})
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode parses checkpoint bytes written for id.
func Decode(id Identity, b []byte, cfg state.Config) (*Checkpoint, error) {
	if len(b) < len(magic)+1+4 || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a checkpoint file", ErrCorrupt)
	}
	if v := b[len(magic)]; v != Version {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrCorrupt, v, Version)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	r := reader{b: body[len(magic)+1:]}
	topic := string(r.bytes())
	var tid [16]byte
	copy(tid[:], r.take(16))
	part := int32(r.u32())
	off := int64(r.u64())
	written := int64(r.u64())
	wm := int64(r.u64())
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if topic != id.Topic || part != id.Partition || (id.TopicID != [16]byte{} && tid != id.TopicID) {
		return nil, fmt.Errorf("%w: written for %s/%d (topic id %x), want %s/%d (topic id %x)",
			ErrForeign, topic, part, tid, id.Topic, id.Partition, id.TopicID)
	}
	st, err := state.NewPartition(cfg)
	if err != nil {
		return nil, err
	}
	cp := &Checkpoint{State: st, Offset: off, Written: time.UnixMilli(written), Bytes: len(b)}
	for range n {
		k, v := r.bytes(), r.bytes()
		if r.err != nil {
			return nil, r.err
		}
		if err := st.Restore(string(k), v); err != nil {
			if !errors.Is(err, state.ErrCorrupt) {
				return nil, err
			}
			cp.Corrupt++
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last entity", ErrCorrupt, len(r.b))
	}
	st.RestoreWatermark(wm)
	return cp, nil
}

// Stale reports why a checkpoint must not be used with a changelog partition
// whose committed records span [logStart, end), or "" if it may. maxAge is the
// changelog's delete.retention.ms (0: no age limit).
func (cp *Checkpoint) Stale(logStart, end int64, maxAge time.Duration, now time.Time) string {
	switch {
	case cp.Offset > end:
		return fmt.Sprintf("offset %d is beyond the changelog's end %d (was the topic recreated?)", cp.Offset, end)
	case cp.Offset < logStart:
		return fmt.Sprintf("offset %d is before the changelog's log start %d (records were deleted)", cp.Offset, logStart)
	case maxAge > 0 && now.Sub(cp.Written) >= maxAge:
		return fmt.Sprintf("written %s ago, compaction may have removed tombstones it needs (delete.retention.ms %s)",
			now.Sub(cp.Written).Round(time.Second), maxAge)
	}
	return ""
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	r.b = nil
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	return r.take(int(n))
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}
