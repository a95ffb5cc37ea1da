// Package logging writes ocm's human-readable messages to stderr, at the
// levels the reference tool offers: error, info, debug, trace.
package logging

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Level of a message; higher is chattier.
type Level int

const (
	Error Level = iota
	Warn
	Info
	Debug
	Trace
)

var names = map[string]Level{"error": Error, "warn": Warn, "info": Info, "debug": Debug, "trace": Trace}

// ParseLevel reads --loglevel.
func ParseLevel(s string) (Level, error) {
	l, ok := names[strings.ToLower(s)]
	if !ok {
		return Info, fmt.Errorf("--loglevel %q: must be one of error, info, debug, trace", s)
	}
	return l, nil
}

// Logger prefixes each line with the time, the command and the level.
type Logger struct {
	mu    sync.Mutex
	w     io.Writer
	cmd   string
	level Level
	// status renders a progress line kept at the bottom of a terminal;
	// log lines clear it, print, and draw it again.
	status func() string
}

// New returns a Logger writing to w (os.Stderr when nil).
func New(cmd string, level Level, w io.Writer) *Logger {
	if w == nil {
		w = os.Stderr
	}
	return &Logger{w: w, cmd: cmd, level: level}
}

func (l *Logger) Enabled(lv Level) bool { return l != nil && lv <= l.level }

func (l *Logger) log(lv Level, tag, format string, args ...any) {
	if !l.Enabled(lv) {
		return
	}
	msg := Escape(fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status != nil {
		io.WriteString(l.w, clearLine)
	}
	fmt.Fprintf(l.w, "%s %s [%s] %s\n", time.Now().Format("15:04:05"), l.cmd, tag, msg)
	if l.status != nil {
		io.WriteString(l.w, l.status())
	}
}

// clearLine returns the cursor to the line start and erases the line.
const clearLine = "\r\x1b[K"

// SetStatus keeps the line render returns as the terminal's last line,
// drawn now, by Redraw, and after every log line. Use it only when the
// writer is a terminal.
func (l *Logger) SetStatus(render func() string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status = render
	io.WriteString(l.w, clearLine+render())
}

// Redraw draws the status line again with fresh figures.
func (l *Logger) Redraw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status != nil {
		io.WriteString(l.w, clearLine+l.status())
	}
}

// KeepStatus draws the status line a last time and leaves it on screen as
// an ordinary line; later log lines print below it.
func (l *Logger) KeepStatus() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.status != nil {
		io.WriteString(l.w, clearLine+l.status()+"\n")
		l.status = nil
	}
}

func (l *Logger) Errorf(format string, args ...any) { l.log(Error, "ERROR", format, args...) }
func (l *Logger) Warnf(format string, args ...any)  { l.log(Warn, "WARN", format, args...) }
func (l *Logger) Infof(format string, args ...any)  { l.log(Info, "INFO", format, args...) }
func (l *Logger) Debugf(format string, args ...any) { l.log(Debug, "DEBUG", format, args...) }
func (l *Logger) Tracef(format string, args ...any) { l.log(Trace, "TRACE", format, args...) }

// Escape writes control characters of s (C0, DEL, C1) as Go escapes (\n,
// \x1b, \u0085), so that a value from a record, a registry or a catalog
// can neither start a forged log line nor move the terminal's cursor.
func Escape(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if isControl(c) {
			q := strconv.QuoteRune(c)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) }
