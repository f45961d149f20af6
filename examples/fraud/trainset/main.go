// Command trainset writes a training set for the fraud example: synthetic card
// payments from package gen, turned into feature vectors by the same feature
// spec and state code the live pipeline runs (demo/config.yaml), one CSV row per
// event with the generator's fraud label.
//
//	go run ./examples/fraud/trainset --events 200000 --seed 42 > train.csv
//
// Header: the feature names, then "label". An empty cell is a missing value.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

func main() {
	events := flag.Int("events", 200000, "events to generate")
	seed := flag.Int64("seed", 42, "generator seed (use another than the demo's to keep train and serve apart)")
	flag.Parse()
	if err := run(*events, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "trainset:", err)
		os.Exit(1)
	}
}

func run(n int, seed int64) error {
	dir, err := os.MkdirTemp("", "trainset")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", dir)
	if err != nil {
		return err
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		return err
	}
	// One partition holding every card: the same features as the pipeline as long
	// as no entity is evicted early.
	st, err := state.NewPartition(state.Config{Limits: spec.Limits(), MaxEntities: 1 << 22})
	if err != nil {
		return err
	}
	sch, err := decode.ParseSchema(gen.Schema) // records as the pipeline decodes them: union-free
	if err != nil {
		return err
	}
	g, err := gen.New(gen.Config{Seed: seed, Cards: 5000})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintln(w, strings.Join(append(append([]string{}, spec.Names()...), "label"), ","))
	vec := make([]float64, len(spec.Names()))
	row := make([]byte, 0, 256)
	for i := 0; i < n; i++ {
		e := g.Next()
		rec := sch.Strip(e.Native())
		ev, err := spec.Meta(rec, e.EventTime.UnixMilli(), e.EventID)
		if err != nil {
			return err
		}
		next, err := process.Enrich(spec, st, e.CardID, rec, ev, vec)
		if err != nil {
			return err
		}
		st.Advance(ev.Time)
		st.Stage(e.CardID, next)
		st.Commit()
		row = row[:0]
		for j, v := range vec {
			if j > 0 {
				row = append(row, ',')
			}
			if v == v { // not NaN
				row = strconv.AppendFloat(row, v, 'g', -1, 64)
			}
		}
		label := "0"
		if e.Fraud {
			label = "1"
		}
		row = append(row, ',')
		row = append(row, label...)
		row = append(row, '\n')
		if _, err := w.Write(row); err != nil {
			return err
		}
	}
	return nil
}
