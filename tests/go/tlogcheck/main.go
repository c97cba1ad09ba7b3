// tlogcheck — the independent check of hems's transparency log: Go's golang.org/x/mod/sumdb
// (note and tlog, Debian's golang-golang-x-mod-dev, built offline in GOPATH mode) verifies the
// checkpoints and proofs our C code wrote, and writes its own proofs for the C verifier.
//
//	tlogcheck DIR
//	tlogcheck vkey KEY     note.NewVerifier(KEY); prints "<name> <8 hex key hash>"
//	tlogcheck daemon DIR   a journal written by `hems run` (daemon.go)
//	tlogcheck cosigned LOGVKEY WITNESSVKEY FILE   a checkpoint `hems witness` cosigned (witness.go)
//
// DIR (written by tests/journal/test_tlog_go.c) holds:
//
//	records            the leaves' record bytes, each as u32 big-endian length || bytes
//	vkey               the log's note verifier key ("<name>+<hash>+<base64(0x01||pk)>")
//	witness.vkey       a witness's cosignature key ("<name>+<hash>+<base64(0x04||pk)>")
//	checkpoint-*.txt   signed checkpoints (some cosigned by the witness)
//	inclusion.jsonl    {"leaf_index","tree_size","root","proof"} per line (hems prove --seq)
//	consistency.jsonl  {"old_size","new_size","old_root","new_root","proof"} (hems prove --from)
//
// Every checkpoint must open with note.Open under the log's key, carry origin = key name,
// a canonical size, the root Go's tlog.TreeHash computes from the records, and the hems
// extension lines; every witness line must be a valid tlog-cosignature/v1 (checked here with
// crypto/ed25519 from the C2SP text: x/mod has no cosignature support). Every proof must pass
// tlog.CheckRecord / tlog.CheckTree and equal tlog.ProveRecord / tlog.ProveTree's; every
// one-byte change (to each checkpoint body byte, to the signature, to each proof hash, to the
// root, to the record) must be rejected. Go's proofs go to go_inclusion.jsonl and
// go_consistency.jsonl for the C side to verify. Exit 0 with a summary line, 1 on any failure.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	Root      string   `json:"root"`
	Proof     []string `json:"proof"`
}

type consistency struct {
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
	Proof   []string `json:"proof"`
}

var mutations int

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", a...)
	os.Exit(1)
}

func readRecords(path string) [][]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var recs [][]byte
	for len(data) > 0 {
		if len(data) < 4 {
			fail("records: truncated length")
		}
		n := binary.BigEndian.Uint32(data)
		if uint32(len(data)-4) < n {
			fail("records: truncated record")
		}
		recs = append(recs, data[4:4+n])
		data = data[4+n:]
	}
	return recs
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		out[i] = hash(s)
	}
	return out
}

func b64(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// openNote reads file and opens it with note.Open under known (failing otherwise); the note and
// the file's bytes.
func openNote(file string, known note.Verifiers) (*note.Note, []byte) {
	msg, err := os.ReadFile(file)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, known)
	if err != nil {
		fail("%s: note.Open: %v", file, err)
	}
	return n, msg
}

// cosigVerifier parses a tlog-cosignature/v1 vkey by the C2SP text.
type cosigVerifier struct {
	name string
	id   uint32
	pk   ed25519.PublicKey
}

func parseCosigKey(vkey string) cosigVerifier {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
	if len(parts) != 3 {
		fail("witness vkey: malformed")
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x04 {
		fail("witness vkey: not an Ed25519 cosignature key")
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	id := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		fail("witness vkey: key hash %s, computed %08x", parts[1], id)
	}
	return cosigVerifier{parts[0], id, ed25519.PublicKey(key[1:])}
}

func (w cosigVerifier) check(text string, sig note.Signature) (uint64, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) != 4+8+64 {
		return 0, errors.New("cosignature: malformed")
	}
	if binary.BigEndian.Uint32(raw) != w.id {
		return 0, errors.New("cosignature: key hash")
	}
	t := binary.BigEndian.Uint64(raw[4:])
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, text)
	if !ed25519.Verify(w.pk, []byte(msg), raw[12:]) {
		return 0, errors.New("cosignature: bad signature")
	}
	return t, nil
}

// checkBody parses a checkpoint body by the C2SP tlog-checkpoint text (tlog.ParseTree only
// takes the Go checksum database's origin).
func checkBody(text, origin string, treeHash func(int64) tlog.Hash) (int64, error) {
	if !strings.HasSuffix(text, "\n") {
		return 0, errors.New("no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 6 {
		return 0, errors.New("fewer than 3 + 3 lines")
	}
	if lines[0] != origin {
		return 0, fmt.Errorf("origin %q, key name %q", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 || strconv.FormatInt(size, 10) != lines[1] {
		return 0, fmt.Errorf("size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return 0, fmt.Errorf("root %q", lines[2])
	}
	if treeHash != nil { // nil: no records at hand (witness.go)
		want := treeHash(size)
		if !bytes.Equal(root, want[:]) {
			return 0, fmt.Errorf("root of size %d is %s, Go computes %s", size, lines[2], want)
		}
	}
	if !strings.HasPrefix(lines[3], "state ") || len(lines[3]) != 6+64 || !strings.HasPrefix(lines[4], "head ") ||
		len(lines[4]) != 5+64 || !strings.HasPrefix(lines[5], "time ") {
		return 0, errors.New("hems extension lines")
	}
	if _, err := time.Parse(time.RFC3339Nano, lines[5][5:]); err != nil {
		return 0, fmt.Errorf("time: %v", err)
	}
	return size, nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "vkey" {
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fail("note.NewVerifier: %v", err)
		}
		fmt.Printf("%s %08x\n", v.Name(), v.KeyHash())
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "daemon" {
		daemonCheck(os.Args[2])
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "cosigned" {
		cosignedCheck(os.Args[2], os.Args[3], os.Args[4])
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck DIR | tlogcheck vkey KEY | tlogcheck daemon DIR | tlogcheck cosigned LOGVKEY WITNESSVKEY FILE")
		os.Exit(2)
	}
	dir := os.Args[1]
	recs := readRecords(filepath.Join(dir, "records"))

	// The tree, built by Go alone from the record bytes.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, r := range recs {
		hs, err := tlog.StoredHashes(int64(i), r, reader)
		if err != nil {
			fail("StoredHashes: %v", err)
		}
		stored = append(stored, hs...)
	}
	treeHash := func(n int64) tlog.Hash {
		h, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("TreeHash(%d): %v", n, err)
		}
		return h
	}

	// Checkpoints.
	vkey, err := os.ReadFile(filepath.Join(dir, "vkey"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("note.NewVerifier(%q): %v", vkey, err)
	}
	wkey, err := os.ReadFile(filepath.Join(dir, "witness.vkey"))
	if err != nil {
		fail("%v", err)
	}
	witness := parseCosigKey(string(wkey))
	known := note.VerifierList(verifier)
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.txt"))
	sort.Strings(files)
	if len(files) < 10 {
		fail("only %d checkpoints", len(files))
	}
	cosigned := 0
	for _, f := range files {
		msg, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		n, err := note.Open(msg, known)
		if err != nil {
			fail("%s: note.Open: %v", f, err)
		}
		if _, err := checkBody(n.Text, verifier.Name(), treeHash); err != nil {
			fail("%s: %v", f, err)
		}
		for _, s := range n.UnverifiedSigs {
			if s.Name != witness.name {
				fail("%s: unexpected signer %s", f, s.Name)
			}
			if _, err := witness.check(n.Text, s); err != nil {
				fail("%s: %v", f, err)
			}
			cosigned++
			// a cosignature over another body does not verify
			if _, err := witness.check(n.Text+"x\n", s); err == nil {
				fail("%s: cosignature verifies over another body", f)
			}
			mutations++
		}
		// Every one-byte change of the body is refused.
		body := len(n.Text)
		for i := 0; i < body; i++ {
			m := append([]byte(nil), msg...)
			if m[i] == 'A' {
				m[i] = 'B'
			} else {
				m[i] = 'A'
			}
			if _, err := note.Open(m, known); err == nil {
				fail("%s: body byte %d changed, note still opens", f, i)
			}
			mutations++
		}
		// And every changed byte of the log's signature.
		sig := n.Sigs[0]
		raw, _ := base64.StdEncoding.DecodeString(sig.Base64)
		for i := 4; i < len(raw); i++ {
			r := append([]byte(nil), raw...)
			r[i] ^= 0x01
			m := bytes.Replace(msg, []byte(sig.Base64), []byte(base64.StdEncoding.EncodeToString(r)), 1)
			if _, err := note.Open(m, known); err == nil {
				fail("%s: signature byte %d changed, note still opens", f, i)
			}
			mutations++
		}
	}

	// Inclusion proofs.
	var goIncl []inclusion
	nincl := 0
	readLines(filepath.Join(dir, "inclusion.jsonl"), func(line []byte) {
		var p inclusion
		if err := json.Unmarshal(line, &p); err != nil {
			fail("inclusion.jsonl: %v", err)
		}
		if p.LeafIndex < 0 || p.LeafIndex >= p.TreeSize || p.TreeSize > int64(len(recs)) {
			fail("inclusion: bad index %d / size %d", p.LeafIndex, p.TreeSize)
		}
		th := treeHash(p.TreeSize)
		if hash(p.Root) != th {
			fail("inclusion: root of size %d differs from Go's", p.TreeSize)
		}
		proof := tlog.RecordProof(hashes(p.Proof))
		leaf := tlog.RecordHash(recs[p.LeafIndex])
		if err := tlog.CheckRecord(proof, p.TreeSize, th, p.LeafIndex, leaf); err != nil {
			fail("inclusion %d in %d: CheckRecord: %v", p.LeafIndex, p.TreeSize, err)
		}
		mine, err := tlog.ProveRecord(p.TreeSize, p.LeafIndex, reader)
		if err != nil {
			fail("ProveRecord: %v", err)
		}
		if fmt.Sprint(mine) != fmt.Sprint(proof) {
			fail("inclusion %d in %d: the proof is not tlog.ProveRecord's", p.LeafIndex, p.TreeSize)
		}
		for i := range proof {
			bad := append(tlog.RecordProof(nil), proof...)
			bad[i][int(p.LeafIndex+int64(i))%32] ^= 0x01
			if tlog.CheckRecord(bad, p.TreeSize, th, p.LeafIndex, leaf) == nil {
				fail("inclusion %d in %d: hash %d changed, still verifies", p.LeafIndex, p.TreeSize, i)
			}
			mutations++
		}
		badRoot := th
		badRoot[5] ^= 0x80
		rec := append([]byte(nil), recs[p.LeafIndex]...)
		if len(rec) > 0 {
			rec[len(rec)/2] ^= 0x01
		} else {
			rec = []byte{0}
		}
		if tlog.CheckRecord(proof, p.TreeSize, badRoot, p.LeafIndex, leaf) == nil ||
			tlog.CheckRecord(proof, p.TreeSize, th, p.LeafIndex, tlog.RecordHash(rec)) == nil {
			fail("inclusion %d in %d: a changed root or record still verifies", p.LeafIndex, p.TreeSize)
		}
		mutations += 2
		goIncl = append(goIncl, inclusion{p.LeafIndex, p.TreeSize, p.Root, b64(mine)})
		nincl++
	})

	// Consistency proofs.
	var goCons []consistency
	ncons := 0
	readLines(filepath.Join(dir, "consistency.jsonl"), func(line []byte) {
		var p consistency
		if err := json.Unmarshal(line, &p); err != nil {
			fail("consistency.jsonl: %v", err)
		}
		if p.OldSize < 1 || p.OldSize > p.NewSize || p.NewSize > int64(len(recs)) {
			fail("consistency: bad sizes %d, %d", p.OldSize, p.NewSize)
		}
		oh, nh := treeHash(p.OldSize), treeHash(p.NewSize)
		if hash(p.OldRoot) != oh || hash(p.NewRoot) != nh {
			fail("consistency %d→%d: a root differs from Go's", p.OldSize, p.NewSize)
		}
		proof := tlog.TreeProof(hashes(p.Proof))
		if err := tlog.CheckTree(proof, p.NewSize, nh, p.OldSize, oh); err != nil {
			fail("consistency %d→%d: CheckTree: %v", p.OldSize, p.NewSize, err)
		}
		mine, err := tlog.ProveTree(p.NewSize, p.OldSize, reader)
		if err != nil {
			fail("ProveTree: %v", err)
		}
		if fmt.Sprint(mine) != fmt.Sprint(proof) {
			fail("consistency %d→%d: the proof is not tlog.ProveTree's", p.OldSize, p.NewSize)
		}
		for i := range proof {
			bad := append(tlog.TreeProof(nil), proof...)
			bad[i][(i*7)%32] ^= 0x10
			if tlog.CheckTree(bad, p.NewSize, nh, p.OldSize, oh) == nil {
				fail("consistency %d→%d: hash %d changed, still verifies", p.OldSize, p.NewSize, i)
			}
			mutations++
		}
		bo, bn := oh, nh
		bo[0] ^= 1
		bn[31] ^= 1
		if p.OldSize != p.NewSize && (tlog.CheckTree(proof, p.NewSize, nh, p.OldSize, bo) == nil ||
			tlog.CheckTree(proof, p.NewSize, bn, p.OldSize, oh) == nil) {
			fail("consistency %d→%d: a changed root still verifies", p.OldSize, p.NewSize)
		}
		mutations += 2
		goCons = append(goCons, consistency{p.OldSize, p.NewSize, p.OldRoot, p.NewRoot, b64(mine)})
		ncons++
	})
	if nincl < 100 || ncons < 10 {
		fail("only %d inclusion and %d consistency proofs", nincl, ncons)
	}
	writeLines(filepath.Join(dir, "go_inclusion.jsonl"), goIncl)
	writeLines(filepath.Join(dir, "go_consistency.jsonl"), goCons)
	fmt.Printf("tlogcheck: %d records; %d checkpoints (%d cosignatures), %d inclusion and %d consistency proofs verified by golang.org/x/mod/sumdb; %d one-byte changes rejected\n",
		len(recs), len(files), cosigned, nincl, ncons, mutations)
}

func readLines(path string, each func([]byte)) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) > 0 {
			each(line)
		}
	}
}

func writeLines[T any](path string, items []T) {
	var buf bytes.Buffer
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			fail("%v", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		fail("%v", err)
	}
}
