package monitortest

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Snapshot renders every scorestream_monitor_* series of g as a value keyed by
// name{labels} (histogram buckets as their own keys): two monitors exported the
// same figures when Diff finds nothing.
func Snapshot(g prometheus.Gatherer) (map[string]string, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "scorestream_monitor_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = fmt.Sprint(m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				out[key] = fmt.Sprint(m.GetGauge().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key+"_count"] = fmt.Sprint(h.GetSampleCount())
				out[key+"_sum"] = fmt.Sprint(h.GetSampleSum())
				for _, b := range h.GetBucket() {
					out[key+"le="+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = fmt.Sprint(b.GetCumulativeCount())
				}
			}
		}
	}
	return out, nil
}

// Diff lists the series whose values differ between a and b. Values equal to
// a relative 1e-9 are the same: sums of scores are added in the order the
// partitions interleave, which differs from run to run in the last bits.
func Diff(a, b map[string]string) []string {
	var out []string
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s = %s, missing from the other", k, va))
			continue
		}
		x, _ := strconv.ParseFloat(va, 64)
		y, _ := strconv.ParseFloat(vb, 64)
		if va != vb && !(math.Abs(x-y) <= 1e-9*math.Abs(x)) {
			out = append(out, fmt.Sprintf("%s = %s, the other %s", k, va, vb))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s = %s only in the other", k, vb))
		}
	}
	sort.Strings(out)
	return out
}
