package audit

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/sink"
)

// ledger is what the audit remembers about one input partition. It never holds
// record values: one bit says an input record exists at an offset, one bit says
// it is inside the audited time range, and one byte counts the outputs that
// name it. That is 1.25 bytes per offset in [start, bound), so ten million
// offsets cost about 12.5 MB.
type ledger struct {
	topic     string
	partition int32

	// start is the input's log start offset; outputs naming an offset below
	// it are ignored (retention deleted the input, nothing to check).
	start int64
	// bound is where coverage ends: [start, bound) must be covered. It is the
	// group's committed offset when auditing a group, else lastStable.
	bound int64
	// lastStable is the input's last stable offset, captured after the outputs'
	// end offsets: with exactly-once, every committed output names an input
	// below it, so an output naming an offset at or past it is an orphan.
	lastStable int64

	exists  bitset  // an input record (committed, not a control record) is at start+i
	inRange bitset  // ... and its timestamp is in the audited range
	counts  []uint8 // outputs naming start+i; 255 means "look in over"
	over    map[int64]int64
}

func newLedger(topic string, partition int32, start, bound, lastStable int64) *ledger {
	if bound < start {
		bound = start
	}
	n := bound - start
	return &ledger{
		topic:      topic,
		partition:  partition,
		start:      start,
		bound:      bound,
		lastStable: lastStable,
		exists:     newBitset(n),
		inRange:    newBitset(n),
		counts:     make([]uint8, n),
	}
}

// input records that an input record exists at off; inRange says whether its
// timestamp is inside the audited time range.
func (l *ledger) input(off int64, inRange bool) {
	if off < l.start || off >= l.bound {
		return
	}
	i := off - l.start
	l.exists.set(i)
	if inRange {
		l.inRange.set(i)
	}
}

// verdict is what one output record naming an input offset amounts to.
type verdict int

const (
	counted verdict = iota // names a covered input record; counted toward it
	ignored                // names an input outside the audited range
	orphan                 // names an input record that does not exist
)

// output classifies an output record that names off and counts it.
func (l *ledger) output(off int64) verdict {
	switch {
	case off < l.start:
		return ignored // deleted by retention (or never audited): cannot check
	case off >= l.lastStable:
		return orphan // no committed input record can be there
	case off >= l.bound:
		return ignored // committed input, but past the group's committed offset
	}
	i := off - l.start
	if !l.exists.get(i) {
		return orphan // aborted record, control record, or a gap
	}
	if !l.inRange.get(i) {
		return ignored
	}
	if l.counts[i] < 255 {
		l.counts[i]++
		return counted
	}
	if l.over == nil {
		l.over = make(map[int64]int64)
	}
	l.over[off]++
	return counted
}

// count is the number of outputs naming start+i.
func (l *ledger) count(i int64) int64 {
	c := int64(l.counts[i])
	if c == 255 {
		c += l.over[l.start+i]
	}
	return c
}

// tally walks the covered offsets in order and reports every covered input
// record with a count other than one.
func (l *ledger) tally(fn func(off, count int64)) {
	for i := range int64(len(l.counts)) {
		if !l.inRange.get(i) {
			continue
		}
		if c := l.count(i); c != 1 {
			fn(l.start+i, c)
		}
	}
}

// covered is the number of input records that must be covered.
func (l *ledger) covered() int64 { return l.inRange.ones() }

type bitset []uint64

func newBitset(n int64) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int64)      { b[i>>6] |= 1 << (uint64(i) & 63) }
func (b bitset) get(i int64) bool { return b[i>>6]&(1<<(uint64(i)&63)) != 0 }
func (b bitset) ones() (n int64) {
	for _, w := range b {
		n += int64(bits.OnesCount64(w))
	}
	return n
}

// errNoProvenance is wrapped by every provenance parse failure.
var errNoProvenance = errors.New("no provenance")

// Provenance reads the source topic, partition and offset an output record
// names. Each of the three headers must appear exactly once; numbers are
// non-negative decimal text in canonical form (no sign, no leading zeros), the
// way strconv.FormatInt writes them: anything else is a writer bug worth
// reporting.
func Provenance(headers []kgo.RecordHeader) (topic string, partition int32, offset int64, err error) {
	var seenT, seenP, seenO bool
	for _, h := range headers {
		switch h.Key {
		case sink.HeaderSourceTopic:
			if seenT {
				return "", 0, 0, fmt.Errorf("%w: header %s repeated", errNoProvenance, h.Key)
			}
			seenT = true
			topic = string(h.Value)
		case sink.HeaderSourcePartition:
			if seenP {
				return "", 0, 0, fmt.Errorf("%w: header %s repeated", errNoProvenance, h.Key)
			}
			seenP = true
			p, ok := canonical(h.Value, 32)
			if !ok {
				return "", 0, 0, fmt.Errorf("%w: header %s: %q is not a partition", errNoProvenance, h.Key, h.Value)
			}
			partition = int32(p)
		case sink.HeaderSourceOffset:
			if seenO {
				return "", 0, 0, fmt.Errorf("%w: header %s repeated", errNoProvenance, h.Key)
			}
			seenO = true
			o, ok := canonical(h.Value, 64)
			if !ok {
				return "", 0, 0, fmt.Errorf("%w: header %s: %q is not an offset", errNoProvenance, h.Key, h.Value)
			}
			offset = o
		}
	}
	switch {
	case !seenT || topic == "":
		return "", 0, 0, fmt.Errorf("%w: header %s missing or empty", errNoProvenance, sink.HeaderSourceTopic)
	case !seenP:
		return "", 0, 0, fmt.Errorf("%w: header %s missing", errNoProvenance, sink.HeaderSourcePartition)
	case !seenO:
		return "", 0, 0, fmt.Errorf("%w: header %s missing", errNoProvenance, sink.HeaderSourceOffset)
	}
	return topic, partition, offset, nil
}

// canonical parses v as a non-negative decimal of at most bits bits written the
// way strconv.FormatInt writes it (no sign, no leading zeros).
func canonical(v []byte, bits int) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, bits)
	return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == string(v)
}
