package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses args with fs for a command whose flags carry their own
// help: --help prints usage and the flag defaults to stdout (exit 0); a bad
// flag prints the error, usage and defaults to stderr (exit 2). ok is false
// when the command should return code.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, to stdout for --help
	printUsage := func(w io.Writer) {
		fs.SetOutput(w)
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return false, exitOK
		}
		printUsage(stderr)
		return false, exitUsage
	}
	return true, exitOK
}

// parseFlagsUsage is parseFlags for a command whose usage text documents its
// flags itself: --help prints usage to stdout; a bad flag prints
// "scorestream <name>: <error>" and usage to stderr.
func parseFlagsUsage(fs *flag.FlagSet, args []string, name, usage string, stdout, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return false, exitOK
		}
		fmt.Fprintf(stderr, "scorestream %s: %v\n\n%s", name, err, usage)
		return false, exitUsage
	}
	return true, exitOK
}
