package main

import (
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
)

func TestGenLabelsTopic(t *testing.T) {
	brokers, reg := genFakes(t)
	t.Setenv(config.EnvBrokers, strings.Join(brokers, ","))
	code, stdout, stderr := genRun(t, "--registry", reg.URL(), "--topic", "pay", "--labels-topic", "pay-labels", "--create-topic",
		"--events", "2000", "--seed", "3", "--cards", "100", "--fraud-rate", "0.1", "--malformed", "0.05", "--summary", "json")
	if code != exitOK {
		t.Fatalf("gen exit %d\nstderr: %s", code, stderr)
	}
	sum := genLastJSON(t, stdout)
	if want := sum.Events - sum.MalformedTotal; sum.LabelsProduced != want || want == 0 {
		t.Fatalf("summary labels %d, want one per well-formed event (%d)", sum.LabelsProduced, want)
	}
	codec, err := goavro.NewCodec(gen.LabelSchema)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]bool{} // well-formed event id -> fraud, from the events topic
	g, err := gen.New(gen.Config{Seed: 3, Cards: 100, FraudRate: 0.1, MalformedRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		if r := g.NextRecord(); r.Malformed == "" {
			events[r.Event.EventID] = gen.IsFraud(r.Event)
		}
	}
	fraud := 0
	for _, r := range genConsume(t, brokers, "pay-labels", int(sum.LabelsProduced)) {
		native, _, err := codec.NativeFromBinary(r.Value[5:])
		if err != nil {
			t.Fatalf("label: %v", err)
		}
		m := native.(map[string]any)
		want, ok := events[m["event_id"].(string)]
		if !ok || m["label"] != want {
			t.Fatalf("label %v: event known %v, fraud %v", m, ok, want)
		}
		if want {
			fraud++
		}
	}
	if fraud == 0 {
		t.Fatal("no fraud label: the generator plants fraud")
	}
}
