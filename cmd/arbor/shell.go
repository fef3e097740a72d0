package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/peterh/liner"
	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
)

const (
	shellPrompt  = "arbor> "
	historyFile  = ".arbor_history" // in the home directory
	maxLineBytes = 2 * maxStdinBytes
	// completeTimeout bounds the listing behind one tab completion.
	completeTimeout = 2 * time.Second
)

func shellCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "shell",
		Usage: "run commands interactively in one session",
		Description: "Reads commands, one a line, with the same flags as the one-shot commands, plus help and exit (or quit).\n" +
			"Words are split as a POSIX shell would ('...', \"...\", \\). All commands share one session, so\n" +
			"ephemeral nodes live until the shell exits. On a terminal: line editing, history in ~/" + historyFile + ",\n" +
			"and tab completion of commands and paths. Otherwise it reads the lines without a prompt, and exits\n" +
			"with the status of the last command.",
		Action: e.shell,
	}
}

// lineReader reads the shell's lines; io.EOF ends the shell.
type lineReader interface {
	readLine() (string, error)
	close()
}

func (e *env) shell(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("shell: unexpected argument %q", c.Args().First())
	}
	servers, err := parseServers(c.String("servers"))
	if err != nil {
		return err
	}
	// The shell ends on SIGTERM; SIGINT belongs to the command running
	// (withSession), and at the prompt to liner.
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM)
	defer stop()
	cl, err := dial(ctx, servers, c.Duration("timeout"), c.Duration("session-timeout"))
	if err != nil {
		return err
	}
	defer func() {
		_ = closeSession(ctx, cl) // at worst the session expires on its own
	}()

	var lines lineReader
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
		lines = newLinerReader(ctx, cl, commandNames(c.App))
	} else {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
		lines = scanReader{sc}
	}
	defer lines.close()

	status := exitOK
	for ctx.Err() == nil {
		line, err := lines.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("shell: reading commands: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := splitWords(line)
		if err != nil {
			status = report(e.stderr, usagef("%v", err))
			continue
		}
		switch words[0] {
		case "exit", "quit":
			return exitStatus(status)
		case "shell", "server":
			status = report(e.stderr, usagef("%s: not available in the shell", words[0]))
			continue
		}
		sub := &env{stdout: e.stdout, stderr: e.stderr, shared: cl, output: c.String("output"), timeout: c.Duration("timeout")}
		app := newApp(sub)
		status = report(e.stderr, app.RunContext(ctx, interspersed(app, append([]string{"arbor"}, words...))))
		if cl.Err() != nil {
			return &opError{op: "shell", err: fmt.Errorf("session ended: %w", cl.Err())}
		}
	}
	return exitStatus(status)
}

// exitStatus ends the shell with status, already reported.
func exitStatus(status int) error {
	if status == exitOK {
		return nil
	}
	return reported{status}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func commandNames(app *cli.App) []string {
	names := []string{"exit", "quit"}
	for _, cmd := range app.Commands {
		if cmd.Name != "shell" && cmd.Name != "server" {
			names = append(names, cmd.Name)
		}
	}
	return names
}

type scanReader struct{ sc *bufio.Scanner }

func (r scanReader) readLine() (string, error) {
	if r.sc.Scan() {
		return r.sc.Text(), nil
	}
	if err := r.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func (scanReader) close() {}

// linerReader reads lines on a terminal, with editing, history and tab
// completion.
type linerReader struct {
	state       *liner.State
	historyPath string
}

func newLinerReader(ctx context.Context, cl *client.Client, commands []string) *linerReader {
	r := &linerReader{state: liner.NewLiner()}
	r.state.SetCtrlCAborts(true)
	r.state.SetTabCompletionStyle(liner.TabPrints)
	r.state.SetWordCompleter(func(line string, pos int) (string, []string, string) {
		return completions(line, pos, commands, func(parent string) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, completeTimeout)
			defer cancel()
			names, _, err := cl.Children(ctx, parent)
			return names, err
		})
	})
	if home, err := os.UserHomeDir(); err == nil {
		r.historyPath = filepath.Join(home, historyFile)
		if f, err := os.Open(r.historyPath); err == nil {
			_, _ = r.state.ReadHistory(f) // a damaged history is not worth failing for
			f.Close()
		}
	}
	return r
}

func (r *linerReader) readLine() (string, error) {
	for {
		line, err := r.state.Prompt(shellPrompt)
		if errors.Is(err, liner.ErrPromptAborted) {
			continue // Ctrl-C drops the line, as in a shell
		}
		if errors.Is(err, io.EOF) {
			fmt.Println() // end the prompt's line, as a shell does on Ctrl-D
		}
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(line) != "" {
			r.state.AppendHistory(line)
		}
		return line, nil
	}
}

func (r *linerReader) close() {
	if r.historyPath != "" {
		if f, err := os.OpenFile(r.historyPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			_, _ = r.state.WriteHistory(f)
			f.Close()
		}
	}
	r.state.Close()
}

// completions completes the word before pos in line: a command name if it
// is the first word, else a path, from the children of the parent of the
// word ("/a/b/c" completes among the children of /a/b). It returns the
// line before the word, the candidates and the line after pos, as liner
// wants them.
func completions(line string, pos int, commands []string, children func(parent string) ([]string, error)) (head string, cands []string, tail string) {
	head, tail = line[:pos], line[pos:]
	start := strings.LastIndexAny(head, " \t") + 1
	head, word := head[:start], head[start:]
	if strings.TrimSpace(head) == "" {
		for _, name := range commands {
			if strings.HasPrefix(name, word) {
				cands = append(cands, name+" ")
			}
		}
		return head, cands, tail
	}
	if !strings.HasPrefix(word, "/") {
		return head, nil, tail
	}
	dir := word[:strings.LastIndex(word, "/")+1] // "/a/b/" of "/a/b/c"
	parent := strings.TrimSuffix(dir, "/")
	if parent == "" {
		parent = "/"
	}
	names, err := children(parent)
	if err != nil {
		return head, nil, tail
	}
	for _, name := range names {
		if strings.HasPrefix(name, word[len(dir):]) {
			cands = append(cands, dir+name)
		}
	}
	return head, cands, tail
}

// splitWords splits line into words as a POSIX shell would, without
// expansions: blanks separate words, '...' quotes literally, "..." quotes
// with \" and \\ escaped, and \ outside quotes escapes the next character.
func splitWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\\':
			if i+1 == len(line) {
				return nil, errors.New("a trailing \\ escapes nothing")
			}
			i++
			w.WriteByte(line[i])
			inWord = true
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated '")
			}
			w.WriteString(line[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case ch == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				}
				w.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, errors.New("unterminated \"")
			}
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
