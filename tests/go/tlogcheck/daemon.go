// The daemon-written journal (tests/go/test_tlog_daemon.c):
//
//	tlogcheck daemon DIR
//
// DIR holds records (every record of a journal written by `hems run`, as u32 BE length ||
// bytes, seq 1 first), seals (one line per seal: "<seq> <tree size> <base64 tree_root>"), vkey
// (`hems key verifier`) and checkpoint-*.txt (signed notes of seals: `hems checkpoint` of the
// journal's v 3 seals, or v 3 re-signings of its seals made by the library). Go's tlog.TreeHash
// over the record bytes must equal every seal's tree_root; every checkpoint must open with
// note.Open under the verifier key, name that key's origin, carry Go's root for its size and
// the hems lines state, head, time and seal; a checkpoint with any body byte changed must not
// open; inclusion.jsonl and consistency.jsonl (`hems prove` answers) must pass tlog.CheckRecord
// and tlog.CheckTree against Go's roots. Exit 0 with a summary line, 1 on any failure.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func daemonCheck(dir string) {
	recs := readRecords(filepath.Join(dir, "records"))
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

	f, err := os.Open(filepath.Join(dir, "seals"))
	if err != nil {
		fail("%v", err)
	}
	seals := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 3 {
			fail("seals: malformed line %q", sc.Text())
		}
		seq, err1 := strconv.ParseInt(parts[0], 10, 64)
		size, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil || size != seq-1 || size < 1 || size > int64(len(recs)) {
			fail("seals: bad seq/size in %q", sc.Text())
		}
		if got, want := hash(parts[2]), treeHash(size); got != want {
			fail("seal %d: tree_root %s, Go's tlog.TreeHash(%d) = %s", seq, got, size, want)
		}
		seals++
	}
	f.Close()
	if seals < 10 {
		fail("only %d seals", seals)
	}

	vkey, err := os.ReadFile(filepath.Join(dir, "vkey"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("note.NewVerifier(%q): %v", vkey, err)
	}
	known := note.VerifierList(verifier)
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.txt"))
	sort.Strings(files)
	if len(files) < 3 {
		fail("only %d checkpoints", len(files))
	}
	for _, file := range files {
		n, msg := openNote(file, known)
		if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
			fail("%s: %d signatures by the log, %d others", file, len(n.Sigs), len(n.UnverifiedSigs))
		}
		if _, err := checkBody(n.Text, verifier.Name(), treeHash); err != nil {
			fail("%s: %v", file, err)
		}
		lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
		if len(lines) != 7 || !strings.HasPrefix(lines[6], "seal ") || len(lines[6]) != 5+64 {
			fail("%s: no seal line after time", file)
		}
		for i := 0; i < len(n.Text); i++ {
			m := append([]byte(nil), msg...)
			if m[i] == 'A' {
				m[i] = 'B'
			} else {
				m[i] = 'A'
			}
			if _, err := note.Open(m, known); err == nil {
				fail("%s: body byte %d changed, note still opens", file, i)
			}
			mutations++
		}
		raw, _ := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
		if len(raw) != 68 {
			fail("%s: signature of %d bytes", file, len(raw))
		}
	}
	// `hems prove` answers: each must pass tlog.CheckRecord / CheckTree with Go's roots, and a
	// changed proof hash must not.
	nincl, ncons := 0, 0
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
		for i := range proof {
			bad := append(tlog.RecordProof(nil), proof...)
			bad[i][i%32] ^= 0x01
			if tlog.CheckRecord(bad, p.TreeSize, th, p.LeafIndex, leaf) == nil {
				fail("inclusion %d in %d: hash %d changed, still verifies", p.LeafIndex, p.TreeSize, i)
			}
			mutations++
		}
		nincl++
	})
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
		for i := range proof {
			bad := append(tlog.TreeProof(nil), proof...)
			bad[i][i%32] ^= 0x01
			if tlog.CheckTree(bad, p.NewSize, nh, p.OldSize, oh) == nil {
				fail("consistency %d→%d: hash %d changed, still verifies", p.OldSize, p.NewSize, i)
			}
			mutations++
		}
		ncons++
	})
	if nincl < 100 || ncons < 10 {
		fail("only %d inclusion and %d consistency proofs", nincl, ncons)
	}
	fmt.Printf("tlogcheck: %d records, %d seal tree roots equal tlog.TreeHash, %d checkpoints open with note.Open, %d inclusion and %d consistency proofs (hems prove) pass CheckRecord/CheckTree, %d changes refused\n",
		len(recs), seals, len(files), nincl, ncons, mutations)
}
