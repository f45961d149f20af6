package eval

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		_, console := runChromium(t, bin, "--dump-dom", "file://"+bad)
		if !strings.Contains(strings.Join(console, "\n"), "planted") {
			t.Fatalf("a page that throws left no console line; the check below would prove nothing (console: %q)", console)
		}
	})

	dom, console := runChromium(t, bin, "--dump-dom", page)
	if len(console) > 0 {
		t.Errorf("console output while rendering report.html:\n%s", strings.Join(console, "\n"))
	}
	plots := strings.Split(dom, `<svg class="plot"`)[1:]
	if len(plots) != 9 {
		t.Errorf("rendered DOM has %d plots, want 9 (ROC, PR, reliability, 2 histograms, scatter, segments, 2 over time)", len(plots))
	}
	for i, p := range plots {
		body, _, _ := strings.Cut(p, "</svg>")
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
	runChromium(t, bin, "--hide-scrollbars", "--window-size=1280,2400", "--screenshot="+shot, page)
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

// runChromium runs headless Chromium with a fresh profile and returns its
// stdout and the console lines it logged.
func runChromium(t *testing.T, bin string, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a guard against a hung browser, not a speed check
	defer cancel()
	profile := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	var console []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return stdout.String(), console
}
