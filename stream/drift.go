package stream

import (
	"github.com/scorestream/scorestream/drift"
	"github.com/scorestream/scorestream/stream/process"
)

// observers are a loop's drift observers for the champion and challenger it
// serves, rebuilt when a reload swaps the models.
type observers struct {
	champ, chall   *process.Scorer
	champO, challO *drift.Observer
}

// of returns the observers of ms's champion and challenger (nil ones count
// nothing: no challenger, or no reference profile).
func (o *observers) of(m *drift.Metrics, ms *process.Models, names []string) (champ, chall *drift.Observer) {
	if ms.Champion != o.champ {
		o.champ = ms.Champion
		o.champO = newObserver(m, ms.Champion, "champion", names)
	}
	if ms.Challenger != o.chall {
		o.chall = ms.Challenger
		o.challO = newObserver(m, ms.Challenger, "challenger", names)
	}
	return o.champO, o.challO
}

func newObserver(m *drift.Metrics, s *process.Scorer, role string, names []string) *drift.Observer {
	if s == nil {
		return nil
	}
	return drift.NewObserver(m, s.Name, s.Version, role, s.Profile, names)
}
