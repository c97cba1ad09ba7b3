#!/usr/bin/python3
"""test_seal — bundles sealed to a recipient key (`hems key recipient`, `hems export
--encrypt-to`, `hems decrypt`), checked against an implementation that is not ours: PyNaCl
(Debian python3-nacl, libsodium's sealed boxes and secretstream through its own bindings),
following the layout in docs/journal.md "Sealed bundles" — not hems's output.

Checked:
  - the key files: the secret 0600 'x25519-secret B64', the public 'x25519 B64', and the public
    key is the secret's X25519 base point multiple (PyNaCl PrivateKey.public_key);
  - a sealed export: the head (magic, version 1, key id = SHA-256(pk)[:8] by hashlib), the sealed
    box opened by PyNaCl's SealedBox, every chunk pulled by PyNaCl's secretstream (the first with
    the 121-byte head as additional data, the last and only the last tagged FINAL, at most 64 KiB
    of plain each): the plain bytes are exactly the plain export of the same range;
  - the other way: a bundle sealed by PyNaCl in that layout opens with `hems decrypt`, and the
    result verifies with the journal's pinned key;
  - verify / show on a sealed file: exit 1, one line naming `hems decrypt`;
  - refused, exit 1, nothing written (no BUNDLE, no BUNDLE.tmp): another recipient's key; each
    of a flipped byte in the magic, the version, the key id, the sealed box, the stream header,
    a chunk's length, a chunk's ciphertext; the last chunk dropped; two chunks swapped; a chunk
    repeated; bytes after the final chunk; a file cut inside the head;
  - usage and key errors: a secret key where a public one is wanted and the reverse, a malformed
    inline key (exit 2 or 1, one line); an existing key file is not overwritten.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, os, struct, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems
from nacl.public import PrivateKey, PublicKey, SealedBox
import nacl.bindings as nb

HEAD = 121
FINAL = nb.crypto_secretstream_xchacha20poly1305_TAG_FINAL
MESSAGE = nb.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
CHUNK = 65536


def keyline(path, prefix):
    with open(path) as f:
        text = f.read()
    ok(text.endswith("\n") and text.count("\n") == 1, path + " is one line")
    alg, b64 = text.split()
    ok(alg == prefix, "%s starts with %s" % (path, prefix))
    raw = base64.b64decode(b64, validate=True)
    ok(len(raw) == 32, path + " holds 32 bytes")
    return raw


def split(sealed):
    """The head and the chunks (ciphertexts), by the documented layout."""
    head, rest, chunks = sealed[:HEAD], sealed[HEAD:], []
    while rest:
        ok(len(rest) >= 4, "a chunk length")
        (n,) = struct.unpack(">I", rest[:4])
        ok(len(rest) >= 4 + n, "a whole chunk")
        chunks.append(rest[4:4 + n])
        rest = rest[4 + n:]
    return head, chunks


def open_independently(sealed, sk):
    head, chunks = split(sealed)
    ok(head[:8] == b"hemsseal" and head[8] == 1, "magic and version 1")
    pk = bytes(sk.public_key)
    ok(head[9:17] == hashlib.sha256(pk).digest()[:8], "key id = SHA-256(pk)[:8]")
    key = SealedBox(sk).decrypt(head[17:97])
    ok(len(key) == 32, "the sealed box holds a 32-byte stream key")
    st = nb.crypto_secretstream_xchacha20poly1305_state()
    nb.crypto_secretstream_xchacha20poly1305_init_pull(st, head[97:121], key)
    out = b""
    for i, c in enumerate(chunks):
        m, tag = nb.crypto_secretstream_xchacha20poly1305_pull(st, c, head if i == 0 else None)
        ok(len(m) <= CHUNK, "chunk %d holds at most 64 KiB" % i)
        ok(tag == (FINAL if i == len(chunks) - 1 else MESSAGE), "chunk %d tag %d" % (i, tag))
        out += m
    return out


def seal_independently(plain, pk):
    key = nb.crypto_secretstream_xchacha20poly1305_keygen()
    st = nb.crypto_secretstream_xchacha20poly1305_state()
    hdr = nb.crypto_secretstream_xchacha20poly1305_init_push(st, key)
    head = b"hemsseal" + bytes([1]) + hashlib.sha256(pk).digest()[:8] + SealedBox(PublicKey(pk)).encrypt(key) + hdr
    ok(len(head) == HEAD, "the head is 121 bytes")
    parts = [plain[i:i + CHUNK] for i in range(0, len(plain), CHUNK)] or [b""]
    out = head
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        c = nb.crypto_secretstream_xchacha20poly1305_push(st, p, head if i == 0 else None, FINAL if last else MESSAGE)
        out += struct.pack(">I", len(c)) + c
    return out


def refused(tmp, key, data, what, expect):
    src = os.path.join(tmp, "bad.sealed")
    out = os.path.join(tmp, "bad.hb")
    with open(src, "wb") as f:
        f.write(data)
    r = hems("decrypt", "--key", key, src, "--out", out)
    ok(r.returncode == 1, "%s: exit 1 (got %d: %s)" % (what, r.returncode, r.stderr))
    ok(len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, "%s: one line naming '%s': %s" % (what, expect, r.stderr))
    ok(not os.path.exists(out) and not os.path.exists(out + ".tmp"), what + ": nothing written")


def main():
    tmp = tempfile.mkdtemp(prefix="hems-seal-")
    try:
        d = os.path.join(tmp, "data")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        r = subprocess.run([HEMS, "run", "--dir", d, "--for", "3m", "--speed", "max"], capture_output=True, text=True, timeout=300)
        ok(r.returncode == 0, "run: " + r.stderr)
        rk = os.path.join(tmp, "r.key")
        r = hems("key", "recipient", "--out", rk)
        ok(r.returncode == 0, "key recipient: " + r.stderr)
        ok(os.stat(rk).st_mode & 0o777 == 0o600, "the secret key file is 0600")
        sk_raw, pk_raw = keyline(rk, "x25519-secret"), keyline(rk + ".pub", "x25519")
        sk = PrivateKey(sk_raw)
        ok(bytes(sk.public_key) == pk_raw, "the public key is the secret key's (PyNaCl)")
        r = hems("key", "recipient", "--out", rk)
        ok(r.returncode == 3 and keyline(rk, "x25519-secret") == sk_raw, "an existing key file is not overwritten")

        plain, sealed = os.path.join(tmp, "plain.hb"), os.path.join(tmp, "b.sealed")
        ok(hems("export", "--dir", d, "--out", plain).returncode == 0, "plain export")
        r = hems("export", "--dir", d, "--out", sealed, "--encrypt-to", rk + ".pub")
        ok(r.returncode == 0 and "sealed to recipient key " + hashlib.sha256(pk_raw).digest()[:8].hex() in r.stdout,
           "sealed export names the key id: " + r.stdout + r.stderr)
        with open(plain, "rb") as f:
            pbytes = f.read()
        with open(sealed, "rb") as f:
            sbytes = f.read()
        ok(len(pbytes) > 2 * CHUNK, "the bundle spans several chunks (%d bytes)" % len(pbytes))
        ok(pbytes[:64] not in sbytes, "the plain bundle's bytes are not in the sealed file")
        ok(open_independently(sbytes, sk) == pbytes, "PyNaCl opens the sealed export: exactly the plain export")
        r = hems("export", "--dir", d, "--out", os.path.join(tmp, "inline.sealed"), "--encrypt-to",
                 "x25519:" + base64.b64encode(pk_raw).decode())
        ok(r.returncode == 0, "an inline x25519:B64 key: " + r.stderr)

        out = os.path.join(tmp, "dec.hb")
        r = hems("decrypt", "--key", rk, sealed, "--out", out)
        ok(r.returncode == 0, "hems decrypt: " + r.stderr)
        with open(out, "rb") as f:
            ok(f.read() == pbytes, "hems decrypt gives back the plain export")
        ok(os.stat(out).st_mode & 0o777 == 0o600, "the decrypted bundle is 0600")
        theirs = os.path.join(tmp, "theirs.sealed")
        with open(theirs, "wb") as f:
            f.write(seal_independently(pbytes, pk_raw))
        out2 = os.path.join(tmp, "theirs.hb")
        r = hems("decrypt", "--key", rk, theirs, "--out", out2)
        ok(r.returncode == 0, "hems decrypt opens a file PyNaCl sealed: " + r.stderr)
        r = hems("verify", out2, "--pubkey", os.path.join(d, "keys", "signing.pub"))
        ok(r.returncode == 0, "the decrypted bundle verifies with the journal key: " + r.stdout + r.stderr)
        r = hems("decrypt", "--key", rk, theirs, "--out", out2)
        ok(r.returncode == 0, "decrypting again replaces BUNDLE: " + r.stderr)
        with open(out2 + ".tmp", "w") as f:
            f.write("x")
        r = hems("decrypt", "--key", rk, theirs, "--out", out2)
        ok(r.returncode == 3 and ".tmp" in r.stderr, "an existing BUNDLE.tmp is refused: " + r.stderr)
        os.unlink(out2 + ".tmp")

        for cmd in (["verify", sealed], ["show", sealed, "1"]):
            r = hems(*cmd)
            ok(r.returncode == 1 and "hems decrypt" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
               "%s on a sealed file names hems decrypt: %s" % (cmd[0], r.stderr))

        other = os.path.join(tmp, "other.key")
        ok(hems("key", "recipient", "--out", other).returncode == 0, "a second recipient")
        refused(tmp, other, sbytes, "another recipient's key", "another recipient key")
        head, chunks = split(sbytes)

        def flip(i):
            b = bytearray(sbytes)
            b[i] ^= 0x01
            return bytes(b)

        def join(cs, h=head):
            return h + b"".join(struct.pack(">I", len(c)) + c for c in cs)

        refused(tmp, rk, flip(0), "magic", "not a sealed bundle")
        refused(tmp, rk, flip(8), "version", "version 0 not supported")
        refused(tmp, rk, flip(12), "key id", "another recipient key")
        refused(tmp, rk, flip(40), "sealed box", "does not open")
        refused(tmp, rk, flip(100), "stream header", "byte 121")
        refused(tmp, rk, flip(HEAD + 1), "a chunk length", "byte")
        refused(tmp, rk, flip(HEAD + 4 + 100), "first chunk's ciphertext", "chunk at byte 121 does not authenticate")
        refused(tmp, rk, flip(len(sbytes) - 5), "last chunk's ciphertext", "does not authenticate")
        refused(tmp, rk, join(chunks[:-1]), "the last chunk dropped", "no final chunk")
        refused(tmp, rk, join([chunks[0], chunks[2], chunks[1]] + chunks[3:]), "two chunks swapped", "does not authenticate")
        refused(tmp, rk, join([chunks[0], chunks[1], chunks[1]] + chunks[2:]), "a chunk repeated", "does not authenticate")
        refused(tmp, rk, sbytes + b"\0", "a byte after the final chunk", "after the final chunk")
        refused(tmp, rk, sbytes[:60], "cut inside the head", "cut short")

        r = hems("export", "--dir", d, "--out", os.path.join(tmp, "x"), "--encrypt-to", rk)
        ok(r.returncode == 1 and "not an X25519 public key file" in r.stderr, "a secret key as --encrypt-to: " + r.stderr)
        r = hems("export", "--dir", d, "--out", os.path.join(tmp, "x"), "--encrypt-to", "x25519:AAAA")
        ok(r.returncode == 2 and "not an X25519 public key" in r.stderr, "a malformed inline key: " + r.stderr)
        r = hems("decrypt", "--key", rk + ".pub", sealed, "--out", os.path.join(tmp, "x"))
        ok(r.returncode == 1 and "secret key" in r.stderr, "a public key as --key: " + r.stderr)
        ok(not os.path.exists(os.path.join(tmp, "x")), "nothing written for refused keys")
        r = hems("decrypt", "--key", rk, sealed)
        ok(r.returncode == 2, "decrypt without --out: usage")
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


main()
