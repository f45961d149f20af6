package eval

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// The plots are inline SVG written here: no script, nothing fetched, readable
// when printed. Each plot is one <svg class="plot"> with a title, axes with
// ticks, and its series.

var palette = []string{"#1f5fa8", "#d1495b", "#2a9d5c", "#8e5bb5", "#e08a1e", "#3b8ea5"}

func color(i int) string { return palette[i%len(palette)] }

type series struct {
	name    string
	color   string
	pts     []Point
	dashed  bool
	markers bool // a dot at every point (sparse series such as time buckets)
	gaps    bool // NaN Y breaks the line
}

type axis struct {
	lo, hi float64
	label  string
	ticks  func(lo, hi float64) []tick
}

type tick struct {
	at    float64
	label string
}

const (
	plotW, plotH           = 370, 290
	padL, padR, padT, padB = 50, 12, 46, 42
	innerW, innerH         = plotW - padL - padR, plotH - padT - padB
)

type canvas struct {
	b    strings.Builder
	x, y axis
}

func newCanvas(title string, x, y axis) *canvas {
	c := &canvas{x: x, y: y}
	for _, a := range []*axis{&c.x, &c.y} {
		if !(a.hi > a.lo) || a.hi/2-a.lo/2 == 0 || math.IsInf(a.lo, 0) || math.IsInf(a.hi, 0) {
			a.lo, a.hi = 0, 1
		}
	}
	fmt.Fprintf(&c.b, `<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		plotW, plotH, plotW, plotH, esc(title))
	fmt.Fprintf(&c.b, `<title>%s</title><text x="%d" y="18" class="pt">%s</text>`, esc(title), padL, esc(title))
	fmt.Fprintf(&c.b, `<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>`, padL, padT, innerW, innerH)
	ticksX, ticksY := linearTicks, linearTicks
	if x.ticks != nil {
		ticksX = x.ticks
	}
	if y.ticks != nil {
		ticksY = y.ticks
	}
	for _, t := range ticksX(c.x.lo, c.x.hi) {
		px := c.px(t.at)
		fmt.Fprintf(&c.b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/><text x="%.1f" y="%d" class="tk" text-anchor="middle">%s</text>`,
			px, padT, px, padT+innerH, px, padT+innerH+14, esc(t.label))
	}
	for _, t := range ticksY(c.y.lo, c.y.hi) {
		py := c.py(t.at)
		fmt.Fprintf(&c.b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="tk" text-anchor="end">%s</text>`,
			padL, py, padL+innerW, py, padL-5, py+4, esc(t.label))
	}
	fmt.Fprintf(&c.b, `<text x="%d" y="%d" class="al" text-anchor="middle">%s</text>`, padL+innerW/2, plotH-8, esc(x.label))
	fmt.Fprintf(&c.b, `<text x="14" y="%d" class="al" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`, padT+innerH/2, padT+innerH/2, esc(y.label))
	return c
}

// frac is where v lies between lo and hi, 0 to 1; halving first keeps
// hi − lo finite for any finite lo and hi.
// Out-of-range values are clamped near the frame, so every coordinate written
// is finite.
func frac(v, lo, hi float64) float64 {
	f := (v/2 - lo/2) / (hi/2 - lo/2)
	if math.IsNaN(f) {
		return 0
	}
	return min(max(f, -0.05), 1.05)
}

func (c *canvas) px(v float64) float64 {
	return float64(padL) + frac(v, c.x.lo, c.x.hi)*innerW
}

func (c *canvas) py(v float64) float64 {
	return float64(padT+innerH) - frac(v, c.y.lo, c.y.hi)*innerH
}

func (c *canvas) diagonal(pts ...Point) {
	c.line(series{color: "#999", pts: pts, dashed: true})
}

func (c *canvas) line(s series) {
	dash := ""
	if s.dashed {
		dash = ` stroke-dasharray="4 3"`
	}
	var seg []string
	flush := func() {
		if len(seg) > 0 {
			fmt.Fprintf(&c.b, `<polyline fill="none" stroke="%s" stroke-width="1.8"%s points="%s"/>`, s.color, dash, strings.Join(seg, " "))
		}
		seg = seg[:0]
	}
	for _, p := range s.pts {
		if math.IsNaN(p.Y) || math.IsNaN(p.X) {
			flush()
			continue
		}
		seg = append(seg, fmt.Sprintf("%.1f,%.1f", c.px(p.X), c.py(p.Y)))
	}
	flush()
	if s.markers {
		for _, p := range s.pts {
			if !math.IsNaN(p.Y) && !math.IsNaN(p.X) {
				fmt.Fprintf(&c.b, `<circle cx="%.1f" cy="%.1f" r="2.6" fill="%s"/>`, c.px(p.X), c.py(p.Y), s.color)
			}
		}
	}
}

func (c *canvas) dot(p Point, r float64, fill string, opacity float64) {
	fmt.Fprintf(&c.b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" fill-opacity="%.2f"/>`, c.px(p.X), c.py(p.Y), r, fill, opacity)
}

func (c *canvas) rect(x0, x1, y0, y1 float64, fill string, opacity float64) {
	fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%.2f"/>`,
		c.px(x0), c.py(y1), math.Max(c.px(x1)-c.px(x0), 0.5), math.Max(c.py(y0)-c.py(y1), 0), fill, opacity)
}

func (c *canvas) legend(names, colors []string) {
	x := float64(padL)
	for i, n := range names {
		fmt.Fprintf(&c.b, `<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d" class="lg">%s</text>`,
			x, padT-16, colors[i], x+14, padT-7, esc(n))
		x += 22 + 6.2*float64(len([]rune(n)))
	}
}

func (c *canvas) html() template.HTML {
	c.b.WriteString(`</svg>`)
	return template.HTML(c.b.String()) // every text in it went through esc
}

func esc(s string) string { return html.EscapeString(s) }

func linearTicks(lo, hi float64) []tick {
	step := niceStep(hi/5 - lo/5)
	if lo+step == lo || hi+step == hi || math.IsInf(step, 0) {
		return []tick{{lo, fmt.Sprintf("%.3g", lo)}, {hi, fmt.Sprintf("%.3g", hi)}}
	}
	var out []tick
	first := math.Ceil(lo/step-1e-9) * step
	for k := range 12 { // a nice step gives at most 6 ticks; the bound is for degenerate axes
		v := first + float64(k)*step
		if math.IsInf(v, 0) || v-hi > step*1e-9 {
			break
		}
		out = append(out, tick{v, trimFloat(v, step)})
	}
	return out
}

func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v, step float64) string {
	if math.Abs(v) < step*1e-6 {
		v = 0
	}
	if math.Abs(v) >= 1e6 || step >= 1e6 {
		return fmt.Sprintf("%.3g", v)
	}
	dec := max(0, int(math.Ceil(-math.Log10(step)+1e-9)))
	if step*math.Pow(10, float64(dec)) != math.Round(step*math.Pow(10, float64(dec))) {
		dec++
	}
	return fmt.Sprintf("%.*f", dec, v)
}

func timeTicks(lo, hi float64) []tick {
	span := time.Duration(hi-lo) * time.Millisecond
	steps := []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	step := (span/6/(24*time.Hour) + 1) * 24 * time.Hour // whole days, for spans beyond the list
	for _, s := range steps {
		if span/s <= 6 {
			step = s
			break
		}
	}
	ms := float64(step.Milliseconds())
	layout := "Jan 2"
	if step < 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	var out []tick
	for v := math.Ceil(lo/ms) * ms; v <= hi; v += ms {
		out = append(out, tick{v, time.UnixMilli(int64(v)).UTC().Format(layout)})
	}
	return out
}

// Plots of the report.

func unit(label string) axis { return axis{lo: 0, hi: 1, label: label} }

// modelCurves draws one curve per model on the unit square, with a reference
// line and each model's metric in the legend.
func modelCurves(r *Report, title, xl, yl string, ref [2]Point, metric func(ModelReport) string, curve func(ModelReport) []Point, markers bool) template.HTML {
	c := newCanvas(title, unit(xl), unit(yl))
	if !math.IsNaN(ref[0].Y) {
		c.diagonal(ref[0], ref[1])
	}
	names, colors := modelLegend(r, metric)
	for i, m := range r.Models {
		c.line(series{color: color(i), pts: curve(m), markers: markers})
	}
	c.legend(names, colors)
	return c.html()
}

var diagonal = [2]Point{{0, 0}, {1, 1}}

func rocPlot(r *Report) template.HTML {
	return modelCurves(r, "ROC curve", "false positive rate", "true positive rate", diagonal,
		func(m ModelReport) string { return fmtMetric(m.Metrics.ROCAUC, "AUC ") },
		func(m ModelReport) []Point { return m.ROC }, false)
}

// prPlot's reference line is the base rate (a random ranking's precision).
func prPlot(r *Report) template.HTML {
	base := math.NaN()
	if m := r.Models[0].Metrics; m.BaseRate != nil {
		base = *m.BaseRate
	}
	return modelCurves(r, "Precision–recall", "recall", "precision", [2]Point{{0, base}, {1, base}},
		func(m ModelReport) string { return fmtMetric(m.Metrics.PRAUC, "AP ") },
		func(m ModelReport) []Point { return m.PR }, false)
}

func reliabilityPlot(r *Report) template.HTML {
	return modelCurves(r, "Reliability (calibration)", "mean predicted score", "fraction positive", diagonal,
		func(m ModelReport) string { return fmtMetric(m.Metrics.ECE, "ECE ") },
		func(m ModelReport) []Point {
			var pts []Point
			for _, b := range m.Calibration {
				if b.Count > 0 {
					pts = append(pts, Point{*b.MeanPredicted, *b.FractionPositive})
				}
			}
			return pts
		}, true)
}

func modelLegend(r *Report, metric func(ModelReport) string) (names, colors []string) {
	for i, m := range r.Models {
		n := m.Model.Name
		if s := metric(m); s != "" {
			n += " (" + s + ")"
		}
		names, colors = append(names, n), append(colors, color(i))
	}
	return names, colors
}

func fmtMetric(v *float64, prefix string) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%s%.3f", prefix, *v)
}

// histogramPlot draws each class as the share of that class per bin, so the
// rare class is visible next to the common one.
func histogramPlot(m ModelReport) template.HTML {
	h := m.Histogram
	classes := []struct {
		name   string
		counts []int64
		color  string
	}{{"negative", h.Negative, "#1f5fa8"}, {"positive", h.Positive, "#d1495b"}, {"unlabeled", h.Unlabeled, "#888"}}
	top := 0.0
	var names, colors []string
	type shares struct {
		v       []float64
		color   string
		outline bool
	}
	var draw []shares
	for _, cl := range classes {
		var total int64
		for _, n := range cl.counts {
			total += n
		}
		if total == 0 {
			continue
		}
		// Unlabeled scores as a dashed line over the labelled classes, not to
		// hide them; filled when they are all there is.
		s := shares{color: cl.color, outline: cl.name == "unlabeled" && total < int64(sumAll(h))}
		for _, n := range cl.counts {
			v := float64(n) / float64(total)
			s.v = append(s.v, v)
			top = math.Max(top, v)
		}
		draw = append(draw, s)
		names, colors = append(names, cl.name+" "+compact(total)), append(colors, cl.color)
	}
	c := newCanvas("Scores of "+m.Model.Name+" by class", axis{lo: h.Edges[0], hi: h.Edges[len(h.Edges)-1], label: "score"},
		axis{lo: 0, hi: math.Max(top*1.15, 0.01), label: "share of the class"})
	for _, s := range draw {
		if s.outline { // a step line, so it does not hide the labelled classes
			var pts []Point
			for b, v := range s.v {
				pts = append(pts, Point{h.Edges[b], v}, Point{h.Edges[b+1], v})
			}
			c.line(series{color: s.color, pts: pts, dashed: true})
			continue
		}
		for b, v := range s.v {
			c.rect(h.Edges[b], h.Edges[b+1], 0, v, s.color, 0.45)
		}
	}
	c.legend(names, colors)
	return c.html()
}

func scatterPlot(cr Comparison) template.HTML {
	lo, hi := 0.0, 1.0
	for _, p := range cr.scatter {
		lo, hi = math.Min(lo, math.Min(p.x, p.y)), math.Max(hi, math.Max(p.x, p.y))
	}
	c := newCanvas(fmt.Sprintf("Score per event (%s shown)", fmtInt(int64(len(cr.scatter)))),
		axis{lo: lo, hi: hi, label: cr.Champion + " score"}, axis{lo: lo, hi: hi, label: cr.Challenger + " score"})
	c.diagonal(Point{lo, lo}, Point{hi, hi})
	for _, pass := range []int8{-1, 0, 1} { // positives drawn last, on top
		for _, p := range cr.scatter {
			if p.label != pass {
				continue
			}
			switch p.label {
			case 1:
				c.dot(Point{p.x, p.y}, 2.6, "#d1495b", 0.85)
			case 0:
				c.dot(Point{p.x, p.y}, 1.8, "#1f5fa8", 0.35)
			default:
				c.dot(Point{p.x, p.y}, 1.8, "#888", 0.35)
			}
		}
	}
	c.legend([]string{"negative", "positive", "unlabeled"}, []string{"#1f5fa8", "#d1495b", "#888"})
	return c.html()
}

// timePlot draws one metric per model over the time buckets.
func timePlot(r *Report, title, ylabel string, metric func(Metrics) *float64, unitRange bool) template.HTML {
	pts := r.OverTime.Points
	lo, hi := float64(pts[0].startMs), float64(pts[len(pts)-1].startMs)
	if hi == lo {
		hi = lo + 3_600_000
	}
	ylo, yhi := math.Inf(1), math.Inf(-1)
	all := make([][]Point, len(r.Models))
	for _, p := range pts {
		for m := range r.Models {
			v := math.NaN()
			if x := metric(p.Models[m]); x != nil {
				v = *x
				ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
			}
			all[m] = append(all[m], Point{float64(p.startMs), v})
		}
	}
	if math.IsInf(ylo, 0) {
		ylo, yhi = 0, 1
	}
	if unitRange {
		ylo, yhi = math.Max(0, math.Floor(ylo*10-0.5)/10), math.Min(1, math.Ceil(yhi*10+0.5)/10)
	} else {
		ylo, yhi = 0, yhi+yhi/10
	}
	c := newCanvas(title, axis{lo: lo, hi: hi, label: "event time (UTC), per " + r.OverTime.Bucket, ticks: timeTicks}, axis{lo: ylo, hi: yhi, label: ylabel})
	var names, colors []string
	for m := range r.Models {
		c.line(series{color: color(m), pts: all[m], markers: true, gaps: true})
		names, colors = append(names, r.Models[m].Model.Name), append(colors, color(m))
	}
	c.legend(names, colors)
	return c.html()
}

// segmentPlot draws each model's ROC AUC per segment as dots on one row each.
func segmentPlot(r *Report) template.HTML {
	segs := r.Segments
	if len(segs) > 20 {
		segs = segs[:20]
	}
	lo := 1.0
	for _, s := range segs {
		for _, m := range s.Models {
			if m.ROCAUC != nil {
				lo = math.Min(lo, *m.ROCAUC)
			}
		}
	}
	lo = math.Max(0, math.Floor(lo*10-0.5)/10)
	c := newCanvas("ROC AUC by segment (largest segments)", axis{lo: lo, hi: 1, label: "ROC AUC"},
		axis{lo: 0, hi: float64(len(segs)), label: "", ticks: func(float64, float64) []tick { return nil }})
	for i, s := range segs {
		y := float64(len(segs)-i) - 0.5
		fmt.Fprintf(&c.b, `<text x="%d" y="%.1f" class="tk" text-anchor="end">%s</text>`, padL-5, c.py(y)+4, esc(truncate(s.Segment, 8)))
		for m, mt := range s.Models {
			if mt.ROCAUC != nil {
				c.dot(Point{*mt.ROCAUC, y}, 4, color(m), 0.9)
			}
		}
	}
	var names, colors []string
	for m := range r.Models {
		names, colors = append(names, r.Models[m].Model.Name), append(colors, color(m))
	}
	c.legend(names, colors)
	return c.html()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if s == "" {
		return "(none)"
	}
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func sumAll(h Histogram) int {
	n := 0
	for b := range h.Positive {
		n += int(h.Positive[b] + h.Negative[b] + h.Unlabeled[b])
	}
	return n
}

// compact writes a count in at most four significant characters: 795, 6.4k, 1.2M.
func compact(n int64) string {
	switch {
	case n < 10_000:
		return strconv.FormatInt(n, 10)
	case n < 1_000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
}
