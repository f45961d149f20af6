package modelwatch

import (
	"testing"

	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/stream/process"
)

type closingModel struct {
	model.Model
	closed int
}

func (c *closingModel) Close() error { c.closed++; return nil }

// TestOldModelsClosedWhenUnused: a replaced generation's models (ONNX sessions
// hold native memory) are closed once, when the last loop has moved off them.
func TestOldModelsClosedWhenUnused(t *testing.T) {
	old, cur := &closingModel{}, &closingModel{}
	w := &Watcher{}
	w.cur.Store(&generation{models: &process.Models{Champion: &process.Scorer{Model: old}}})
	_, next1 := w.Subscribe()
	_, next2 := w.Subscribe()
	w.cur.Store(&generation{n: 1, models: &process.Models{Champion: &process.Scorer{Model: cur}}})
	if next1() == nil {
		t.Fatal("first loop did not pick up the new generation")
	}
	if old.closed != 0 {
		t.Fatal("old models closed while a loop still serves them")
	}
	if next1() != nil {
		t.Fatal("a loop picked up the same generation twice")
	}
	if next2() == nil {
		t.Fatal("second loop did not pick up the new generation")
	}
	if old.closed != 1 || cur.closed != 0 {
		t.Fatalf("closed old %d times, current %d times; want 1 and 0", old.closed, cur.closed)
	}
}
