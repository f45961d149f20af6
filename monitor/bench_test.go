package monitor

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkCore: one prediction and its label through the join and the
// metrics, per op (champion thresholds, two AUC windows); and the AUC refresh.
//
//	go test ./monitor -run '^$' -bench . -benchmem
func BenchmarkCore(b *testing.B) {
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = "event-" + strconv.Itoa(i)
	}
	b.Run("prediction+label", func(b *testing.B) {
		c, err := NewCore(CoreConfig{Thresholds: testThresholds, Windows: []time.Duration{time.Hour, 24 * time.Hour}}, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			id := ids[i&(len(ids)-1)]
			at := int64(i) * 10
			c.Prediction(Prediction{EventID: id, Score: float64(i%1000) / 1000, ModelName: "fraud", ModelVersion: "1", Role: RoleChampion, EventTime: at})
			c.Label(Label{EventID: id, Positive: i%20 == 0, Time: at + 5})
		}
	})
	b.Run("refresh", func(b *testing.B) {
		c, err := NewCore(CoreConfig{Thresholds: testThresholds, Windows: []time.Duration{time.Hour, 24 * time.Hour}}, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		for _, role := range []string{RoleChampion, RoleChallenger} {
			c.Prediction(Prediction{EventID: "x" + role, Score: 0.5, ModelName: "fraud", ModelVersion: "1", Role: role})
		}
		b.ReportAllocs()
		for b.Loop() {
			c.Refresh()
		}
	})
}
