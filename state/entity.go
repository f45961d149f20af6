// Package state keeps per-entity aggregates for the partitions an instance owns,
// with transactional staging.
//
// # Semantics
//
// An entity is a record key. Its state is a set of aggregates over its events,
// laid out by a Layout that the feature spec compiles: per aggregated field and
// window, a series of time buckets (count, and as the spec needs sum, sum of
// squares, min, max); per distinct-count field, the distinct values with the
// time each was last seen; per last-value field, the latest value. Features read
// the state as it stood *before* the current event (in offset order), then the
// event is added.
//
//   - Window aggregations over w at event time t read the buckets whose index
//     lies in (floor((t-w)/W), floor(t/W)], W = the series' bucket width = w /
//     Layout.Buckets (at least 1 s). The window is exact at its near edge and
//     at bucket resolution at its far edge: it covers (t-w+δ, t] with 0 <= δ <
//     W, so a 24h window with the default 30 buckets is exact to 48 minutes at
//     its far edge, a 1h window to 2 minutes, a 10m window to 20 s. An
//     out-of-order event later than t but in t's bucket is counted for t.
//   - distinct over w: distinct values last seen in (t-w, t] (exact times). A
//     set keeps at most MaxDistinct values (SetSpec.Max if lower; the least
//     recently seen go first), so the count is exact while the entity saw at
//     most that many distinct values in (t-w, its latest event], and is that
//     bound otherwise (an out-of-order read may count fewer): it never
//     exceeds the exact count.
//   - last: the value of the entity's latest event (by event time) that had one.
//   - time since last: t minus the latest previous event time, in seconds;
//     missing for the entity's first event (may be negative for out-of-order
//     input).
//
// A missing value (the field absent, null, or of a type the aggregation cannot
// use) is skipped: it is not counted, not summed and not a zero.
//
// Time is event time only, never wall-clock time, so replaying a partition gives
// the same features. Each partition has a watermark: the largest event time it
// has seen. An entity whose latest event is at or before watermark-TTL has
// expired and reads as new. Buckets and distinct values older than
// watermark-window are dropped when the entity is next written, so an entity's
// size is bounded by the spec (windows / bucket width, distinct values), not by
// its event rate; an out-of-order event older than that is not aggregated.
//
// A partition holds each entity as its changelog encoding (see Partition),
// about its record's size plus 130 bytes of LRU node, map entry and key.
//
// Memory is bounded by an LRU of MaxEntities entities per partition. An LRU
// eviction of an entity that has not expired is an *early eviction*: that entity's
// next event reads as new (count 0, no time since last). Early evictions are
// counted in scorestream_state_early_evictions_total; a steady non-zero rate means
// state.max_entities is too small for the key space. Evictions are deterministic
// (the LRU order is the order of writes, which is offset order), and restoring a
// partition from its changelog reproduces the same LRU contents and order.
//
// # Upgrades
//
// The changelog encoding is versioned (see AppendBinary; version 3 is written,
// versions 1 and 2 are read). Version 1 (an event
// list with one amount and one distinct field) is converted on restore: its
// events fill the series over state.amount_field and the event-count series,
// its distinct values the set over state.distinct_field, the last amount the
// last-value over the amount field. From version 2 on every aggregate is tagged with
// the identity of its field and bucket width, so after a change of the feature
// spec an aggregate whose field and width are unchanged is kept, and one that
// is new (or whose window changed) starts empty; a distinct set is kept across a
// window change (values older than the new window drop on the next write). Each
// record with an aggregate that started empty is counted (Partition.Upgrades).
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Stat selects what a series' buckets hold besides the count.
type Stat uint8

// Bucket statistics.
const (
	StatSum Stat = 1 << iota
	StatSumSq
	StatMin
	StatMax
)

// V1Source says what a version-1 changelog value can give an aggregate.
type V1Source uint8

// Version-1 sources.
const (
	V1None     V1Source = iota
	V1Events            // every event (a count of events)
	V1Amount            // every event's amount (state.amount_field)
	V1Distinct          // the distinct values (state.distinct_field)
)

// SeriesSpec is one bucketed series: the values of one field (Key; "" counts
// events) in buckets of Width ms, kept for Span ms (its longest window).
type SeriesSpec struct {
	Key    string
	Width  int64
	Span   int64
	Stats  Stat
	FromV1 V1Source
}

// SetSpec is the distinct values of one field, kept for Span ms, at most Max
// of them (0: Layout.MaxDistinct).
type SetSpec struct {
	Key    string
	Span   int64
	Max    int
	FromV1 V1Source
}

// limit is how many values set s keeps at most (0: no bound).
func (l *Layout) limit(s *SetSpec) int {
	if s.Max > 0 && (l.MaxDistinct <= 0 || s.Max < l.MaxDistinct) {
		return s.Max
	}
	return l.MaxDistinct
}

// LastSpec is the latest value of one field.
type LastSpec struct {
	Key    string
	FromV1 V1Source
}

// Layout is what an entity holds, compiled from the feature spec. Immutable once
// in use.
type Layout struct {
	Series      []SeriesSpec
	Sets        []SetSpec
	Lasts       []LastSpec
	MaxDistinct int
	// Buckets per window (the bucket width is window / Buckets); for the docs and
	// the spec compiler.
	Buckets int

	ids struct{ series, sets, lasts []uint32 }
}

// DefaultBuckets is the default number of buckets per window.
const DefaultBuckets = 30

// Width is the bucket width, in ms, for a window: window / buckets, whole
// seconds, at least one second.
func Width(window time.Duration, buckets int) int64 {
	w := window.Milliseconds() / int64(max(1, buckets))
	return max(1000, w/1000*1000)
}

// Prepare computes the identities the encoding tags aggregates with. Call it
// once after filling the layout, before use.
func (l *Layout) Prepare() *Layout {
	l.ids.series = l.ids.series[:0]
	for _, s := range l.Series {
		l.ids.series = append(l.ids.series, ident("series", s.Key, strconv.FormatInt(s.Width, 10)))
	}
	l.ids.sets = l.ids.sets[:0]
	for _, s := range l.Sets {
		l.ids.sets = append(l.ids.sets, ident("set", s.Key))
	}
	l.ids.lasts = l.ids.lasts[:0]
	for _, s := range l.Lasts {
		l.ids.lasts = append(l.ids.lasts, ident("last", s.Key))
	}
	return l
}

func ident(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// Bucket aggregates the values of one series in [I*Width, (I+1)*Width).
type Bucket struct {
	I                    int64
	N                    int64
	Sum, SumSq, Min, Max float64
}

// Seen is the last time (Unix ms) a distinct value was observed.
type Seen struct {
	Value string
	T     int64
}

// Value is a last value: a number, or a string when IsStr. T is its event time.
type Value struct {
	T     int64
	Num   float64
	Str   string
	IsStr bool
	Has   bool
}

// Obs is one event's contribution, as the feature spec read it (Observe copies
// the strings it keeps, so they may share a decoded record's memory): per series a
// number (NaN: missing; an event-count series gets 0), per set a string ("":
// missing), per last value a Value (Has false: missing).
type Obs struct {
	T     int64
	Nums  []float64
	Strs  []string
	Lasts []Value
}

// Entity is one key's state, decoded. Observe returns a new Entity and leaves e
// unchanged; a Partition holds its entities encoded (AppendBinary) and updates
// the one a transaction writes in place (Partition.Observe), with an undo.
type Entity struct {
	L      *Layout
	Last   int64      // latest event time (Unix ms)
	WM     int64      // the partition's watermark when this state was written
	Series [][]Bucket // per layout series, ascending by I
	Sets   [][]Seen   // per layout set, ascending by T
	Lasts  []Value    // per layout last value

	stale bool       // held by a Partition: changed since it was last encoded
	owner *Partition // the partition that allocated it for reuse, if any

	// Room for the slice headers of a small layout, saving two allocations per
	// write.
	inSeries [4][]Bucket
	inSets   [2][]Seen
}

// newEntity returns an empty entity of layout l.
func newEntity(l *Layout) *Entity {
	e := &Entity{L: l}
	e.Series = e.inSeries[:0]
	if len(l.Series) > len(e.inSeries) {
		e.Series = make([][]Bucket, 0, len(l.Series))
	}
	e.Series = e.Series[:len(l.Series)]
	e.Sets = e.inSets[:0]
	if len(l.Sets) > len(e.inSets) {
		e.Sets = make([][]Seen, 0, len(l.Sets))
	}
	e.Sets = e.Sets[:len(l.Sets)]
	if len(l.Lasts) > 0 {
		e.Lasts = make([]Value, len(l.Lasts))
	}
	return e
}

// reset empties e (keeping its slices' memory) as a new entity first seen at t.
func (e *Entity) reset(t int64) {
	e.Last, e.WM = t, t
	for i := range e.Series {
		e.Series[i] = e.Series[i][:0]
	}
	for i := range e.Sets {
		clear(e.Sets[i]) // drop the strings
		e.Sets[i] = e.Sets[i][:0]
	}
	clear(e.Lasts)
}

// Limits bound an entity's state.
type Limits struct {
	TTL    time.Duration
	Layout *Layout
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// grownLen is room for n lists with one more element each: n plus the old
// lists' lengths (old is nil for a new entity).
func grownLen[T any](n int, old [][]T) int {
	for _, s := range old {
		n += len(s)
	}
	return n
}

// Observe returns the entity after the event o, given the partition watermark wm
// (already including o.T). e may be nil (a new entity). e is not changed.
func (e *Entity) Observe(l *Layout, o *Obs, wm int64) *Entity {
	var n *Entity
	if e == nil {
		n = newEntity(l)
		n.Last = o.T
	} else {
		n = e.clone(l)
	}
	n.observe(l, o, wm)
	return n
}

// clone is a deep copy of e (one slab for the buckets, one for the distinct
// values; strings are shared, they are immutable).
func (e *Entity) clone(l *Layout) *Entity {
	n := newEntity(l)
	n.Last, n.WM = e.Last, e.WM
	copy(n.Lasts, e.Lasts)
	slab := make([]Bucket, 0, grownLen(len(l.Series), e.Series[:len(l.Series)]))
	for i := range l.Series {
		start := len(slab)
		slab = append(slab, e.Series[i]...)
		n.Series[i] = slab[start:len(slab):len(slab)]
	}
	if len(l.Sets) > 0 {
		seen := make([]Seen, 0, grownLen(len(l.Sets), e.Sets[:len(l.Sets)]))
		for i := range l.Sets {
			start := len(seen)
			seen = append(seen, e.Sets[i]...)
			n.Sets[i] = seen[start:len(seen):len(seen)]
		}
	}
	return n
}

// observe adds the event o to e in place, given the partition watermark wm
// (already including o.T). A new entity's Last is o.T.
func (e *Entity) observe(l *Layout, o *Obs, wm int64) {
	t := o.T
	e.Last, e.WM = max(e.Last, t), wm
	for i, s := range l.Series {
		old := e.Series[i]
		horizon := wm - s.Span // buckets ending at or before it are out of every window
		if lo := sort.Search(len(old), func(j int) bool { return (old[j].I+1)*s.Width > horizon }); lo > 0 {
			old = old[:copy(old, old[lo:])]
		}
		v := o.Nums[i]
		if math.IsNaN(v) || t <= horizon {
			e.Series[i] = old
			continue
		}
		idx := floorDiv(t, s.Width)
		pos := len(old) // in-order input writes the newest bucket
		if pos > 0 && old[pos-1].I >= idx {
			pos = sort.Search(len(old), func(j int) bool { return old[j].I >= idx })
		}
		if pos == len(old) || old[pos].I != idx {
			old = slices.Insert(old, pos, Bucket{I: idx, Min: v, Max: v})
		}
		b := &old[pos]
		b.Min, b.Max = min(b.Min, v), max(b.Max, v)
		b.N++
		b.Sum += v
		b.SumSq += v * v
		e.Series[i] = old
	}
	for i := range l.Sets {
		s := &l.Sets[i]
		e.Sets[i] = observeSet(e.Sets[i][:0], e.Sets[i], o.Strs[i], t, wm-s.Span, l.limit(s))
	}
	for i := range l.Lasts {
		if v := o.Lasts[i]; v.Has && (!e.Lasts[i].Has || v.T >= e.Lasts[i].T) {
			if v.IsStr {
				if p := e.Lasts[i]; p.IsStr && p.Str == v.Str {
					v.Str = p.Str
				} else {
					v.Str = strings.Clone(v.Str)
				}
			}
			e.Lasts[i] = v
		}
	}
}

// observeSet appends to dst the set dis after value v was seen at t: values last
// seen at or before horizon dropped, v moved to its latest time, ascending by T,
// at most maxN values (the least recently seen go). dst may be dis[:0] (in
// place): each value is read before its slot is written.
func observeSet(dst, dis []Seen, v string, t, horizon int64, maxN int) []Seen {
	start := len(dst)
	seenAt := t
	held := false
	for _, s := range dis {
		switch {
		case s.T <= horizon:
		case v != "" && s.Value == v:
			seenAt = max(seenAt, s.T)
			v, held = s.Value, true // the copy the state already owns
		default:
			dst = append(dst, s)
		}
	}
	if v != "" && seenAt > horizon {
		if !held {
			// The observation's string may share a decoded record's memory: keep
			// a copy of just the value.
			v = strings.Clone(v)
		}
		nd := dst[start:]
		i := start + sort.Search(len(nd), func(i int) bool { return nd[i].T > seenAt })
		dst = append(dst, Seen{})
		copy(dst[i+1:], dst[i:])
		dst[i] = Seen{Value: v, T: seenAt}
	}
	if n := len(dst) - start; maxN > 0 && n > maxN {
		dst = append(dst[:start], dst[start+n-maxN:]...)
	}
	return dst
}

// Agg is a window aggregate of one series.
type Agg struct {
	N                    int64
	Sum, SumSq, Min, Max float64
}

// Window aggregates series i over w ms at t (see the package doc for the
// resolution). A nil entity has an empty aggregate.
func (e *Entity) Window(i int, t, w int64) Agg {
	a := Agg{Min: math.Inf(1), Max: math.Inf(-1)}
	if e == nil {
		return a
	}
	s := e.L.Series[i]
	bs := e.Series[i]
	lo, hi := floorDiv(t-w, s.Width), floorDiv(t, s.Width)
	// Newest first: in-order input reads the last buckets, and a series holds
	// at most its span's worth of them.
	for j := len(bs) - 1; j >= 0 && bs[j].I > lo; j-- {
		b := &bs[j]
		if b.I > hi {
			continue
		}
		a.N += b.N
		a.Sum += b.Sum
		a.SumSq += b.SumSq
		a.Min, a.Max = min(a.Min, b.Min), max(a.Max, b.Max)
	}
	return a
}

// DistinctCount is the number of values of set i last seen in (t-w, t].
func (e *Entity) DistinctCount(i int, t, w int64) float64 {
	if e == nil {
		return 0
	}
	n := 0
	for _, s := range e.Sets[i] {
		if s.T > t-w && s.T <= t {
			n++
		}
	}
	return float64(n)
}

// LastValue is last value i; Has false when there is none.
func (e *Entity) LastValue(i int) Value {
	if e == nil {
		return Value{}
	}
	return e.Lasts[i]
}

// SinceLast is t minus the latest previous event time in seconds; NaN when none.
func (e *Entity) SinceLast(t int64) float64 {
	if e == nil {
		return math.NaN()
	}
	return float64(t-e.Last) / 1000
}

const (
	encodingV1 = 1
	encodingV2 = 2
	encodingV3 = 3
)

// ErrCorrupt reports a changelog value that cannot be decoded.
var ErrCorrupt = errors.New("state: corrupt changelog value")

// AppendBinary appends the changelog encoding of e to b.
//
// Layout (version 3): byte 3, varint Last, varint WM-Last; uvarint number of
// series, each: 4-byte id, byte stats, uvarint buckets, newest first, each:
// uvarint index distance (from floor(Last/width) for the first, from the
// previous one after), uvarint N<<1|single, and when the stats are not empty a
// mode byte and numbers: single set (a bucket of one value v: sum = min = max
// = v, sum of squares = v*v) means one number v in mode bits 0-1; otherwise
// one number per stat the series keeps (sum, sum of squares, min, max), stat k
// in mode bits 2k..2k+1; uvarint number of sets, each: 4-byte id, uvarint
// values, newest first, each: uvarint length, bytes, uvarint time distance (from
// Last for the first, from the previous one after); uvarint number of last
// values present, each: 4-byte id, byte kind (1 number, 2 string), for a number
// a mode byte and the number, for a string uvarint length and bytes, then varint
// Last-T.
//
// A number's mode says how it is stored, always exactly (the encoder checks
// that decoding gives the same float64 bits, else it stores all 8 bytes):
// 0 float64 (8 bytes little-endian), 1 float32 (4 bytes), 2 zig-zag varint k
// for k/100, 3 zig-zag varint k for k/10000.
//
// Version 2 (still read) differs: varint WM instead of WM-Last; uvarint N and
// one float64 per stat for every bucket; set times as uvarint Last-T, oldest
// first; a last number as 8 bytes without a mode.
func (e *Entity) AppendBinary(b []byte) []byte {
	l := e.L
	size := 24
	for i := range e.Series {
		size += 6 + len(e.Series[i])*(4+4*bitsSet(l.Series[i].Stats))
	}
	for i := range e.Sets {
		size += 6 + 16*len(e.Sets[i]) // a guess at the values' lengths: append grows b if short
	}
	size += 16 * len(e.Lasts)
	b = slices.Grow(b, size)
	b = append(b, encodingV3)
	b = binary.AppendVarint(b, e.Last)
	b = binary.AppendVarint(b, e.WM-e.Last)
	b = binary.AppendUvarint(b, uint64(len(e.Series)))
	for i, bs := range e.Series {
		s := &l.Series[i]
		b = binary.LittleEndian.AppendUint32(b, l.ids.series[i])
		b = append(b, byte(s.Stats))
		b = binary.AppendUvarint(b, uint64(len(bs)))
		prev := floorDiv(e.Last, s.Width)
		for j := len(bs) - 1; j >= 0; j-- { // newest first: distances are small and positive
			bk := &bs[j]
			b = binary.AppendUvarint(b, uint64(prev-bk.I))
			prev = bk.I
			b = appendBucket(b, s.Stats, bk)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(e.Sets)))
	for i, ss := range e.Sets {
		b = binary.LittleEndian.AppendUint32(b, l.ids.sets[i])
		b = binary.AppendUvarint(b, uint64(len(ss)))
		prev := e.Last
		for j := len(ss) - 1; j >= 0; j-- { // newest first: distances are positive
			s := &ss[j]
			b = binary.AppendUvarint(b, uint64(len(s.Value)))
			b = append(b, s.Value...)
			b = binary.AppendUvarint(b, uint64(prev-s.T))
			prev = s.T
		}
	}
	present := 0
	for _, v := range e.Lasts {
		if v.Has {
			present++
		}
	}
	b = binary.AppendUvarint(b, uint64(present))
	for i, v := range e.Lasts {
		if !v.Has {
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, l.ids.lasts[i])
		if v.IsStr {
			b = append(b, 2)
			b = binary.AppendUvarint(b, uint64(len(v.Str)))
			b = append(b, v.Str...)
		} else {
			b = append(b, 1)
			m := numMode(v.Num)
			b = appendNum(append(b, m), m, v.Num)
		}
		b = binary.AppendVarint(b, e.Last-v.T)
	}
	return b
}

func bitsSet(s Stat) int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}

// statOrder is the order stats are stored in.
var statOrder = [...]Stat{StatSum, StatSumSq, StatMin, StatMax}

func statPtr(bk *Bucket, s Stat) *float64 {
	switch s {
	case StatSum:
		return &bk.Sum
	case StatSumSq:
		return &bk.SumSq
	case StatMin:
		return &bk.Min
	default:
		return &bk.Max
	}
}

// single reports whether bk is one value v as Observe leaves it (sum, min and
// max v, sum of squares v*v), for the stats in st, bit for bit.
func single(st Stat, bk *Bucket) bool {
	if bk.N != 1 {
		return false
	}
	v := math.Float64bits(bk.Sum)
	return (st&StatMin == 0 || math.Float64bits(bk.Min) == v) &&
		(st&StatMax == 0 || math.Float64bits(bk.Max) == v) &&
		(st&StatSumSq == 0 || math.Float64bits(bk.SumSq) == math.Float64bits(bk.Sum*bk.Sum))
}

func appendBucket(b []byte, st Stat, bk *Bucket) []byte {
	if st == 0 {
		return binary.AppendUvarint(b, uint64(bk.N)<<1)
	}
	if st&StatSum != 0 && single(st, bk) {
		b = binary.AppendUvarint(b, uint64(bk.N)<<1|1)
		m := numMode(bk.Sum)
		return appendNum(append(b, m), m, bk.Sum)
	}
	b = binary.AppendUvarint(b, uint64(bk.N)<<1)
	var modes byte
	for k, s := range statOrder {
		if st&s != 0 {
			modes |= numMode(*statPtr(bk, s)) << (2 * k)
		}
	}
	b = append(b, modes)
	for k, s := range statOrder {
		if st&s != 0 {
			b = appendNum(b, modes>>(2*k)&3, *statPtr(bk, s))
		}
	}
	return b
}

// Number modes (see AppendBinary).
const (
	modeF64 byte = iota
	modeF32
	modeCents
	modeE4
)

var modeScale = [4]float64{modeCents: 100, modeE4: 10000}

// numMode is the shortest mode that stores v exactly.
func numMode(v float64) byte {
	bits := math.Float64bits(v)
	best, size := modeF64, 8
	for m := modeCents; m <= modeE4; m++ {
		k := math.Round(v * modeScale[m])
		if !(math.Abs(k) < 1<<53) {
			break
		}
		if ki := int64(k); math.Float64bits(float64(ki)/modeScale[m]) == bits {
			if n := varintLen(ki); n < size {
				best, size = m, n
			}
			break
		}
	}
	if size > 4 && math.Float64bits(float64(float32(v))) == bits {
		best = modeF32
	}
	return best
}

// varintLen is the length of binary.AppendVarint's encoding of k.
func varintLen(k int64) int {
	u := uint64(k<<1) ^ uint64(k>>63) // zig-zag
	return (bits.Len64(u|1) + 6) / 7
}

func appendNum(b []byte, m byte, v float64) []byte {
	switch m {
	case modeF32:
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
	case modeCents, modeE4:
		return binary.AppendVarint(b, int64(math.Round(v*modeScale[m])))
	default:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
}

// Upgrade says what decoding had to convert.
type Upgrade struct {
	FromV1       bool // a version-1 value, converted
	StartedEmpty int  // aggregates of the layout the value could not give

	dropped bool // the value had aggregates the layout does not keep
}

// Decode parses a changelog value written by AppendBinary (version 3), by the
// version-2 encoding or by the version-1 encoding, for layout l. The entity
// keeps no reference to b.
func Decode(l *Layout, b []byte) (*Entity, Upgrade, error) {
	if len(b) > 0 && b[0] == encodingV1 {
		return decodeV1(l, b)
	}
	e := newEntity(l)
	up, err := e.decode(l, b, false)
	if err != nil {
		return nil, up, err
	}
	return e, up, nil
}

// decode fills e, an entity of layout l, from the version-2 or version-3 value
// b, reusing e's slices. With alias, e's strings share b's memory (b must then
// never change while e is in use). On an error e holds a partial value.
func (e *Entity) decode(l *Layout, b []byte, alias bool) (Upgrade, error) {
	var up Upgrade
	str := func(v []byte) string {
		if alias {
			return unsafe.String(unsafe.SliceData(v), len(v))
		}
		return string(v)
	}
	var found [64]bool // series, sets and last values seen (the first 64)
	d := decoder{b: b}
	ver := d.byte()
	if ver != encodingV2 && ver != encodingV3 {
		return up, fmt.Errorf("%w: version %d", ErrCorrupt, ver)
	}
	v3 := ver == encodingV3
	last, wm := d.varint(), d.varint()
	if v3 {
		wm += last
	}
	e.Last, e.WM = last, wm
	for i := range e.Series {
		e.Series[i] = e.Series[i][:0]
	}
	for i := range e.Sets {
		e.Sets[i] = e.Sets[i][:0]
	}
	clear(e.Lasts)
	nfound := len(l.Series) + len(l.Sets)
	missing := nfound
	for range d.count(6) {
		id, st := d.u32(), Stat(d.byte())
		n := d.count(2)
		i := slices.Index(l.ids.series, id)
		keep := i >= 0 && l.Series[i].Stats&^st == 0 // every stat the layout needs was stored
		up.dropped = up.dropped || !keep || st != l.Series[i].Stats
		var bs []Bucket
		var prev int64
		if keep {
			prev = floorDiv(last, l.Series[i].Width)
			bs = slices.Grow(e.Series[i][:0], n)[:n]
			if i >= len(found) || !found[i] {
				missing--
			}
			if i < len(found) {
				found[i] = true
			}
		}
		for j := n - 1; j >= 0; j-- {
			var bk Bucket
			bk.I = prev - int64(d.uvarint())
			prev = bk.I
			if v3 {
				d.bucketV3(st, &bk)
			} else {
				bk.N = int64(d.uvarint())
				for _, s := range statOrder {
					if st&s != 0 {
						*statPtr(&bk, s) = math.Float64frombits(d.u64())
					}
				}
			}
			if keep {
				bs[j] = bk
			}
		}
		if keep {
			e.Series[i] = bs
		}
	}
	for range d.count(5) {
		id := d.u32()
		m := d.count(2)
		i := slices.Index(l.ids.sets, id)
		up.dropped = up.dropped || i < 0
		var ss []Seen
		if i >= 0 {
			ss = slices.Grow(e.Sets[i][:0], m)[:m]
			if k := len(l.Series) + i; k >= len(found) || !found[k] {
				missing--
				if k < len(found) {
					found[k] = true
				}
			}
		}
		t := last
		for j := range m {
			v := d.take(d.count(1))
			if v3 {
				t -= int64(d.uvarint())
			} else {
				t = last - int64(d.uvarint())
			}
			switch {
			case i < 0:
			case v3: // newest first
				ss[m-1-j] = Seen{Value: str(v), T: t}
			default:
				ss[j] = Seen{Value: str(v), T: t}
			}
		}
		if i >= 0 {
			e.Sets[i] = ss
		}
	}
	for range d.count(6) {
		id := d.u32()
		i := slices.Index(l.ids.lasts, id)
		up.dropped = up.dropped || i < 0
		var v Value
		switch d.byte() {
		case 1:
			if v3 {
				v.Num = d.num(d.byte())
			} else {
				v.Num = math.Float64frombits(d.u64())
			}
		case 2:
			v.Str, v.IsStr = str(d.take(d.count(1))), true
		default:
			d.fail("last value kind")
		}
		v.T, v.Has = last-d.varint(), true
		if i >= 0 {
			e.Lasts[i] = v
		}
	}
	if d.err != nil {
		return up, d.err
	}
	if len(d.b) != 0 {
		return up, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	// A last value absent from the record may just never have been set.
	up.StartedEmpty = max(0, missing)
	return up, nil
}

// bucketV3 reads a version-3 bucket's count and stats into bk.
func (d *decoder) bucketV3(st Stat, bk *Bucket) {
	h := d.uvarint()
	bk.N = int64(h >> 1)
	if st == 0 {
		return
	}
	modes := d.byte()
	if h&1 != 0 {
		v := d.num(modes & 3)
		for _, s := range statOrder {
			if st&s != 0 {
				*statPtr(bk, s) = v
			}
		}
		if st&StatSumSq != 0 {
			bk.SumSq = v * v
		}
		return
	}
	for k, s := range statOrder {
		if st&s != 0 {
			*statPtr(bk, s) = d.num(modes >> (2 * k) & 3)
		}
	}
}

// num reads a number stored in mode m.
func (d *decoder) num(m byte) float64 {
	switch m & 3 {
	case modeF32:
		if len(d.b) < 4 {
			d.fail("float")
			return 0
		}
		v := binary.LittleEndian.Uint32(d.b)
		d.b = d.b[4:]
		return float64(math.Float32frombits(v))
	case modeCents, modeE4:
		return float64(d.varint()) / modeScale[m&3]
	default:
		return math.Float64frombits(d.u64())
	}
}

// decodeV1 converts a version-1 value: byte 1, varint Last, varint WM, uvarint
// n, n × (varint T, 8-byte little-endian float64 amount), uvarint m, m × (uvarint
// len, value, varint T).
func decodeV1(l *Layout, b []byte) (*Entity, Upgrade, error) {
	d := decoder{b: b[1:]}
	last, wm := d.varint(), d.varint()
	type event struct {
		t int64
		a float64
	}
	evs := make([]event, d.count(9))
	for i := range evs {
		evs[i].t = d.varint()
		evs[i].a = math.Float64frombits(d.u64())
	}
	dis := make([]Seen, d.count(2))
	for i := range dis {
		dis[i].Value = string(d.take(d.count(1)))
		dis[i].T = d.varint()
	}
	if d.err != nil {
		return nil, Upgrade{}, d.err
	}
	if len(d.b) != 0 {
		return nil, Upgrade{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	up := Upgrade{FromV1: true}
	// Replay the events into an empty entity of the new layout, at the written
	// watermark.
	var e *Entity
	o := Obs{Nums: make([]float64, len(l.Series)), Strs: make([]string, len(l.Sets)), Lasts: make([]Value, len(l.Lasts))}
	for _, ev := range evs {
		o.T = ev.t
		for i, s := range l.Series {
			switch s.FromV1 {
			case V1Events:
				o.Nums[i] = 0
			case V1Amount:
				o.Nums[i] = ev.a
			default:
				o.Nums[i] = math.NaN()
			}
		}
		for i, s := range l.Lasts {
			o.Lasts[i] = Value{}
			if s.FromV1 == V1Amount {
				o.Lasts[i] = Value{T: ev.t, Num: ev.a, Has: true}
			}
		}
		e = e.Observe(l, &o, wm)
	}
	if e == nil {
		e = newEntity(l)
	}
	e.Last, e.WM = last, wm
	for i, s := range l.Sets {
		if s.FromV1 != V1Distinct {
			continue
		}
		var kept []Seen
		for _, v := range dis {
			if v.T > wm-s.Span {
				kept = append(kept, v)
			}
		}
		if m := l.limit(&l.Sets[i]); m > 0 && len(kept) > m {
			kept = kept[len(kept)-m:]
		}
		e.Sets[i] = kept
	}
	for _, s := range l.Series {
		if s.FromV1 == V1None {
			up.StartedEmpty++
		}
	}
	for _, s := range l.Sets {
		if s.FromV1 == V1None {
			up.StartedEmpty++
		}
	}
	for _, s := range l.Lasts {
		if s.FromV1 == V1None {
			up.StartedEmpty++
		}
	}
	return e, up, nil
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

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks that at least minSize bytes per item remain.
func (d *decoder) count(minSize int) int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
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

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail("id")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
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
