// Command checklog checks a hedui audit log with Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, an implementation nobody at hedui wrote (issue 12): the signature
// of every checkpoint under the log's verifier key, the root of every signed head recomputed from
// the entries of an export, and the inclusion and consistency proofs the service handed out.
//
// Usage:
//
//	checklog -vkey FILE [-export FILE] [-proofs FILE]
//
// The export is hedui's (docs/audit.md: a header line, then entries and heads as JSON lines). The
// proofs file is JSON: {"inclusion": [{"index", "entry", "checkpoint", "proof"}], "consistency":
// [{"first_size", "first_root", "checkpoint", "proof"}]}, bytes in standard base64, each checkpoint
// a signed note. Exit 0: everything verified; 1: something did not (one line says what); 2: usage.
//
// Build it offline from Debian's golang-golang-x-mod-dev: GOPATH=/usr/share/gocode GO111MODULE=off.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const exportFormat = "hedui-audit-export/v1"

// checkpoint is the body of a C2SP tlog-checkpoint: origin, tree size, root hash (extension lines
// follow; checklog passes over them, as the spec allows).
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// parseCheckpoint reads a checkpoint body written by the C2SP text, not by hedui's code.
func parseCheckpoint(body string, origin string) (checkpoint, error) {
	if !strings.HasSuffix(body, "\n") {
		return checkpoint{}, errors.New("checkpoint body does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, errors.New("checkpoint body has fewer than three lines")
	}
	if lines[0] != origin {
		return checkpoint{}, fmt.Errorf("checkpoint origin %q is not the log %q", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("checkpoint size %q is not a decimal tree size", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{origin: lines[0], size: size, root: root}, nil
}

// log is what checklog knows of the log: its verifier key and name.
type log struct {
	verifiers note.Verifiers
	origin    string
}

// open verifies a signed note with the log's key (note.Open) and parses its text as a checkpoint.
func (l log) open(text string) (checkpoint, error) {
	n, err := note.Open([]byte(text), l.verifiers)
	if err != nil {
		return checkpoint{}, fmt.Errorf("signed note: %v", err)
	}
	return parseCheckpoint(n.Text, l.origin)
}

// hashes is tlog's hash storage held in memory (tlog.HashReader).
type hashes []tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		if index < 0 || index >= int64(len(h)) {
			return nil, fmt.Errorf("hash %d not stored", index)
		}
		out[i] = h[index]
	}
	return out, nil
}

type exportLine struct {
	Format     *string `json:"format"`
	Origin     string  `json:"origin"`
	TreeSize   *int64  `json:"tree_size"`
	Index      *int64  `json:"index"`
	Entry      *string `json:"entry"`
	Head       *int64  `json:"head"`
	Checkpoint *string `json:"checkpoint"`
}

// checkExport recomputes the tree from the export's entries with tlog and checks every signed head
// against it: its note verifies, its size is where it stands, its root is tlog's root of the entries.
func (l log) checkExport(path string) (entries int64, heads int, err error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	var stored hashes
	var announced, last int64 = -1, 0
	for number := 1; scanner.Scan(); number++ {
		var line exportLine
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			return entries, heads, fmt.Errorf("line %d: not JSON: %v", number, err)
		}
		switch {
		case number == 1:
			if line.Format == nil || *line.Format != exportFormat || line.TreeSize == nil {
				return 0, 0, fmt.Errorf("line 1: not a %s header", exportFormat)
			}
			if line.Origin != l.origin {
				return 0, 0, fmt.Errorf("line 1: the export's origin %q is not the key's log %q", line.Origin, l.origin)
			}
			announced = *line.TreeSize
		case line.Entry != nil && line.Index != nil:
			if *line.Index != entries {
				return entries, heads, fmt.Errorf("line %d: entry %d where entry %d belongs", number, *line.Index, entries)
			}
			data, err := base64.StdEncoding.DecodeString(*line.Entry)
			if err != nil {
				return entries, heads, fmt.Errorf("entry %d: not base64", entries)
			}
			more, err := tlog.StoredHashes(entries, data, stored)
			if err != nil {
				return entries, heads, fmt.Errorf("entry %d: %v", entries, err)
			}
			stored = append(stored, more...)
			entries++
		case line.Checkpoint != nil && line.Head != nil:
			cp, err := l.open(*line.Checkpoint)
			if err != nil {
				return entries, heads, fmt.Errorf("signed head at size %d: %v", *line.Head, err)
			}
			if cp.size != *line.Head || cp.size != entries || cp.size <= last {
				return entries, heads, fmt.Errorf("signed head at size %d: its checkpoint says size %d after %d entries", *line.Head, cp.size, entries)
			}
			root, err := tlog.TreeHash(cp.size, stored)
			if err != nil {
				return entries, heads, err
			}
			if root != cp.root {
				return entries, heads, fmt.Errorf("signed head at size %d: the entries' root %v is not the signed %v", cp.size, root, cp.root)
			}
			last = cp.size
			heads++
		default:
			return entries, heads, fmt.Errorf("line %d: neither an entry nor a head", number)
		}
	}
	if err := scanner.Err(); err != nil {
		return entries, heads, err
	}
	if announced < 0 {
		return 0, 0, errors.New("empty export")
	}
	if entries != announced || last != entries {
		return entries, heads, fmt.Errorf("the header announces %d entries; the export has %d, the last signed head covers %d", announced, entries, last)
	}
	return entries, heads, nil
}

type proofs struct {
	Inclusion []struct {
		Index      int64    `json:"index"`
		Entry      []byte   `json:"entry"`
		Checkpoint string   `json:"checkpoint"`
		Proof      [][]byte `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		FirstSize  int64    `json:"first_size"`
		FirstRoot  []byte   `json:"first_root"`
		Checkpoint string   `json:"checkpoint"`
		Proof      [][]byte `json:"proof"`
	} `json:"consistency"`
}

func asHashes(values [][]byte) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(values))
	for i, value := range values {
		if len(value) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d has %d bytes", i, len(value))
		}
		copy(out[i][:], value)
	}
	return out, nil
}

// checkProofs checks each inclusion proof with tlog.CheckRecord and each consistency proof with
// tlog.CheckTree, against checkpoints whose notes verify.
func (l log) checkProofs(path string) (inclusion int, consistency int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var given proofs
	if err := json.Unmarshal(data, &given); err != nil {
		return 0, 0, fmt.Errorf("%s: %v", path, err)
	}
	for _, p := range given.Inclusion {
		cp, err := l.open(p.Checkpoint)
		if err != nil {
			return inclusion, consistency, fmt.Errorf("inclusion of entry %d: %v", p.Index, err)
		}
		path, err := asHashes(p.Proof)
		if err != nil {
			return inclusion, consistency, fmt.Errorf("inclusion of entry %d: %v", p.Index, err)
		}
		if err := tlog.CheckRecord(tlog.RecordProof(path), cp.size, cp.root, p.Index, tlog.RecordHash(p.Entry)); err != nil {
			return inclusion, consistency, fmt.Errorf("inclusion of entry %d at size %d: %v", p.Index, cp.size, err)
		}
		inclusion++
	}
	for _, p := range given.Consistency {
		cp, err := l.open(p.Checkpoint)
		if err != nil {
			return inclusion, consistency, fmt.Errorf("consistency from size %d: %v", p.FirstSize, err)
		}
		path, err := asHashes(p.Proof)
		if err != nil || len(p.FirstRoot) != tlog.HashSize {
			return inclusion, consistency, fmt.Errorf("consistency from size %d: malformed proof or root", p.FirstSize)
		}
		var first tlog.Hash
		copy(first[:], p.FirstRoot)
		if err := tlog.CheckTree(tlog.TreeProof(path), cp.size, cp.root, p.FirstSize, first); err != nil {
			return inclusion, consistency, fmt.Errorf("consistency from size %d to %d: %v", p.FirstSize, cp.size, err)
		}
		consistency++
	}
	return inclusion, consistency, nil
}

func main() {
	vkeyPath := flag.String("vkey", "", "the log's verifier key (hedui audit public-key)")
	exportPath := flag.String("export", "", "a hedui audit export to check")
	proofsPath := flag.String("proofs", "", "inclusion and consistency proofs to check (JSON)")
	flag.Parse()
	if *vkeyPath == "" || (*exportPath == "" && *proofsPath == "") {
		fmt.Fprintln(os.Stderr, "usage: checklog -vkey FILE [-export FILE] [-proofs FILE]")
		os.Exit(2)
	}
	vkey, err := os.ReadFile(*vkeyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "checklog:", err)
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "checklog: verifier key:", err)
		os.Exit(2)
	}
	l := log{verifiers: note.VerifierList(verifier), origin: verifier.Name()}
	var said []string
	if *exportPath != "" {
		entries, heads, err := l.checkExport(*exportPath)
		if err != nil {
			fmt.Println("checklog: FAILED: export:", err)
			os.Exit(1)
		}
		said = append(said, fmt.Sprintf("%d entries under %d signed heads", entries, heads))
	}
	if *proofsPath != "" {
		inclusion, consistency, err := l.checkProofs(*proofsPath)
		if err != nil {
			fmt.Println("checklog: FAILED: proofs:", err)
			os.Exit(1)
		}
		said = append(said, fmt.Sprintf("%d inclusion and %d consistency proofs", inclusion, consistency))
	}
	fmt.Printf("checklog: ok: %s (note and tlog, log %s)\n", strings.Join(said, ", "), l.origin)
}
