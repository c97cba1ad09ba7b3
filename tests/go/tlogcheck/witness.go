// witness.go — `tlogcheck cosigned LOGVKEY WITNESSVKEY FILE`: a checkpoint that `hems witness`
// cosigned (its line appended to the note) opens with note.Open under a verifier list holding
// the log's key (note.NewVerifier) and the witness's cosignature verifier (cosigNoteVerifier:
// the note.Verifier interface implemented from the C2SP tlog-cosignature/v1 text, since x/mod
// has no cosignature support); both signatures must be verified. Each one-byte change of the
// cosignature's payload (timestamp and signature) and of the body must be refused. Prints
// "<size> <timestamp>" on success.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// cosigNoteVerifier: note.Open hands Verify the note text and the signature bytes after the
// 4-byte key hash: u64 big-endian timestamp || Ed25519 signature over
// "cosignature/v1\ntime <t>\n" || text.
type cosigNoteVerifier struct{ w cosigVerifier }

func (v cosigNoteVerifier) Name() string    { return v.w.name }
func (v cosigNoteVerifier) KeyHash() uint32 { return v.w.id }
func (v cosigNoteVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.w.pk, []byte(m), sig[8:])
}

func cosignedCheck(logKey, witnessKey, file string) {
	lv, err := note.NewVerifier(strings.TrimSpace(logKey))
	if err != nil {
		fail("note.NewVerifier(%q): %v", logKey, err)
	}
	wv := cosigNoteVerifier{parseCosigKey(witnessKey)}
	known := note.VerifierList(lv, wv)
	n, msg := openNote(file, known)
	if len(n.Sigs) != 2 || len(n.UnverifiedSigs) != 0 {
		fail("%s: %d verified signatures (want the log's and the witness's), %d unverified", file, len(n.Sigs), len(n.UnverifiedSigs))
	}
	size, err := checkBody(n.Text, lv.Name(), nil)
	if err != nil {
		fail("%s: %v", file, err)
	}
	var ts uint64
	for _, s := range n.Sigs {
		if s.Name != wv.Name() {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(s.Base64)
		ts = binary.BigEndian.Uint64(raw[4:])
		// every byte of timestamp || signature, changed, is refused
		for i := 4; i < len(raw); i++ {
			m := append([]byte(nil), raw...)
			m[i] ^= 0x01
			bad := strings.Replace(string(msg), s.Base64, base64.StdEncoding.EncodeToString(m), 1)
			if _, err := note.Open([]byte(bad), note.VerifierList(wv)); err == nil {
				fail("%s: cosignature byte %d changed, note still opens", file, i)
			}
			mutations++
		}
	}
	// and every byte of the body
	for i := 0; i < len(n.Text); i++ {
		m := append([]byte(nil), msg...)
		m[i] ^= 0x01
		if _, err := note.Open(m, note.VerifierList(wv)); err == nil {
			fail("%s: body byte %d changed, the cosignature still verifies", file, i)
		}
		mutations++
	}
	fmt.Printf("%d %d\n", size, ts)
}
