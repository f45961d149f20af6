//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/gen"
)

// TestInterop checks that other clients see what scorestream's audit sees:
// kcat (librdkafka, read_committed) counts the same predictions, and a
// confluent-kafka Python producer (AvroSerializer + SchemaRegistryClient
// against `scorestream registry`) writes events that scorestream scores into
// predictions that fastavro decodes, with the writer schema fetched by id.
func TestInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found (scripts/deps.sh installs it)")
	}
	pyenv := exec.Command(filepath.Join(suite.root, "scripts", "pyenv.sh"))
	venv, err := pyenv.Output()
	if err != nil {
		t.Fatalf("scripts/pyenv.sh: %v", err)
	}
	py := filepath.Join(strings.TrimSpace(string(venv)), "bin", "python")

	s := newScenario(t, "interop", suite.brokers, -1)
	var rep audit.Report
	res := result{"instances": 1}
	defer func() { s.report(res, rep) }()
	s.start("0")
	const nGen, nPy = 5000, 600
	g := s.gen(nGen, 0, 16)
	sum := g.wait(t, nGen)

	schema := filepath.Join(t.TempDir(), "payment.avsc")
	if err := os.WriteFile(schema, []byte(gen.Schema), 0o644); err != nil {
		t.Fatal(err)
	}
	var produced struct {
		Produced int      `json:"produced"`
		EventIDs []string `json:"event_ids"`
	}
	runJSON(t, &produced, py, filepath.Join(suite.root, "integration", "interop.py"), "produce",
		"--brokers", s.brokers, "--registry", suite.registry, "--topic", s.input,
		"--schema", schema, "--events", "600", "--prefix", "py-"+s.group)
	if produced.Produced != nPy {
		t.Fatalf("python produced %d events, want %d", produced.Produced, nPy)
	}

	s.waitCaughtUp(3 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events+nPy)

	// kcat, read_committed, to the end of every partition.
	var out, errb bytes.Buffer
	cmd := exec.Command(kcat, "-C", "-b", s.brokers, "-t", s.preds, "-X", "isolation.level=read_committed",
		"-o", "beginning", "-e", "-q", "-f", "%p %o\n")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat: %v: %s", err, errb.String())
	}
	kcatCount := int64(strings.Count(out.String(), "\n"))
	res["kcat_predictions"] = kcatCount
	if kcatCount != rep.Predictions {
		t.Errorf("kcat counts %d committed predictions, audit %d", kcatCount, rep.Predictions)
	}

	var consumed struct {
		Decoded   int      `json:"decoded"`
		EventIDs  []string `json:"event_ids"`
		SchemaIDs []int    `json:"schema_ids"`
	}
	runJSON(t, &consumed, py, filepath.Join(suite.root, "integration", "interop.py"), "consume",
		"--brokers", s.brokers, "--registry", suite.registry, "--topic", s.preds, "--prefix", "py-"+s.group)
	res["python_decoded_predictions"] = consumed.Decoded
	if int64(consumed.Decoded) != rep.Predictions {
		t.Errorf("python decoded %d predictions, audit counts %d", consumed.Decoded, rep.Predictions)
	}
	slices.Sort(consumed.EventIDs)
	want := slices.Clone(produced.EventIDs)
	slices.Sort(want)
	if !slices.Equal(consumed.EventIDs, want) {
		t.Errorf("python-produced events: %d predictions decoded for %d events (first got %v, want %v)",
			len(consumed.EventIDs), len(want), head(consumed.EventIDs), head(want))
	}
	t.Logf("kcat %d predictions; python decoded %d (schema ids %v), %d of its own %d events scored",
		kcatCount, consumed.Decoded, consumed.SchemaIDs, len(consumed.EventIDs), nPy)
}

func head(s []string) []string { return s[:min(3, len(s))] }

// runJSON runs a command and decodes the last line of its stdout into v.
func runJSON(t *testing.T, v any, name string, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr: %s", filepath.Base(name), strings.Join(args[:2], " "), err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		t.Fatalf("%s: last line is not JSON: %v\n%s", filepath.Base(name), err, out.String())
	}
}
