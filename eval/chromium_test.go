package eval

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/eval/evaltest"
)

// TestReportInChromium opens report.html in a headless Chromium: the plots must
// be in the rendered DOM, the console must stay silent (no script error, no
// resource refused by the page's Content-Security-Policy), and the screenshot
// must be a real picture. It needs the browser, so it runs when
// SCORESTREAM_CHROMIUM names it: scripts/test.sh installs the Debian chromium
// (scripts/deps.sh) and runs this test in its own step.
//
//	SCORESTREAM_CHROMIUM=$(command -v chromium) go test -count=1 -run Chromium -v ./eval
//
// With SCORESTREAM_EVAL_SCREENSHOT=file.png the screenshot is kept there.
func TestReportInChromium(t *testing.T) {
	bin := os.Getenv("SCORESTREAM_CHROMIUM")
	if bin == "" {
		t.Skip("SCORESTREAM_CHROMIUM is not set; scripts/test.sh runs this test with chromium installed")
	}
	dir := t.TempDir()
	r := mustReport(t, synthetic(20000, Options{CostFP: 1, CostFN: 20}))
	if err := r.WriteFiles(dir); err != nil {
		t.Fatalf("write: %v", err)
	}
	page := "file://" + filepath.Join(dir, "report.html")

	t.Run("console check catches a script error", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.html")
		if err := os.WriteFile(bad, []byte(`<html><body><script>throw new Error("planted")</script></body></html>`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, console := evaltest.Chromium(t, bin, "--dump-dom", "file://"+bad)
		if !strings.Contains(strings.Join(console, "\n"), "planted") {
			t.Fatalf("a page that throws left no console line; the check below would prove nothing (console: %q)", console)
		}
	})

	dom, console := evaltest.Chromium(t, bin, "--dump-dom", page)
	if len(console) > 0 {
		t.Errorf("console output while rendering report.html:\n%s", strings.Join(console, "\n"))
	}
	plots := evaltest.Plots(dom)
	if len(plots) != 9 {
		t.Errorf("rendered DOM has %d plots, want 9 (ROC, PR, reliability, 2 histograms, scatter, segments, 2 over time)", len(plots))
	}
	for i, body := range plots {
		if !strings.Contains(body, "<polyline") && !strings.Contains(body, "<circle") && !strings.Contains(body, "fill-opacity") {
			t.Errorf("plot %d has no data drawn: %.200s", i, body)
		}
	}
	for _, want := range []string{`class="verdict better"`, `id="comparison"`, `id="segments"`, `id="time"`, `id="provenance"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}

	shot := filepath.Join(dir, "report.png")
	evaltest.Chromium(t, bin, "--hide-scrollbars", "--window-size=1280,2400", "--screenshot="+shot, page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot is %v, want 1280x2400", b)
	}
	colors := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 7 {
		for x := 0; x < img.Bounds().Dx(); x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[r>>12<<8|g>>12<<4|b>>12] = true
		}
	}
	if len(colors) < 20 {
		t.Errorf("screenshot has %d distinct colours: blank page?", len(colors))
	}
	if keep := os.Getenv("SCORESTREAM_EVAL_SCREENSHOT"); keep != "" {
		if b, err := os.ReadFile(shot); err == nil {
			err = os.WriteFile(keep, b, 0o644)
			if err != nil {
				t.Errorf("keep screenshot: %v", err)
			}
		}
	}
}
