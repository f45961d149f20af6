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
// ΔAUC's confidence interval (the verdict's) is a paired bootstrap: each resample draws the
// paired rows with replacement (the same draw for both models, so their
// correlation is kept), computes both AUCs from one pass over each model's
// pre-sorted order (O(n) per resample), and the 95% interval is the 2.5th and
// 97.5th percentile of the resampled differences (numpy's linear
// interpolation). Resample r draws from PCG(seed, r): the interval depends on
// the seed only, not on the number of workers. Resamples that hold one class
// only are left out and counted. DeLong's interval is reported next to it, and
// is the verdict's when Options.Bootstrap < 0 (for inputs so large that 1000
// passes over them take too long: DeLong is one O(n log n) pass).
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
	plottable := func(i int) bool {
		return !math.IsNaN(sc[i]) && !math.IsNaN(sm[i]) && !math.IsInf(sc[i], 0) && !math.IsInf(sm[i], 0)
	}
	for i := range sc {
		if !plottable(i) {
			both--
		}
	}
	stride := max(1, (both+maxScatter-1)/maxScatter)
	k := 0
	for i := range sc {
		if !plottable(i) {
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
	if d, v, ok := delong(xs, xm, l); ok {
		sd := math.Sqrt(v)
		cr.DeLongCILow, cr.DeLongCIHigh = num(d-z975*sd), num(d+z975*sd)
		p := 1.0
		if sd > 0 {
			p = math.Erfc(math.Abs(d) / sd / math.Sqrt2)
		} else if d != 0 {
			p = 0
		}
		cr.DeLongP = num(p)
	}
	var lo, hi float64
	if opts.Bootstrap > 0 {
		deltas, degenerate := bootstrapDelta(xs, xm, l, opts.Bootstrap, opts.Seed)
		cr.Degenerate = degenerate
		if len(deltas) == 0 {
			cr.Verdict = fmt.Sprintf("%s vs %s: ΔAUC %+.4f, no confidence interval (no resample had both classes)", cr.Challenger, cr.Champion, aucM-aucC)
			return cr
		}
		slices.Sort(deltas)
		lo, hi = percentile(deltas, 2.5), percentile(deltas, 97.5)
	} else {
		cr.Method = "DeLong (1988), normal 95% interval"
		lo, hi = *cr.DeLongCILow, *cr.DeLongCIHigh
	}
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
	// Renumber the rows in a's ascending order: a's pass then reads the
	// weights in order, only b's pass jumps around.
	ra := newRanking(a, y)
	a2, b2, y2 := make([]float64, len(a)), make([]float64, len(b)), make([]int8, len(y))
	for k, i := range ra.row {
		a2[k], b2[k], y2[k] = a[i], b[i], y[i]
	}
	ascA, ascB := newRanking(a2, y2), newRanking(b2, y2)
	out := make([]float64, resamples)
	ok := make([]bool, resamples)
	workers := min(runtime.GOMAXPROCS(0), resamples)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One byte a row keeps the weights in cache; a row drawn 255
			// times (never seen in practice) redoes the resample with int32.
			small := make([]uint8, len(y))
			var big []int32
			for r := w; r < resamples; r += workers {
				var ua, ub float64
				var okA, okB bool
				if resample(small, math.MaxUint8, seed, r) {
					ua, okA = weightedAUC(ascA, small)
					ub, okB = weightedAUC(ascB, small)
				} else {
					if big == nil {
						big = make([]int32, len(y))
					}
					resample(big, math.MaxInt32, seed, r)
					ua, okA = weightedAUC(ascA, big)
					ub, okB = weightedAUC(ascB, big)
				}
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

// resample draws len(w) rows with replacement into the counts w, from
// PCG(seed, r). It reports false if a count would pass top.
func resample[W uint8 | int32](w []W, top W, seed int64, r int) bool {
	clear(w)
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(r)))
	fits := true
	for range len(w) {
		i := rng.IntN(len(w))
		if w[i] == top {
			fits = false
			continue
		}
		w[i]++
	}
	return fits
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
