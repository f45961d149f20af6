package monitor

import "container/list"

// Prediction is one scored event as the monitor reads it from the predictions
// (role "champion") or shadow (role "challenger") topic.
type Prediction struct {
	EventID      string
	Score        float64
	ModelName    string
	ModelVersion string
	Role         string
	EventTime    int64 // Unix ms
}

// Label is the ground truth for one event, known at Time.
type Label struct {
	EventID  string
	Positive bool
	Time     int64 // Unix ms: when the label was known

	joined bool // counted as joined (once, however many predictions it joins)
}

// Side names the half of the join an entry waits for, as in the metrics.
const (
	SidePrediction = "prediction" // a prediction waiting for its label
	SideLabel      = "label"      // a label (with or without predictions) kept for late predictions
)

// joinEvents receives what the join decides. Each is called synchronously from
// Join.Prediction or Join.Label.
type joinEvents interface {
	joined(p *Prediction, l *Label)
	duplicateLabel(l *Label)
	// unlabelled: a prediction whose label did not come within the horizon.
	unlabelled(p *Prediction)
	// unknownLabel: a label whose event had no prediction within the horizon.
	unknownLabel(l *Label)
	// evicted: an entry of side pushed out by max entries before the horizon.
	evicted(side string)
}

// Join pairs predictions and labels by event id in bounded state. Either side
// may come first. It is not safe for concurrent use: the monitor's loop owns it.
//
// Time is event time, never the wall clock, so that a rebuild from the topics
// joins exactly what the first pass joined. A prediction waits for its label
// until the labels' watermark (the highest label time seen) passes its event
// time + horizon; a label waits for predictions (a shadow prediction may come
// after the champion's) until the predictions' watermark passes its label time +
// horizon. Each side expires on the other side's watermark, so a rebuild that
// reads one topic far ahead of the other still joins everything within the
// horizon. Expiry walks each queue from its oldest insertion while the oldest has
// expired: an entry out of time order behind a younger one waits for it (memory
// stays bounded by max entries either way).
//
// Beyond maxEntries the oldest entry of the longer queue is evicted and reported
// as early: those labels and predictions are lost to the metrics, the counterpart
// of the entity state's early evictions.
type Join struct {
	horizon    int64 // ms
	maxEntries int
	ev         joinEvents

	byID         map[string]*entry
	waiting      list.List // *entry without a label, oldest first
	labelled     list.List // *entry with a label, oldest first
	predWM, lbWM int64
	orphans      int // labels held with no prediction yet
}

type entry struct {
	id    string
	preds []Prediction
	label *Label
	elem  *list.Element
}

func newJoin(horizonMs int64, maxEntries int, ev joinEvents) *Join {
	return &Join{horizon: horizonMs, maxEntries: maxEntries, ev: ev, byID: make(map[string]*entry)}
}

// Len is the number of entries held.
func (j *Join) Len() int { return len(j.byID) }

// Sizes are the entries held: predictions waiting for their label, labels
// with no prediction yet (unknown so far), and labels already joined (kept for
// a late shadow prediction).
func (j *Join) Sizes() (waiting, unknown, joined int) {
	return j.waiting.Len(), j.orphans, j.labelled.Len() - j.orphans
}

// Prediction adds p: joined at once if its label is held, else held.
func (j *Join) Prediction(p Prediction) {
	j.predWM = max(j.predWM, p.EventTime)
	if e, ok := j.byID[p.EventID]; ok {
		for _, q := range e.preds {
			if q.Role == p.Role {
				return // one prediction per event and role; a repeat adds nothing
			}
		}
		e.preds = append(e.preds, p)
		if e.label != nil && len(e.preds) == 1 {
			j.orphans--
		}
		if e.label != nil {
			j.ev.joined(&e.preds[len(e.preds)-1], e.label)
		}
	} else {
		e := &entry{id: p.EventID, preds: []Prediction{p}}
		e.elem = j.waiting.PushBack(e)
		j.byID[p.EventID] = e
	}
	j.expire()
}

// Label adds l: joined with every prediction held for its event, and kept for
// predictions still to come. A second label for an event is reported and dropped.
func (j *Join) Label(l Label) {
	j.lbWM = max(j.lbWM, l.Time)
	e, ok := j.byID[l.EventID]
	switch {
	case ok && e.label != nil:
		j.ev.duplicateLabel(&l)
	case ok:
		e.label = &l
		j.waiting.Remove(e.elem)
		e.elem = j.labelled.PushBack(e)
		for i := range e.preds {
			j.ev.joined(&e.preds[i], e.label)
		}
	default:
		e := &entry{id: l.EventID, label: &l}
		e.elem = j.labelled.PushBack(e)
		j.byID[l.EventID] = e
		j.orphans++
	}
	j.expire()
}

func (j *Join) expire() {
	for j.waiting.Len() > 0 {
		e := j.waiting.Front().Value.(*entry)
		if e.preds[0].EventTime+j.horizon >= j.lbWM {
			break
		}
		j.drop(e, false)
	}
	for j.labelled.Len() > 0 {
		e := j.labelled.Front().Value.(*entry)
		if e.label.Time+j.horizon >= j.predWM {
			break
		}
		j.drop(e, false)
	}
	for len(j.byID) > j.maxEntries {
		q := &j.waiting
		if j.labelled.Len() > j.waiting.Len() {
			q = &j.labelled
		}
		j.drop(q.Front().Value.(*entry), true)
	}
}

func (j *Join) drop(e *entry, early bool) {
	delete(j.byID, e.id)
	switch {
	case e.label == nil:
		j.waiting.Remove(e.elem)
		if early {
			j.ev.evicted(SidePrediction)
			return
		}
		for i := range e.preds {
			j.ev.unlabelled(&e.preds[i])
		}
	default:
		j.labelled.Remove(e.elem)
		if len(e.preds) == 0 {
			j.orphans--
		}
		if early {
			j.ev.evicted(SideLabel)
		} else if len(e.preds) == 0 {
			j.ev.unknownLabel(e.label)
		}
	}
}
