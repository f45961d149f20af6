package stream

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestDecided(t *testing.T) {
	open := []openTxn{
		{partition: 0, producer: 1, epoch: 5, start: 100},             // its coordinator says PrepareCommit: markers on the way
		{partition: 1, producer: 2, epoch: 7, start: 200},             // Ongoing at the same epoch: a zombie's, will abort
		{partition: 2, producer: 3, epoch: 4, start: 300},             // Ongoing, but at a later epoch: this one ended
		{partition: 3, producer: 4, epoch: 9, start: 400},             // CompleteAbort long ago: hanging
		{partition: 4, producer: 5, epoch: 1, start: 500},             // unknown to the coordinator
		{topic: "c", partition: 5, producer: 6, epoch: 2, start: 600}, // Ongoing, same epoch, partition in it: a zombie's
		{topic: "c", partition: 6, producer: 7, epoch: 2, start: 700}, // Ongoing, same epoch, partition not in it: an earlier one (version 1)
	}
	coord := map[int64]coordTxn{
		1: {id: "a", state: "PrepareCommit", epoch: 6},
		2: {id: "b", state: "Ongoing", epoch: 7},
		3: {id: "c", state: "Ongoing", epoch: 5},
		4: {id: "d", state: "CompleteAbort", epoch: 10},
		6: {id: "e", state: "Ongoing", epoch: 2, parts: kadm.TopicsSet{"c": {5: {}}}},
		7: {id: "f", state: "Ongoing", epoch: 2, parts: kadm.TopicsSet{"c": {1: {}}}},
	}
	var got []int32
	for _, o := range decided(open, coord) {
		got = append(got, o.partition)
	}
	if want := []int32{0, 2, 3, 4, 6}; !slices.Equal(got, want) {
		t.Fatalf("decided partitions %v, want %v", got, want)
	}
}
