// Package logging writes ocm's human-readable messages to stderr, at the
// levels the reference tool offers: error, info, debug, trace.
package logging

import (
	"fmt"
	"io"
	"os"
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
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s [%s] %s\n", time.Now().Format("15:04:05"), l.cmd, tag, msg)
}

func (l *Logger) Errorf(format string, args ...any) { l.log(Error, "ERROR", format, args...) }
func (l *Logger) Warnf(format string, args ...any)  { l.log(Warn, "WARN", format, args...) }
func (l *Logger) Infof(format string, args ...any)  { l.log(Info, "INFO", format, args...) }
func (l *Logger) Debugf(format string, args ...any) { l.log(Debug, "DEBUG", format, args...) }
func (l *Logger) Tracef(format string, args ...any) { l.log(Trace, "TRACE", format, args...) }
