package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/scorestream/scorestream/model"
)

const modelUsageText = `Usage: scorestream model check FILE [--format F]
       scorestream model check MANIFEST.yaml [--config config.yaml]
       scorestream model predict --model FILE --features rows.csv [--format F] [--class K] [--all-classes]

Check a model file and score CSV rows offline, without Kafka.

Subcommands:
  check    load the model, validate it and print a summary: format, objective,
           trees, classes, the features it needs (in order) and its sha256 hash;
           given a manifest, also check the model against it (features, golden
           rows) and, with --config, against the pipeline's feature spec
  predict  score every row of a CSV file and print one score per line

Model formats (--format, default: detected from the file):
  logistic     scorestream's logistic JSON (examples/sklearn_export.py writes it)
  xgboost      Booster.save_model JSON or UBJSON (.ubj)
  lightgbm     Booster.save_model text
  onnx         an ONNX graph (.onnx), e.g. from skl2onnx with zipmap off and one
               float input; needs a build with -tags onnx and onnxruntime
               (scripts/build.sh --onnx, the image's -onnx tag; see
               examples/README-models.md); "scorestream version" lists the
               formats a binary has

Examples:
  scorestream model check model.ubj
  scorestream model check model.onnx
  scorestream model predict --model model.ubj --features rows.csv > scores.txt

Run "scorestream model <subcommand> --help" for details.
`

const modelPredictUsageText = `Usage: scorestream model predict --model FILE --features rows.csv [flags]

Score CSV rows with a model, offline.

The CSV's first line names the columns. Columns are matched to the model's
features by name, in any order; columns the model does not use are ignored, and a
feature with no column is an error that names it. An empty cell is a missing value
(NaN), which XGBoost and LightGBM route the way they were trained to; a logistic
model rejects it and predict stops with the row number.

Output: one score per input row, in row order, at full float64 precision: the
probability for binary and multiclass models (of class --class), the prediction
for regression and ranking models. These are the numbers the streaming scorer
produces for the same features, so this is the way to compare scorestream with
the Python library the model came from.

Examples:
  printf 'amount,hour,merchant_age\n42.5,3,120\n17,,900\n' > rows.csv
  scorestream model predict --model model.json --features rows.csv

Flags:
`

const modelCheckUsageText = `Usage: scorestream model check FILE [--format F]
       scorestream model check MANIFEST.yaml [--config config.yaml]

Load a model, validate it and print a summary.

Prints the format, objective, number of trees used (after best_iteration for an
XGBoost model trained with early stopping), classes, the features the model needs
in input order, and the sha256 hash of the file, which predictions record. Exit
status 1 with the reason if the model does not load.

Given a manifest (a .yaml or .yml file, see model.Manifest), loads the model file
it names and checks that the manifest declares every feature the model needs and
that the model reproduces every golden row (to 1e-6, relative above 1); with
--config, also that the pipeline's feature spec provides those features with the
manifest's defaults. Exit status 1 names every problem. A hot reload
(model.watch) runs the same checks before a new model may serve.

Examples:
  scorestream model check model.ubj
  scorestream model check examples/fraud/manifest.yaml --config config/example.yaml

Flags:
`

func modelCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, modelUsageText)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, modelUsageText)
		return exitOK
	case "predict":
		return modelPredict(ctx, args[1:], stdout, stderr)
	case "check":
		return modelCheck(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "scorestream model: unknown subcommand %q\n\n%s", args[0], modelUsageText)
	return exitUsage
}

func modelPredict(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scorestream model predict", flag.ContinueOnError)
	path := fs.String("model", "", "model `file` (required)")
	format := fs.String("format", "", "model format: logistic, xgboost, xgboost-ubj, lightgbm or onnx (default: detect)")
	rows := fs.String("features", "", "CSV `file` of rows to score, with a header of feature names; - reads stdin (required)")
	class := fs.Int("class", -1, "multiclass models: the class whose probability to print; -1 keeps the model's default, class 1")
	all := fs.Bool("all-classes", false, "multiclass models: print every class's probability, space-separated")
	if ok, code := parseFlags(fs, args, modelPredictUsageText, stdout, stderr); !ok {
		return code
	}
	if *path == "" || *rows == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream model predict: --model and --features are required, and nothing else\n")
		return exitUsage
	}
	m, err := model.Load(*path, *format)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream model predict: %v\n", err)
		return exitFailure
	}
	if *class >= 0 {
		if m, err = model.WithScoreClass(m, *class); err != nil {
			fmt.Fprintf(stderr, "scorestream model predict: --class: %v\n", err)
			return exitUsage
		}
	}
	var multi model.Multi
	if *all {
		mm, ok := m.(model.Multi)
		if !ok {
			fmt.Fprintf(stderr, "scorestream model predict: --all-classes: %s model has no per-class scores\n", m.Info().Format)
			return exitUsage
		}
		multi = mm
	}
	in := io.Reader(os.Stdin)
	if *rows != "-" {
		f, err := os.Open(*rows)
		if err != nil {
			fmt.Fprintf(stderr, "scorestream model predict: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	out := bufio.NewWriter(stdout)
	if err := modelScoreCSV(ctx, m, multi, in, out); err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "scorestream model predict: %s: %v\n", *rows, err)
		return exitFailure
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "scorestream model predict: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// modelScoreCSV scores each CSV row of in with m and writes one line per row to
// out; with multi set, every class's probability.
func modelScoreCSV(ctx context.Context, m model.Model, multi model.Multi, in io.Reader, out *bufio.Writer) error {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty file: want a header line of feature names")
		}
		return err
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if err := model.CheckFeatures(m, header, "the CSV header"); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	feats := m.Features()
	idx := make([]int, len(feats))
	for i, f := range feats {
		idx[i] = col[f]
	}
	checker, _ := m.(model.Checker)
	x := make([]float64, len(feats))
	var all []float64
	var buf []byte
	for line := 2; ; line++ {
		if line%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for i, c := range idx {
			cell := strings.TrimSpace(rec[c])
			if cell == "" {
				x[i] = math.NaN()
				continue
			}
			if x[i], err = strconv.ParseFloat(cell, 64); err != nil {
				return fmt.Errorf("line %d column %q: %q is not a number", line, feats[i], cell)
			}
		}
		if checker != nil {
			if err := checker.Check(x); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
		}
		buf = buf[:0]
		if multi != nil {
			all = multi.ScoreAll(all[:0], x)
			for k, s := range all {
				if k > 0 {
					buf = append(buf, ' ')
				}
				buf = strconv.AppendFloat(buf, s, 'g', -1, 64)
			}
		} else {
			buf = strconv.AppendFloat(buf, m.Score(x), 'g', -1, 64)
		}
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return err
		}
	}
}

func modelCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scorestream model check", flag.ContinueOnError)
	format := fs.String("format", "", "model format: logistic, xgboost, xgboost-ubj, lightgbm or onnx (default: detect)")
	cfgPath := fs.String("config", "", "pipeline config `file`: check a manifest's model against its feature spec")
	if ok, code := parseFlags(fs, args, modelCheckUsageText, stdout, stderr); !ok {
		return code
	}
	// Allow flags after the file name too: check FILE --format F.
	var path string
	if fs.NArg() > 0 {
		path = fs.Arg(0)
		if ok, code := parseFlags(fs, fs.Args()[1:], modelCheckUsageText, stdout, stderr); !ok {
			return code
		}
	}
	if path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream model check: want exactly one model file\n")
		return exitUsage
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		return manifestCheck(path, *cfgPath, stdout, stderr)
	}
	if *cfgPath != "" {
		fmt.Fprintf(stderr, "scorestream model check: --config needs a manifest (.yaml), not a model file\n")
		return exitUsage
	}
	m, err := model.Load(path, *format)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream model check: %v\n", err)
		return exitFailure
	}
	info := m.Info()
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "file:       %s\n", path)
	fmt.Fprintf(w, "format:     %s\n", info.Format)
	fmt.Fprintf(w, "objective:  %s\n", info.Objective)
	if info.Format != "logistic" {
		fmt.Fprintf(w, "trees:      %d\n", info.Trees)
	}
	fmt.Fprintf(w, "classes:    %d\n", info.Classes)
	if info.Classes > 1 {
		fmt.Fprintf(w, "score:      probability of class %d (change with predict --class)\n", info.ScoreClass)
	}
	feats := m.Features()
	fmt.Fprintf(w, "features:   %d\n", len(feats))
	for i, f := range feats {
		fmt.Fprintf(w, "  %3d  %s\n", i, f)
	}
	fmt.Fprintf(w, "sha256:     %s\n", info.Hash)
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "scorestream model check: %v\n", err)
		return exitFailure
	}
	return exitOK
}
