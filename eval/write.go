package eval

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed report.html.tmpl
var reportTemplate string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f":          fmtF,
	"g":          fmtG,
	"ptr":        num,
	"pval":       fmtP,
	"modelNotes": modelNotes,
	"pct":        fmtPct,
	"n":          fmtInt,
	"short":      shortHash,
	"score":      fmtScore,
	"color":      color,
	"roc":        rocPlot,
	"pr":         prPlot,
	"rel":        reliabilityPlot,
	"hist":       histogramPlot,
	"scatter":    scatterPlot,
	"segplot":    segmentPlot,
	"timeauc": func(r *Report) template.HTML {
		return timePlot(r, "ROC AUC over time", "ROC AUC", func(m Metrics) *float64 { return m.ROCAUC }, true)
	},
	"timemean": func(r *Report) template.HTML {
		return timePlot(r, "Mean score over time", "mean score", func(m Metrics) *float64 { return m.MeanScore }, false)
	},
	"verdictClass": verdictClass,
	"delta":        func(v *float64) string { return fmtSigned(v) },
	"modelname":    func(r *Report, i int) string { return r.Models[i].Model.Name },
	"segname":      func(s string) string { return truncate(s, 40) },
	"sub":          func(a, b int64) int64 { return a - b },
}).Parse(reportTemplate))

func fmtF(v *float64) string {
	if v == nil {
		return "—"
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

// fmtG writes counts and costs without needless decimals.
func fmtG(v *float64) string {
	if v == nil {
		return "—"
	}
	if *v == math.Trunc(*v) && math.Abs(*v) < 1e15 {
		return fmtInt(int64(*v))
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

// modelNotes are the models' notes, each prefixed by its model.
func modelNotes(r *Report) []string {
	var out []string
	for _, m := range r.Models {
		for _, n := range append([]string{m.Metrics.Note}, m.Notes...) {
			if n != "" {
				out = append(out, m.Model.Name+": "+n)
			}
		}
	}
	return out
}

// fmtScore writes a threshold (a Score or a float64), infinities as ∞.
func fmtScore(v any) string {
	var f float64
	switch x := v.(type) {
	case Score:
		f = float64(x)
	case float64:
		f = x
	}
	switch {
	case math.IsNaN(f):
		return "—"
	case math.IsInf(f, -1):
		return "−∞"
	case math.IsInf(f, 1):
		return "∞"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func fmtP(v *float64) string {
	switch {
	case v == nil:
		return "—"
	case *v < 1e-4:
		return "< 0.0001"
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

func fmtSigned(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%+.4f", *v)
}

func fmtPct(v *float64) string {
	if v == nil {
		return "—"
	}
	p := *v * 100
	if p != 0 && math.Abs(p) < 0.1 {
		return fmt.Sprintf("%.3f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

func fmtInt(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func verdictClass(v string) string {
	switch {
	case strings.Contains(v, " is better than "):
		return "better"
	case strings.Contains(v, " is worse than "):
		return "worse"
	}
	return "neutral"
}

// JSON returns report.json's content.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("eval: encode report.json: %w", err)
	}
	return append(b, '\n'), nil
}

// HTML returns report.html's content: one self-contained page, inline CSS and
// SVG, no script, nothing fetched (its Content-Security-Policy forbids it).
func (r *Report) HTML() ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, r); err != nil {
		return nil, fmt.Errorf("eval: render report.html: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFiles writes dir/report.json and dir/report.html (creating dir). Both
// are rendered first and each is written to a temporary name in dir and
// renamed, so a reader never sees half a file and a failed render writes
// nothing.
func (r *Report) WriteFiles(dir string) error {
	j, err := r.JSON()
	if err != nil {
		return err
	}
	h, err := r.HTML()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return errors.Join(writeAtomic(dir, "report.json", j), writeAtomic(dir, "report.html", h))
}

func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("eval: write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("eval: write %s: %w", name, err)
	}
	return nil
}
