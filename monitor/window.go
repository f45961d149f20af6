package monitor

import "time"

// windowSlots is how many slots a sliding window is cut into: the window covers
// the last windowSlots whole or partial slots, so its edge moves in steps of
// length/windowSlots.
const windowSlots = 24

// window holds per-class score-bin counts of the labels of the last length of
// label time, in a ring of slots.
type window struct {
	length time.Duration
	width  int64 // slot width, ms
	slots  [windowSlots]slot
}

type slot struct {
	used     bool
	idx      int64 // label time / width of the counts held
	pos, neg []float64
}

func newWindow(length time.Duration, bins int) *window {
	w := &window{length: length, width: max(length.Milliseconds()/windowSlots, 1)}
	for i := range w.slots {
		w.slots[i] = slot{pos: make([]float64, bins), neg: make([]float64, bins)}
	}
	return w
}

// add counts one label at label time t into bin; now is the labels' watermark
// (>= t). A label older than the window is not counted.
func (w *window) add(t, now int64, bin int, positive bool) {
	idx, cur := floorDiv(t, w.width), floorDiv(now, w.width)
	if idx <= cur-windowSlots {
		return
	}
	s := &w.slots[mod(idx, windowSlots)]
	if !s.used || s.idx != idx {
		s.used, s.idx = true, idx
		clear(s.pos)
		clear(s.neg)
	}
	if positive {
		s.pos[bin]++
	} else {
		s.neg[bin]++
	}
}

// sum writes the counts of the window ending at now into pos and neg.
func (w *window) sum(now int64, pos, neg []float64) {
	clear(pos)
	clear(neg)
	cur := floorDiv(now, w.width)
	for i := range w.slots {
		s := &w.slots[i]
		if !s.used || s.idx <= cur-windowSlots || s.idx > cur {
			continue
		}
		for b := range pos {
			pos[b] += s.pos[b]
			neg[b] += s.neg[b]
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int64) int64 { return a - floorDiv(a, b)*b }
