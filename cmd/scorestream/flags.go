package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseFlags parses args with fs for a command whose flags carry their own
// help: --help prints usage and the flag defaults to stdout (exit 0); a bad
// flag prints the error, usage and defaults to stderr (exit 2). ok is false
// when the command should return code.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, to stdout for --help
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		printFlags(w, fs)
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

// printFlags lists fs's flags in the style the hand-written usage texts use
// ("      --name VALUE   what it does (default x)"), so that every subcommand's
// help reads alike whether its flag list is written out or generated.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + strings.ToUpper(arg)
		}
		line := fmt.Sprintf("      %-20s", name)
		if len(line) > 26 {
			line += "\n" + strings.Repeat(" ", 28)
		} else {
			line += "  "
		}
		line += usage
		switch f.DefValue {
		case "", "0", "false", "[]":
		default:
			if arg == "string" || arg == "STRING" {
				line += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				line += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w, line)
	})
}
