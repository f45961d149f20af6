package eval

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// maxScatter bounds the points of the champion-versus-challenger scatter plot.
const maxScatter = 1500

// compare puts challenger m against champion c on the rows both scored.
//
// ΔAUC's confidence interval is a paired bootstrap: each resample draws the
// paired rows with replacement (the same draw for both models, so their
// correlation is kept), computes both AUCs from one pass over each model's
// pre-sorted order (O(n) per resample), and the 95% interval is the 2.5th and
// 97.5th percentile of the resampled differences (numpy's linear
// interpolation). Resample r draws from PCG(seed, r): the interval depends on
// the seed only, not on the number of workers. Resamples that hold one class
// only are left out and counted.
func (a *Accumulator) compare(c, m int, y []int8, opts Options) Comparison {
	cr := Comparison{Champion: a.models[c].Name, Challenger: a.models[m].Name}
	cr.Method = fmt.Sprintf("paired bootstrap, %d resamples, seed %d, percentile 95%% interval", opts.Bootstrap, opts.Seed)
	sc, sm := a.scores[c], a.scores[m]

	// Flips and scatter over every row both scored, labelled or not.
	type dir struct{ from, to uint16 }
	flips := map[dir]*Flip{}
	both := 0
	for i := range sc {
		if math.IsNaN(sc[i]) || math.IsNaN(sm[i]) {
			continue
		}
		both++
		cr.Flips.Compared++
		dc, dm := a.decs[c][i], a.decs[m][i]
		if dc == dm {
			continue
		}
		f := flips[dir{dc, dm}]
		if f == nil {
			f = &Flip{From: a.decNames[dc], To: a.decNames[dm]}
			flips[dir{dc, dm}] = f
		}
		f.Events++
		cr.Flips.Total++
		if y[i] != -1 {
			f.Labelled++
			f.Positives += int64(y[i])
			cr.Flips.Positives += int64(y[i])
		}
	}
	cr.Flips.Direction = []Flip{}
	for _, f := range flips {
		cr.Flips.Direction = append(cr.Flips.Direction, *f)
	}
	slices.SortFunc(cr.Flips.Direction, func(x, z Flip) int {
		return cmp.Or(cmp.Compare(z.Events, x.Events), cmp.Compare(x.From, z.From), cmp.Compare(x.To, z.To))
	})
	stride := max(1, (both+maxScatter-1)/maxScatter)
	k := 0
	for i := range sc {
		if math.IsNaN(sc[i]) || math.IsNaN(sm[i]) {
			continue
		}
		if k%stride == 0 {
			cr.scatter = append(cr.scatter, scatterPoint{sc[i], sm[i], y[i]})
		}
		k++
	}

	// ΔAUC on the labelled rows both scored.
	var xs, xm []float64
	var l []int8
	for i := range sc {
		if y[i] == -1 || math.IsNaN(sc[i]) || math.IsNaN(sm[i]) {
			continue
		}
		xs, xm, l = append(xs, sc[i]), append(xm, sm[i]), append(l, y[i])
	}
	cr.Paired = int64(len(l))
	aucC, okC := newCurve(xs, l, order(xs)).rocAUC()
	aucM, okM := newCurve(xm, l, order(xm)).rocAUC()
	if !okC || !okM {
		if cr.Paired == 0 {
			cr.Verdict = fmt.Sprintf("%s vs %s: no labelled event scored by both, no AUC comparison (%d decision flips)", cr.Challenger, cr.Champion, cr.Flips.Total)
		} else {
			cr.Verdict = fmt.Sprintf("%s vs %s: AUC undefined (the %d labelled events have one class only), no AUC comparison (%d decision flips)", cr.Challenger, cr.Champion, cr.Paired, cr.Flips.Total)
		}
		return cr
	}
	cr.ChampionAUC, cr.ChallengerAUC, cr.DeltaAUC = num(aucC), num(aucM), num(aucM-aucC)
	deltas, degenerate := bootstrapDelta(xs, xm, l, opts.Bootstrap, opts.Seed)
	cr.Degenerate = degenerate
	if len(deltas) == 0 {
		cr.Verdict = fmt.Sprintf("%s vs %s: ΔAUC %+.4f, no confidence interval (no resample had both classes)", cr.Challenger, cr.Champion, aucM-aucC)
		return cr
	}
	slices.Sort(deltas)
	lo, hi := percentile(deltas, 2.5), percentile(deltas, 97.5)
	cr.CILow, cr.CIHigh = num(lo), num(hi)
	what := "no significant difference from"
	switch {
	case lo > 0:
		what = "better than"
	case hi < 0:
		what = "worse than"
	}
	cr.Verdict = fmt.Sprintf("%s is %s %s at 95%%: ROC AUC %.4f vs %.4f, ΔAUC %+.4f (95%% CI %+.4f to %+.4f); %s of %s events change decision",
		cr.Challenger, what, cr.Champion, aucM, aucC, aucM-aucC, lo, hi, fmtInt(cr.Flips.Total), fmtInt(cr.Flips.Compared))
	return cr
}

// bootstrapDelta returns the ΔAUC (b − a) of each resample that has both
// classes, and how many had one class only.
func bootstrapDelta(a, b []float64, y []int8, resamples int, seed int64) ([]float64, int) {
	ascA, ascB := order(a), order(b)
	slices.Reverse(ascA) // order is descending and stable; any order within ties gives the same AUC
	slices.Reverse(ascB)
	out := make([]float64, resamples)
	ok := make([]bool, resamples)
	workers := min(runtime.GOMAXPROCS(0), resamples)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			weights := make([]int32, len(y))
			for r := w; r < resamples; r += workers {
				clear(weights)
				rng := rand.New(rand.NewPCG(uint64(seed), uint64(r)))
				for range len(y) {
					weights[rng.IntN(len(y))]++
				}
				ua, okA := weightedAUC(a, y, ascA, weights)
				ub, okB := weightedAUC(b, y, ascB, weights)
				out[r], ok[r] = ub-ua, okA && okB
			}
		}()
	}
	wg.Wait()
	deltas := out[:0]
	degenerate := 0
	for r, d := range out {
		if ok[r] {
			deltas = append(deltas, d)
		} else {
			degenerate++
		}
	}
	return deltas, degenerate
}

// percentile is numpy.percentile (method "linear") of sorted values.
func percentile(sorted []float64, q float64) float64 {
	pos := q / 100 * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i] + f*(sorted[i+1]-sorted[i])
}
