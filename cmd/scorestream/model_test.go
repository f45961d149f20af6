package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestModelPredictParity scores the model package's parity rows through the CLI
// and compares with the predictions of the Python library that trained each model.
func TestModelPredictParity(t *testing.T) {
	dir := filepath.Join("..", "..", "model", "testdata", "parity")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ubj, _ := filepath.Glob(filepath.Join(dir, "*.ubj"))
	files = append(files, ubj...)
	if len(files) < 10 {
		t.Fatalf("only %d parity models in %s", len(files), dir)
	}
	for _, file := range files {
		stem := strings.TrimSuffix(file, filepath.Ext(file))
		t.Run(filepath.Base(stem), func(t *testing.T) {
			want, err := os.ReadFile(stem + ".expected.txt")
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := modelCmd(context.Background(), []string{"predict", "--model", file, "--features", stem + ".rows.csv", "--all-classes=" + strconv.FormatBool(strings.Contains(stem, "multi"))}, &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			exp := strings.Split(strings.TrimSpace(string(want)), "\n")
			if len(got) != len(exp) {
				t.Fatalf("%d lines, want %d", len(got), len(exp))
			}
			for i := range exp {
				g, e := strings.Fields(got[i]), strings.Fields(exp[i])
				if len(g) != len(e) {
					t.Fatalf("line %d: %q, want %q", i+1, got[i], exp[i])
				}
				for k := range e {
					gv, err1 := strconv.ParseFloat(g[k], 64)
					ev, err2 := strconv.ParseFloat(e[k], 64)
					if err1 != nil || err2 != nil || !(math.Abs(gv-ev) <= 1e-6) {
						t.Errorf("line %d: %q, want %q", i+1, got[i], exp[i])
					}
				}
			}
		})
	}
}

func TestModelPredictErrors(t *testing.T) {
	dir := t.TempDir()
	csv := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	xgb := filepath.Join("..", "..", "model", "testdata", "parity", "xgb_binary.json")
	logit := filepath.Join("..", "..", "model", "testdata", "parity", "logistic_plain.json")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing columns", []string{"predict", "--model", xgb, "--features", csv("a.csv", "amount,hour,extra\n1,2,3\n")}, exitFailure,
			"model needs features not in the CSV header: merchant_age, distance_km, tx_count_1h"},
		{"not a number", []string{"predict", "--model", logit, "--features", csv("b.csv", "amount,hour,merchant_age\n1,2,3\n1,x,3\n")}, exitFailure,
			`line 3 column "hour": "x" is not a number`},
		{"logistic missing", []string{"predict", "--model", logit, "--features", csv("c.csv", "merchant_age,hour,amount\n1,2,3\n1,,3\n")}, exitFailure,
			`line 3: logistic: feature "hour": missing input`},
		{"no model", []string{"predict", "--features", "x.csv"}, exitUsage, "--model and --features are required"},
		{"bad model", []string{"predict", "--model", csv("m.json", `{"format":"logistic"}`), "--features", "x.csv"}, exitFailure, "features: empty"},
		{"unknown sub", []string{"frobnicate"}, exitUsage, `unknown subcommand "frobnicate"`},
		{"check two files", []string{"check", xgb, xgb}, exitUsage, "exactly one model file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := modelCmd(context.Background(), c.args, &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), c.code, c.want)
			}
		})
	}
}

func TestModelPredictColumnsByName(t *testing.T) {
	// Columns in another order plus an unused one must give the same scores.
	logit := filepath.Join("..", "..", "model", "testdata", "parity", "logistic_plain.json")
	p := filepath.Join(t.TempDir(), "r.csv")
	if err := os.WriteFile(p, []byte("merchant_age,unused,amount,hour\n0.3,9,0.2,0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(t.TempDir(), "q.csv")
	if err := os.WriteFile(q, []byte("amount,hour,merchant_age\n0.2,0.1,0.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var a, b, stderr bytes.Buffer
	if code := modelCmd(context.Background(), []string{"predict", "--model", logit, "--features", p}, &a, &stderr); code != exitOK {
		t.Fatal(stderr.String())
	}
	if code := modelCmd(context.Background(), []string{"predict", "--model", logit, "--features", q}, &b, &stderr); code != exitOK {
		t.Fatal(stderr.String())
	}
	if a.String() != b.String() || a.Len() == 0 {
		t.Errorf("reordered columns give %q, want %q", a.String(), b.String())
	}
}

func TestModelCheck(t *testing.T) {
	var stdout, stderr bytes.Buffer
	file := filepath.Join("..", "..", "model", "testdata", "parity", "xgb_early_stop.json")
	if code := modelCmd(context.Background(), []string{"check", file}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// best_iteration is 1 in this model (see its attributes): 2 trees are used.
	for _, want := range []string{"format:     xgboost", "objective:  binary:logistic", "trees:      2\n", "classes:    1", "features:   5", "tx_count_1h", "sha256:     "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := modelCmd(context.Background(), []string{"predict", "--help"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "Examples:") {
		t.Errorf("predict --help: exit %d, %q", code, stdout.String())
	}
}
