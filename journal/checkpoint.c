/*
 * checkpoint.c — seals as transparency-log checkpoints: C2SP tlog-checkpoint bodies, C2SP
 * signed-note signatures (Ed25519), C2SP tlog-cosignature/v1 witness cosignatures, and the
 * note verifier key text of Go's golang.org/x/mod/sumdb/note.
 *
 * Everything parsed here may come from outside (a bundle, a witness, an auditor's file), so the
 * parsers are strict and bounded: a body is accepted only if formatting what was parsed gives
 * back exactly the same bytes (one canonical text per checkpoint: no leading zeros, canonical
 * base64, no empty or extra lines), and a note only within JOURNAL_TLOG_NOTE_MAX bytes and
 * JOURNAL_TLOG_SIGS_MAX signature lines. Signing goes through struct journal_signer only; the
 * key hash is SHA-256(name || '\n' || type || public key)[:4] (C2SP signed-note).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "journal.h"

static const char em_dash_space[] = "\xe2\x80\x94 "; /* U+2014, U+0020: a signature line's prefix */
#define SIG_PREFIX_LEN 4

/* ---------------------------------------------------------------- text rules */

/* Decodes one UTF-8 sequence (shortest form, no surrogates, ≤ U+10FFFF): its length, or 0. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
  unsigned char c = s[0];
  size_t n;
  uint32_t v, min;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xc2 && c <= 0xdf) { n = 2; v = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; v = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; v = c & 0x07; min = 0x10000; }
  else return 0;
  if (len < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

/* Valid UTF-8 with no control character other than '\n' (C2SP signed-note). */
static bool text_ok(const char *s, size_t len)
{
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_next(u + i, len - i, &cp);
    if (!n || (cp < 0x20 && cp != '\n') || cp == 0x7f) return false;
    i += n;
  }
  return true;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static bool is_space(uint32_t cp)
{
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

/* A key name or origin: non-empty, ≤ JOURNAL_TLOG_NAME_MAX bytes, text_ok, no space, no '+'. */
static bool name_ok(const char *s, size_t len)
{
  if (len == 0 || len > JOURNAL_TLOG_NAME_MAX || !text_ok(s, len)) return false;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_next(u + i, len - i, &cp);
    if (is_space(cp) || cp == '+') return false;
    i += n;
  }
  return true;
}

/* Standard base64 (RFC 4648 §4) of n bytes into out; returns the length or -ENOSPC. */
static int b64_encode(const uint8_t *bin, size_t n, char *out, size_t cap)
{
  size_t need = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
  if (need > cap) return -ENOSPC;
  sodium_bin2base64(out, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
  return (int)(need - 1);
}

/* Decodes exactly `want` bytes from the canonical base64 text s[0..len): anything else (other
 * lengths, whitespace, non-zero padding bits, missing padding) is refused. */
static bool b64_decode_exact(const char *s, size_t len, uint8_t *out, size_t want)
{
  char re[JOURNAL_TLOG_NOTE_MAX + 4];
  size_t got = 0;
  const char *end = NULL;
  if (len != sodium_base64_encoded_len(want, sodium_base64_VARIANT_ORIGINAL) - 1 || len >= sizeof re) return false;
  if (sodium_base642bin(out, want, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) || got != want ||
      end != s + len)
    return false;
  return b64_encode(out, want, re, sizeof re) == (int)len && memcmp(re, s, len) == 0;
}

static bool hex_decode32(const char *s, uint8_t out[JOURNAL_HASH_BYTES])
{
  for (int i = 0; i < 2 * JOURNAL_HASH_BYTES; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] << 4) | v : v);
  }
  return true;
}

/* The canonical-form check: formatting what was parsed (n bytes into again) gave back exactly
 * the input, so every rule format enforces holds for the input too. */
static bool canonical(int n, const char *again, const char *text, size_t len)
{
  return n >= 0 && (size_t)n == len && memcmp(again, text, len) == 0;
}

/* ---------------------------------------------------------------- checkpoint bodies */

int journal_tlog_checkpoint_format(const struct journal_tlog_checkpoint *c, char *out, size_t cap)
{
  size_t olen = strnlen(c->origin, sizeof c->origin), elen = strnlen(c->ext, sizeof c->ext);
  if (olen >= sizeof c->origin || !name_ok(c->origin, olen) || elen >= sizeof c->ext || c->size > INT64_MAX)
    return JOURNAL_ENOTE;
  if (elen && (c->ext[elen - 1] != '\n' || c->ext[0] == '\n' || strstr(c->ext, "\n\n") || !text_ok(c->ext, elen)))
    return JOURNAL_ENOTE;
  char root[64];
  b64_encode(c->root, JOURNAL_HASH_BYTES, root, sizeof root);
  int n = snprintf(out, cap, "%s\n%llu\n%s\n%s", c->origin, (unsigned long long)c->size, root, c->ext);
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  return n;
}

/* The next line of s[*off..len) (without its '\n'); false if none ends in '\n'. */
static bool next_line(const char *s, size_t len, size_t *off, const char **line, size_t *llen)
{
  const char *nl = memchr(s + *off, '\n', len - *off);
  if (!nl) return false;
  *line = s + *off;
  *llen = (size_t)(nl - *line);
  *off = (size_t)(nl - s) + 1;
  return true;
}

int journal_tlog_checkpoint_parse(const char *body, size_t len, struct journal_tlog_checkpoint *out)
{
  memset(out, 0, sizeof *out);
  if (len == 0 || len > JOURNAL_TLOG_BODY_MAX || body[len - 1] != '\n' || !text_ok(body, len)) return JOURNAL_ENOTE;
  size_t off = 0, llen;
  const char *line;
  if (!next_line(body, len, &off, &line, &llen) || !name_ok(line, llen)) return JOURNAL_ENOTE;
  memcpy(out->origin, line, llen);
  if (!next_line(body, len, &off, &line, &llen) || llen == 0 || llen > 19 || (line[0] == '0' && llen > 1))
    return JOURNAL_ENOTE;
  uint64_t size = 0;
  for (size_t i = 0; i < llen; i++) {
    if (line[i] < '0' || line[i] > '9') return JOURNAL_ENOTE;
    size = size * 10 + (uint64_t)(line[i] - '0'); /* 19 digits cannot overflow u64 */
  }
  if (size > INT64_MAX) return JOURNAL_ENOTE;
  out->size = size;
  if (!next_line(body, len, &off, &line, &llen) || !b64_decode_exact(line, llen, out->root, JOURNAL_HASH_BYTES))
    return JOURNAL_ENOTE;
  if (len - off > JOURNAL_TLOG_EXT_MAX) return JOURNAL_ENOTE;
  memcpy(out->ext, body + off, len - off);
  char again[JOURNAL_TLOG_BODY_MAX + 1];
  if (!canonical(journal_tlog_checkpoint_format(out, again, sizeof again), again, body, len)) {
    memset(out, 0, sizeof *out);
    return JOURNAL_ENOTE;
  }
  return 0;
}

/* ---------------------------------------------------------------- hems extension lines */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int format_time(int64_t t_ns, char *out, size_t cap)
{
  int64_t s = t_ns / 1000000000, ns = t_ns % 1000000000;
  if (ns < 0) { ns += 1000000000; s--; }
  time_t tt = (time_t)s;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) return -EINVAL;
  char frac[16] = "";
  if (ns) snprintf(frac, sizeof frac, ".%09lld", (long long)ns);
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" (the canonical form is checked by the caller). */
static bool parse_time(const char *s, size_t len, int64_t *out_ns)
{
  unsigned v[6];
  static const unsigned at[6] = { 0, 5, 8, 11, 14, 17 }, width[6] = { 4, 2, 2, 2, 2, 2 };
  static const char sep[6] = { '-', '-', 'T', ':', ':', 0 };
  if (len < 20) return false;
  for (int f = 0; f < 6; f++) {
    v[f] = 0;
    for (unsigned i = 0; i < width[f]; i++) {
      char c = s[at[f] + i];
      if (c < '0' || c > '9') return false;
      v[f] = v[f] * 10 + (unsigned)(c - '0');
    }
    if (sep[f] && s[at[f] + width[f]] != sep[f]) return false;
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 59) return false;
  int64_t ns = 0;
  size_t i = 19;
  if (s[i] == '.') {
    if (len != 30) return false;
    for (i = 20; i < 29; i++) {
      if (s[i] < '0' || s[i] > '9') return false;
      ns = ns * 10 + (s[i] - '0');
    }
  }
  if (i != len - 1 || s[i] != 'Z') return false;
  int64_t days = days_from_civil(v[0], v[1], v[2]);
  /* int64 ns spans 1677-09-21 .. 2262-04-11 */
  if (days < -106751 || days > 106750) return false;
  *out_ns = ((days * 86400 + v[3] * 3600 + v[4] * 60 + v[5]) * 1000000000) + ns;
  return true;
}

int journal_tlog_hems_format(const struct journal_tlog_hems *e, char *out, size_t cap)
{
  char state[65], head[65], t[40];
  journal_hex(e->state_hash, JOURNAL_HASH_BYTES, state);
  journal_hex(e->head_hash, JOURNAL_HASH_BYTES, head);
  if (format_time(e->time_ns, t, sizeof t) < 0) return JOURNAL_ENOTE;
  int n = snprintf(out, cap, "state %s\nhead %s\ntime %s\n", state, head, t);
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  if (e->has_seal) {
    char seal[65];
    journal_hex(e->seal_hash, JOURNAL_HASH_BYTES, seal);
    int m = snprintf(out + n, cap - (size_t)n, "seal %s\n", seal);
    if (m < 0 || (size_t)m >= cap - (size_t)n) return -ENOSPC;
    n += m;
  }
  return n;
}

int journal_tlog_hems_parse(const char *ext, struct journal_tlog_hems *out)
{
  memset(out, 0, sizeof *out);
  size_t len = strnlen(ext, JOURNAL_TLOG_EXT_MAX + 1), off = 0, llen;
  const char *line;
  if (len > JOURNAL_TLOG_EXT_MAX) return JOURNAL_ENOTE;
  if (!next_line(ext, len, &off, &line, &llen) || llen != 6 + 64 || memcmp(line, "state ", 6) ||
      !hex_decode32(line + 6, out->state_hash))
    return JOURNAL_ENOTE;
  if (!next_line(ext, len, &off, &line, &llen) || llen != 5 + 64 || memcmp(line, "head ", 5) ||
      !hex_decode32(line + 5, out->head_hash))
    return JOURNAL_ENOTE;
  if (!next_line(ext, len, &off, &line, &llen) || llen < 5 || memcmp(line, "time ", 5) ||
      !parse_time(line + 5, llen - 5, &out->time_ns))
    return JOURNAL_ENOTE;
  if (off != len) {
    if (!next_line(ext, len, &off, &line, &llen) || llen != 5 + 64 || memcmp(line, "seal ", 5) ||
        !hex_decode32(line + 5, out->seal_hash) || off != len)
      return JOURNAL_ENOTE;
    out->has_seal = true;
  }
  char again[JOURNAL_TLOG_EXT_MAX + 1];
  if (!canonical(journal_tlog_hems_format(out, again, sizeof again), again, ext, len)) {
    memset(out, 0, sizeof *out);
    return JOURNAL_ENOTE;
  }
  return 0;
}

int journal_tlog_origin(const char *device_id_hex, char *out, size_t cap)
{
  size_t n = strnlen(device_id_hex, 33);
  if (n != 32) return JOURNAL_ENOTE;
  for (size_t i = 0; i < n; i++)
    if (!((device_id_hex[i] >= '0' && device_id_hex[i] <= '9') || (device_id_hex[i] >= 'a' && device_id_hex[i] <= 'f')))
      return JOURNAL_ENOTE;
  int w = snprintf(out, cap, "hems/%s", device_id_hex);
  return w < 0 || (size_t)w >= cap ? -ENOSPC : w;
}

/* ---------------------------------------------------------------- keys */

static uint32_t key_hash(const char *name, size_t nlen, uint8_t type, const uint8_t pk[JOURNAL_PUBKEY_BYTES])
{
  crypto_hash_sha256_state st;
  uint8_t h[32], nl = '\n';
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)name, nlen);
  crypto_hash_sha256_update(&st, &nl, 1);
  crypto_hash_sha256_update(&st, &type, 1);
  crypto_hash_sha256_update(&st, pk, JOURNAL_PUBKEY_BYTES);
  crypto_hash_sha256_final(&st, h);
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static bool type_ok(uint8_t type) { return type == JOURNAL_TLOG_ED25519 || type == JOURNAL_TLOG_COSIG_V1; }

int journal_tlog_verifier_init(struct journal_tlog_verifier *v, const char *name, uint8_t type,
                               const uint8_t pubkey[JOURNAL_PUBKEY_BYTES])
{
  memset(v, 0, sizeof *v);
  size_t n = strnlen(name, JOURNAL_TLOG_NAME_MAX + 1);
  if (!name_ok(name, n) || !type_ok(type)) return JOURNAL_ENOTE;
  memcpy(v->name, name, n);
  v->type = type;
  memcpy(v->pubkey, pubkey, JOURNAL_PUBKEY_BYTES);
  v->key_hash = key_hash(name, n, type, pubkey);
  return 0;
}

int journal_tlog_verifier_format(const struct journal_tlog_verifier *v, char *out, size_t cap)
{
  uint8_t key[1 + JOURNAL_PUBKEY_BYTES];
  char b64[64];
  key[0] = v->type;
  memcpy(key + 1, v->pubkey, JOURNAL_PUBKEY_BYTES);
  b64_encode(key, sizeof key, b64, sizeof b64);
  int n = snprintf(out, cap, "%s+%08x+%s", v->name, (unsigned)v->key_hash, b64);
  return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int journal_tlog_verifier_parse(const char *text, size_t len, struct journal_tlog_verifier *out)
{
  memset(out, 0, sizeof *out);
  const char *p1 = memchr(text, '+', len);
  if (!p1) return JOURNAL_ENOTE;
  size_t nlen = (size_t)(p1 - text), rest = len - nlen - 1;
  const char *p2 = memchr(p1 + 1, '+', rest);
  if (!p2 || p2 - (p1 + 1) != 8 || nlen > JOURNAL_TLOG_NAME_MAX) return JOURNAL_ENOTE;
  uint8_t key[1 + JOURNAL_PUBKEY_BYTES];
  if (!b64_decode_exact(p2 + 1, len - (size_t)(p2 + 1 - text), key, sizeof key)) return JOURNAL_ENOTE;
  char name[JOURNAL_TLOG_NAME_MAX + 1] = { 0 };
  memcpy(name, text, nlen);
  struct journal_tlog_verifier v;
  if (journal_tlog_verifier_init(&v, name, key[0], key + 1)) return JOURNAL_ENOTE;
  char again[JOURNAL_TLOG_VKEY_MAX + 1];
  if (!canonical(journal_tlog_verifier_format(&v, again, sizeof again), again, text, len))
    return JOURNAL_ENOTE; /* another hash, or upper-case hex */
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------- signing */

/* "— <name> <base64(hash || payload)>\n" into out. */
static int sig_line(const char *name, size_t nlen, uint32_t hash, const uint8_t *payload, size_t plen, char *out,
                    size_t cap)
{
  uint8_t raw[4 + 8 + JOURNAL_SIG_BYTES];
  char b64[128];
  raw[0] = (uint8_t)(hash >> 24), raw[1] = (uint8_t)(hash >> 16), raw[2] = (uint8_t)(hash >> 8), raw[3] = (uint8_t)hash;
  memcpy(raw + 4, payload, plen);
  b64_encode(raw, 4 + plen, b64, sizeof b64);
  int n = snprintf(out, cap, "%s%.*s %s\n", em_dash_space, (int)nlen, name, b64);
  return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int journal_tlog_sign(const char *body, size_t len, const char *key_name, const struct journal_signer *s, char *out,
                      size_t cap)
{
  size_t nlen = strnlen(key_name, JOURNAL_TLOG_NAME_MAX + 1);
  if (!len || len > JOURNAL_TLOG_BODY_MAX || body[len - 1] != '\n' || !text_ok(body, len) || !name_ok(key_name, nlen))
    return JOURNAL_ENOTE;
  uint8_t sig[JOURNAL_SIG_BYTES];
  int rc = s->sign(s->ctx, (const uint8_t *)body, len, sig);
  if (rc) return rc;
  if (cap < len + 1) return -ENOSPC;
  memcpy(out, body, len);
  out[len] = '\n';
  int n = sig_line(key_name, nlen, key_hash(key_name, nlen, JOURNAL_TLOG_ED25519, s->pubkey), sig, sizeof sig,
                   out + len + 1, cap - len - 1);
  return n < 0 ? n : (int)(len + 1 + (size_t)n);
}

/* "cosignature/v1\ntime <t>\n" || body into msg; returns its length. */
static size_t cosigned_message(const char *body, size_t len, uint64_t t, char *msg)
{
  int h = snprintf(msg, 64, "cosignature/v1\ntime %llu\n", (unsigned long long)t);
  memcpy(msg + h, body, len);
  return (size_t)h + len;
}

int journal_tlog_cosign(const char *body, size_t len, const char *name, const struct journal_signer *s,
                        uint64_t timestamp, char *out, size_t cap)
{
  struct journal_tlog_checkpoint c;
  size_t nlen = strnlen(name, JOURNAL_TLOG_NAME_MAX + 1);
  if (timestamp > INT64_MAX || !name_ok(name, nlen) || journal_tlog_checkpoint_parse(body, len, &c))
    return JOURNAL_ENOTE;
  char msg[64 + JOURNAL_TLOG_BODY_MAX];
  size_t mlen = cosigned_message(body, len, timestamp, msg);
  uint8_t payload[8 + JOURNAL_SIG_BYTES];
  for (int i = 0; i < 8; i++) payload[i] = (uint8_t)(timestamp >> (56 - 8 * i));
  int rc = s->sign(s->ctx, (const uint8_t *)msg, mlen, payload + 8);
  if (rc) return rc;
  return sig_line(name, nlen, key_hash(name, nlen, JOURNAL_TLOG_COSIG_V1, s->pubkey), payload, sizeof payload, out,
                  cap);
}

/* ---------------------------------------------------------------- opening */

/* One signature line's signature by v: JOURNAL_EBADSIG unless it verifies. */
static int check_sig(const struct journal_tlog_verifier *v, const char *body, size_t blen, const uint8_t *raw,
                     size_t rlen, uint64_t *timestamp)
{
  if (v->type == JOURNAL_TLOG_ED25519) {
    if (rlen != 4 + JOURNAL_SIG_BYTES) return JOURNAL_EBADSIG;
    return crypto_sign_verify_detached(raw + 4, (const uint8_t *)body, blen, v->pubkey) ? JOURNAL_EBADSIG : 0;
  }
  if (rlen != 4 + 8 + JOURNAL_SIG_BYTES) return JOURNAL_EBADSIG;
  uint64_t t = 0;
  for (int i = 0; i < 8; i++) t = t << 8 | raw[4 + i];
  if (t > INT64_MAX || blen > JOURNAL_TLOG_BODY_MAX) return JOURNAL_EBADSIG;
  char msg[64 + JOURNAL_TLOG_BODY_MAX];
  size_t mlen = cosigned_message(body, blen, t, msg);
  if (crypto_sign_verify_detached(raw + 12, (const uint8_t *)msg, mlen, v->pubkey)) return JOURNAL_EBADSIG;
  if (timestamp) *timestamp = t;
  return 0;
}

int journal_tlog_open(const char *note, size_t len, const struct journal_tlog_verifier *v, size_t *body_len,
                      uint64_t *timestamp)
{
  *body_len = 0;
  if (len == 0 || len > JOURNAL_TLOG_NOTE_MAX || note[len - 1] != '\n' || !text_ok(note, len)) return JOURNAL_ENOTE;
  /* The body ends at the last blank line: the last "\n\n". */
  size_t split = len;
  for (size_t i = len - 1; i > 0; i--)
    if (note[i] == '\n' && note[i - 1] == '\n') { split = i; break; }
  if (split == len) return JOURNAL_ENOTE;
  size_t blen = split, off = split + 1, llen;
  const char *line;
  int nsigs = 0, good = 0;
  while (off < len) {
    if (!next_line(note, len, &off, &line, &llen) || ++nsigs > JOURNAL_TLOG_SIGS_MAX) return JOURNAL_ENOTE;
    if (llen < SIG_PREFIX_LEN || memcmp(line, em_dash_space, SIG_PREFIX_LEN)) return JOURNAL_ENOTE;
    const char *name = line + SIG_PREFIX_LEN, *sp = memchr(name, ' ', llen - SIG_PREFIX_LEN);
    if (!sp) return JOURNAL_ENOTE;
    size_t nlen = (size_t)(sp - name), b64len = llen - SIG_PREFIX_LEN - nlen - 1;
    /* A signature is 4 + n bytes of canonical base64; lines by keys that are not v's are
     * checked for form only (C2SP: verifiers ignore unknown keys). */
    uint8_t raw[JOURNAL_TLOG_NOTE_MAX / 4 * 3];
    if (!name_ok(name, nlen) || b64len < 8 || b64len % 4) return JOURNAL_ENOTE;
    size_t rlen = b64len / 4 * 3 - (sp[b64len] == '=') - (sp[b64len - 1] == '=');
    if (!b64_decode_exact(sp + 1, b64len, raw, rlen)) return JOURNAL_ENOTE;
    uint32_t hash = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    if (nlen != strlen(v->name) || memcmp(name, v->name, nlen) || hash != v->key_hash) continue;
    if (check_sig(v, note, blen, raw, rlen, timestamp)) return JOURNAL_EBADSIG;
    good++;
  }
  if (nsigs == 0) return JOURNAL_ENOTE;
  if (!good) return JOURNAL_EBADSIG;
  *body_len = blen;
  return 0;
}
