package helm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// Limits bound the rendering of one chart. Go templates cannot be
// interrupted (a range over a range spins, a variable doubled in a loop
// takes all memory in one expression), so each chart is rendered in a
// child process: this binary again, with rendererEnv set. The child caps
// its own address space (RLIMIT_AS) and is killed at the deadline or when
// ocm-plan is interrupted.
type Limits struct {
	Timeout   time.Duration // --helm-render-timeout
	MemoryMiB int64         // --helm-render-memory-mib, beyond what the renderer maps at start
}

// DefaultLimits are far above what real charts take (well under a second
// and 100 MiB).
var DefaultLimits = Limits{Timeout: 2 * time.Minute, MemoryMiB: 2048}

// FlagsVar adds --helm-render-timeout and --helm-render-memory-mib to fs;
// values that are not positive are refused as the flags are parsed.
func FlagsVar(fs *pflag.FlagSet) *Limits {
	l := DefaultLimits
	fs.Var((*positiveDuration)(&l.Timeout), "helm-render-timeout", "longest the templates of one Helm chart (mirror.helm) may take to render")
	fs.Var((*positiveInt)(&l.MemoryMiB), "helm-render-memory-mib", "most memory, in MiB, the rendering of one Helm chart (mirror.helm) may use")
	return &l
}

type positiveDuration time.Duration

func (d *positiveDuration) String() string { return time.Duration(*d).String() }
func (d *positiveDuration) Type() string   { return "duration" }
func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err == nil && v <= 0 {
		err = errors.New("must be positive")
	}
	if err != nil {
		return err
	}
	*d = positiveDuration(v)
	return nil
}

type positiveInt int64

func (n *positiveInt) String() string { return strconv.FormatInt(int64(*n), 10) }
func (n *positiveInt) Type() string   { return "int" }
func (n *positiveInt) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil && v <= 0 {
		err = errors.New("must be positive")
	}
	if err != nil {
		return err
	}
	*n = positiveInt(v)
	return nil
}

// Check refuses limits that are not positive.
func (l Limits) Check() error {
	if l.Timeout <= 0 || l.MemoryMiB <= 0 {
		return fmt.Errorf("--helm-render-timeout %s, --helm-render-memory-mib %d: both must be positive; fix: e.g. --helm-render-timeout 5m --helm-render-memory-mib 4096", l.Timeout, l.MemoryMiB)
	}
	return nil
}

// rendererEnv set makes this process a renderer (see init); its value is
// the memory budget in bytes.
const rendererEnv = "OCM_HELM_RENDERER_MEMORY"

// A process started with rendererEnv renders one chart and exits before
// main runs: any binary that renders charts (ocm-plan, a test) is its own
// renderer.
func init() {
	if v, ok := os.LookupEnv(rendererEnv); ok {
		os.Exit(renderer(v, os.Stdin, os.Stdout))
	}
}

type renderRequest struct {
	Archive    []byte   `json:"archive"`
	ImagePaths []string `json:"imagePaths"`
}

type renderResult struct {
	Images   []string `json:"images"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error,omitempty"`
}

// LimitError: the rendering of a chart went past a limit, or its renderer
// died (a Go runtime out of memory under the address space cap, a stack
// overflow). Setting is the flag that raises the limit.
type LimitError struct {
	Chart   string
	Setting string
	Limit   string
	Detail  string // how the renderer ended, for the one that died
}

func (e *LimitError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("chart %s: rendering its templates took longer than %s (%s); fix: check the chart's templates for a loop that does not end, or raise %s if the chart is trusted and that slow", e.Chart, e.Limit, e.Setting, e.Setting)
	}
	return fmt.Sprintf("chart %s: rendering its templates failed: the renderer, allowed %s of memory (%s), ended with %s; fix: check the chart's templates, or raise %s if the chart is trusted and needs more", e.Chart, e.Limit, e.Setting, e.Detail, e.Setting)
}

func (e *LimitError) Is(target error) bool { return target == ErrBadChart }

// render renders archive (the chart id) in a renderer within c.Limits and
// returns the images it names (see renderImages); warnings go to c.Warn.
// An interruption (ctx) kills the renderer at once.
func (c *Collector) render(ctx context.Context, id string, archive []byte, imagePaths []string) ([]string, error) {
	lim := c.Limits
	if lim.Timeout == 0 {
		lim.Timeout = DefaultLimits.Timeout
	}
	if lim.MemoryMiB == 0 {
		lim.MemoryMiB = DefaultLimits.MemoryMiB
	}
	if err := lim.Check(); err != nil {
		return nil, err
	}
	if _, err := jsonPaths(imagePaths); err != nil {
		return nil, fmt.Errorf("chart %s: %w", id, err)
	}
	req, err := json.Marshal(renderRequest{Archive: archive, ImagePaths: imagePaths})
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("starting the chart renderer: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, exe)
	cmd.Env = append(os.Environ(), rendererEnv+"="+strconv.FormatInt(lim.MemoryMiB<<20, 10))
	cmd.Stdin = bytes.NewReader(req)
	stdout, stderr := &capped{max: capread.Meta}, &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives ocm-plan
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("chart %s: rendering: %w", id, ctx.Err())
	case rctx.Err() != nil:
		return nil, &LimitError{Chart: id, Setting: "--helm-render-timeout", Limit: lim.Timeout.String()}
	case err != nil:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("chart %s: starting the chart renderer %s: %w", id, exe, err)
		}
		detail := ee.ProcessState.String()
		if line := firstLine(stderr.b.Bytes()); line != "" {
			detail += " (" + line + ")"
		}
		return nil, &LimitError{Chart: id, Setting: "--helm-render-memory-mib", Limit: fmt.Sprintf("%d MiB", lim.MemoryMiB), Detail: detail}
	case stdout.over:
		return nil, badChart{fmt.Errorf("chart %s: its renderer wrote more than %d bytes", id, capread.Meta)}
	}
	var res renderResult
	if err := json.Unmarshal(stdout.b.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("chart %s: the renderer's answer: %w", id, err)
	}
	if strings.TrimSpace(res.Error) != "" {
		return nil, badChart{fmt.Errorf("chart %s: %s; fix: correct the chart (Helm refuses it too), or leave it out of mirror.helm", id, strings.TrimSpace(res.Error))}
	}
	for _, w := range res.Warnings {
		if c.Warn != nil {
			c.Warn("%s", w)
		}
	}
	return res.Images, nil
}

// renderer is the renderer process: it caps its memory, reads one
// renderRequest from in and writes its renderResult to out.
func renderer(budget string, in io.Reader, out io.Writer) int {
	n, err := strconv.ParseInt(budget, 10, 64)
	if err == nil {
		err = limitMemory(n)
	}
	var req renderRequest
	if err == nil {
		var b []byte
		if b, err = capread.All(in, "the render request", 2*capread.Chart); err == nil { // an archive, in base64
			err = json.Unmarshal(b, &req)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart renderer: %v\n", err)
		return 2
	}
	var res renderResult
	ch, err := loadArchive(req.Archive, "the chart archive")
	if err == nil {
		res.Images, res.Warnings, err = renderImages(ch, req.ImagePaths)
	}
	if err != nil {
		res.Error = err.Error()
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return 1
	}
	return 0
}

// limitMemory caps this process's address space at what it maps now (the
// Go runtime reserves about a GiB it never touches) plus budget bytes, and
// has the garbage collector work to stay under budget before that.
func limitMemory(budget int64) error {
	if budget <= 0 {
		return fmt.Errorf("memory budget %d: must be positive", budget)
	}
	vm, err := mappedBytes()
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(budget)
	lim := uint64(vm + budget)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim})
}

// mappedBytes is this process's address space (VmSize).
func mappedBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) == 3 && f[0] == "VmSize:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("/proc/self/status has no VmSize")
}

// capped keeps the first max bytes written to it and notes more.
type capped struct {
	b    bytes.Buffer
	max  int64
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - int64(c.b.Len()); int64(len(p)) > room {
		c.over = true
		c.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.b.Write(p)
}

func firstLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// badChart marks an error as ErrBadChart and keeps its text.
type badChart struct{ err error }

func (e badChart) Error() string        { return e.err.Error() }
func (e badChart) Unwrap() error        { return e.err }
func (e badChart) Is(target error) bool { return target == ErrBadChart }
