// Package state keeps per-entity enrichment state for the partitions an instance
// owns, with transactional staging.
//
// # Semantics
//
// An entity is a record key. Its state is the history of its events: event time,
// amount, and the distinct values of one field (e.g. merchant id). Features read
// the history as it stood *before* the current event (in offset order), then the
// event is appended:
//
//   - count/sum/mean over window w at event time t: the entity's previous events with
//     event time in (t-w, t]. Events later than t (out of order input) are not
//     counted for t.
//   - distinct over w: distinct values last seen in (t-w, t].
//   - time since last: t minus the latest previous event time, in seconds; missing
//     for the entity's first event (may be negative for out-of-order input).
//
// Time is event time only, never wall-clock time, so replaying a partition gives the
// same features. Each partition has a watermark: the largest event time it has seen.
// An entity whose latest event is at or before watermark-TTL has expired and reads
// as new; events older than watermark-TTL are pruned when the entity is next
// written. An entity keeps at most MaxEvents events and MaxEvents distinct values
// (the oldest go first): windows longer than what that cap covers under-count for
// very busy entities.
//
// Memory is bounded by an LRU of MaxEntities entities per partition. An LRU
// eviction of an entity that has not expired is an *early eviction*: that entity's
// next event reads as new (count 0, no time since last). Early evictions are
// counted in scorestream_state_early_evictions_total; a steady non-zero rate means
// state.max_entities is too small for the key space. Evictions are deterministic
// (the LRU order is the order of writes, which is offset order), and restoring a
// partition from its changelog reproduces the same LRU contents.
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Event is one observation in an entity's history. T is event time in Unix ms.
type Event struct {
	T      int64
	Amount float64
}

// Seen is the last time (Unix ms) a distinct value was observed.
type Seen struct {
	Value string
	T     int64
}

// Entity is one key's state. Values are immutable once stored: Observe returns a new
// Entity, so a staged update never changes the committed one.
type Entity struct {
	Last     int64   // latest event time (Unix ms)
	WM       int64   // the partition's watermark when this state was written
	Events   []Event // ascending by T
	Distinct []Seen  // ascending by T
}

// Limits bound an entity's history.
type Limits struct {
	TTL       time.Duration
	MaxEvents int
}

// Observe returns the entity after an event at t (Unix ms) with amount and
// distinct value (empty: none), given the partition watermark wm (already including
// t). e may be nil (a new entity).
func (e *Entity) Observe(t int64, amount float64, distinct string, wm int64, lim Limits) *Entity {
	horizon := wm - lim.TTL.Milliseconds()
	n := &Entity{Last: t, WM: wm}
	var evs []Event
	var dis []Seen
	if e != nil {
		if e.Last > t {
			n.Last = e.Last
		}
		evs, dis = e.Events, e.Distinct
	}
	// Events: keep those after the horizon, insert t in order, cap at MaxEvents
	// (the oldest go).
	evs = evs[sort.Search(len(evs), func(i int) bool { return evs[i].T > horizon }):]
	pos := sort.Search(len(evs), func(i int) bool { return evs[i].T > t })
	merged := make([]Event, 0, len(evs)+1)
	merged = append(merged, evs[:pos]...)
	merged = append(merged, Event{T: t, Amount: amount})
	merged = append(merged, evs[pos:]...)
	if len(merged) > lim.MaxEvents {
		merged = merged[len(merged)-lim.MaxEvents:]
	}
	n.Events = merged

	// Distinct values: drop expired ones, move the observed value to its latest
	// time, keep ascending by T, cap like events.
	seenAt := t
	nd := make([]Seen, 0, len(dis)+1)
	for _, s := range dis {
		switch {
		case s.T <= horizon:
		case distinct != "" && s.Value == distinct:
			seenAt = max(seenAt, s.T)
		default:
			nd = append(nd, s)
		}
	}
	if distinct != "" {
		i := sort.Search(len(nd), func(i int) bool { return nd[i].T > seenAt })
		nd = append(nd, Seen{})
		copy(nd[i+1:], nd[i:])
		nd[i] = Seen{Value: distinct, T: seenAt}
	}
	if len(nd) > lim.MaxEvents {
		nd = nd[len(nd)-lim.MaxEvents:]
	}
	n.Distinct = nd
	return n
}

// window returns the events with T in (t-w, t].
func (e *Entity) window(t int64, w time.Duration) []Event {
	if e == nil {
		return nil
	}
	lo := t - w.Milliseconds()
	i := sort.Search(len(e.Events), func(i int) bool { return e.Events[i].T > lo })
	j := sort.Search(len(e.Events), func(i int) bool { return e.Events[i].T > t })
	if i > j {
		return nil
	}
	return e.Events[i:j]
}

// Count is the number of events in (t-w, t].
func (e *Entity) Count(t int64, w time.Duration) float64 { return float64(len(e.window(t, w))) }

// Sum is the total amount of events in (t-w, t].
func (e *Entity) Sum(t int64, w time.Duration) float64 {
	var s float64
	for _, ev := range e.window(t, w) {
		s += ev.Amount
	}
	return s
}

// Mean is the mean amount in (t-w, t], NaN (missing) when there are none.
func (e *Entity) Mean(t int64, w time.Duration) float64 {
	evs := e.window(t, w)
	if len(evs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, ev := range evs {
		s += ev.Amount
	}
	return s / float64(len(evs))
}

// DistinctCount is the number of distinct values last seen in (t-w, t].
func (e *Entity) DistinctCount(t int64, w time.Duration) float64 {
	if e == nil {
		return 0
	}
	lo := t - w.Milliseconds()
	n := 0
	for _, s := range e.Distinct {
		if s.T > lo && s.T <= t {
			n++
		}
	}
	return float64(n)
}

// SinceLast is t minus the latest previous event time in seconds; NaN when none.
func (e *Entity) SinceLast(t int64) float64 {
	if e == nil {
		return math.NaN()
	}
	return float64(t-e.Last) / 1000
}

const encodingV1 = 1

// ErrCorrupt reports a changelog value that cannot be decoded.
var ErrCorrupt = errors.New("state: corrupt changelog value")

// AppendBinary appends the changelog encoding of e to b.
//
// Layout (version 1): byte 1, varint Last, varint WM, uvarint n, n × (varint T,
// 8-byte little-endian float64 amount), uvarint m, m × (uvarint len, value, varint T).
func (e *Entity) AppendBinary(b []byte) []byte {
	// Exact enough: millisecond times are 6-byte varints, lengths 1 byte.
	size := 21 + len(e.Events)*(7+8)
	for _, s := range e.Distinct {
		size += 8 + len(s.Value)
	}
	b = slices.Grow(b, size)
	b = append(b, encodingV1)
	b = binary.AppendVarint(b, e.Last)
	b = binary.AppendVarint(b, e.WM)
	b = binary.AppendUvarint(b, uint64(len(e.Events)))
	for _, ev := range e.Events {
		b = binary.AppendVarint(b, ev.T)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ev.Amount))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Distinct)))
	for _, s := range e.Distinct {
		b = binary.AppendUvarint(b, uint64(len(s.Value)))
		b = append(b, s.Value...)
		b = binary.AppendVarint(b, s.T)
	}
	return b
}

// Decode parses a changelog value written by AppendBinary.
func Decode(b []byte) (*Entity, error) {
	d := decoder{b: b}
	if v := d.byte(); v != encodingV1 {
		return nil, fmt.Errorf("%w: version %d", ErrCorrupt, v)
	}
	e := &Entity{Last: d.varint(), WM: d.varint()}
	n := d.count(9)
	if n > 0 {
		e.Events = make([]Event, n)
		for i := range e.Events {
			e.Events[i].T = d.varint()
			e.Events[i].Amount = math.Float64frombits(d.u64())
		}
	}
	m := d.count(2)
	if m > 0 {
		e.Distinct = make([]Seen, m)
		for i := range e.Distinct {
			l := d.count(1)
			e.Distinct[i].Value = string(d.take(l))
			e.Distinct[i].T = d.varint()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return e, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: short %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("header")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that at least minSize bytes per item remain.
func (d *decoder) count(minSize int) int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("length")
		return 0
	}
	d.b = d.b[n:]
	if v > uint64(len(d.b)/minSize) {
		d.fail("list")
		return 0
	}
	return int(v)
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("float")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.fail("string")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
