/*
 * index_keys.c — which index keys a record contributes (docs/journal.md, "Indexes"): its type,
 * its source, and the branches it names. One definition for the writer (store.c), the index
 * check and rebuild (index_check.c, index_rebuild.c) and the queries, so what is written is what
 * is looked up.
 */
#include <string.h>
#include "codec_internal.h"
#include "store_internal.h"

uint32_t journal_index_source_value(const struct journal_source *s)
{
  return (uint32_t)s->kind << 24 | (uint32_t)s->sub << 16 | s->index;
}


int journal__index_add_key(struct index_key *out, int n, int cap, uint8_t kind, uint32_t value)
{
  for (int i = 0; i < n; i++)
    if (out[i].kind == kind && out[i].value == value) return n;
  if (n < cap) { out[n].kind = kind; out[n].value = value; n++; }
  return n;
}

static int branch_key_value(const struct ctok *v, uint32_t *out)
{
  if (v->kind != CT_UINT || v->u == 0 || v->u > 0xffff) return 0;
  *out = (uint32_t)v->u;
  return 1;
}

/* Index keys from the decoded struct (no re-parse): type, source, and for typed bodies the
 * top-level fields named "branch"/"target" and the array "branches" (of numbers, or of maps with a
 * "branch": a rollup's) — what the CBOR scan below
 * finds in the record's v 1 form, where a zero (or "service") target is no branch. Raw bodies
 * fall back to scanning their CBOR. */
int journal__struct_index_keys(const struct journal_record *r, const uint8_t *rec, size_t len, struct index_key *out,
                               int cap)
{
  const struct jdesc *d = journal__body_desc(r->type);
  if (!d) return journal__record_index_keys(rec, len, out, cap);
  int n = 0;
  n = journal__index_add_key(out, n, cap, JOURNAL_IDX_TYPE, r->type);
  const struct journal_source *src = &r->source;
  n = journal__index_add_key(out, n, cap, JOURNAL_IDX_SOURCE, journal_index_source_value(src));
  if (src->kind == JOURNAL_SRC_BRANCH || (src->kind == JOURNAL_SRC_TAP && src->index))
    n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, src->index);
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    if (f->name[0] != 'b' && f->name[0] != 't') continue;
    const uint8_t *p = (const uint8_t *)&r->body + f->offset;
    if (f->kind == JF_U16ARR && strcmp(f->name, "branches") == 0) {
      uint16_t cnt;
      memcpy(&cnt, (const uint8_t *)&r->body + f->count_offset, 2);
      for (unsigned e = 0; e < cnt && e < f->max; e++) {
        uint16_t b16;
        memcpy(&b16, p + 2 * e, 2);
        if (b16) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b16);
      }
      continue;
    }
    if (f->kind == JF_ARRAY && strcmp(f->name, "branches") == 0) { /* an array of maps (rollup): their "branch" */
      const struct jfield *bf = NULL;
      for (unsigned k = 0; k < f->sub->n; k++)
        if (f->sub->fields[k].kind == JF_U16 && strcmp(f->sub->fields[k].name, "branch") == 0) bf = &f->sub->fields[k];
      if (!bf) continue;
      uint16_t cnt;
      memcpy(&cnt, (const uint8_t *)&r->body + f->count_offset, 2);
      for (unsigned e = 0; e < cnt && e < f->max; e++) {
        uint16_t b16;
        memcpy(&b16, p + (size_t)e * f->stride + bf->offset, 2);
        if (b16) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b16);
      }
      continue;
    }
    if (strcmp(f->name, "branch") != 0 && strcmp(f->name, "target") != 0) continue;
    uint32_t v = 0;
    if (f->kind == JF_U8) v = *p;
    else if (f->kind == JF_U16 || f->kind == JF_TARGET) { uint16_t x; memcpy(&x, p, 2); v = x; }
    else if (f->kind == JF_U32) memcpy(&v, p, 4);
    else continue;
    if (v && v <= 0xffff) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, v);
  }
  return n;
}

/* Index keys of a record: its type, its source, and the branches its body names through the
 * top-level keys "branch", "target" (a branch number) or "branches" (an array of them) —
 * a generic rule so every record type is indexed without per-type code. */
int journal__record_index_keys(const uint8_t *buf, size_t len, struct index_key *out, int cap)
{
  uint64_t seq;
  unsigned type;
  uint8_t prev[32];
  if (journal_record_peek(buf, len, &seq, &type, prev)) return JOURNAL_EBADREC;
  struct cr vr = { buf, len, 36, 0 }; /* after prev: key 1, seq, key 2, v */
  struct ctok vt;
  bool v3 = !journal__cr_next(&vr, &vt) && !journal__cr_next(&vr, &vt) && !journal__cr_next(&vr, &vt) &&
            !journal__cr_next(&vr, &vt) && vt.kind == CT_UINT && vt.u == JOURNAL_SCHEMA_V3;
  if (v3 && journal__body_desc(type)) {
    /* A v 3 body (integer keys): decoded, its keys come from the struct — the same keys its
     * v 1 form names (no re-encode to v 1 to scan that; tests/journal/test_index_keys.c). */
    static __thread struct journal_record rec;
    if (journal_record_decode(buf, len, &rec)) return JOURNAL_EBADREC;
    return journal__struct_index_keys(&rec, buf, len, out, cap);
  }
  int n = 0;
  n = journal__index_add_key(out, n, cap, JOURNAL_IDX_TYPE, type);
  struct cr r = { buf, len, 0, false };
  struct ctok t;
  if (journal__cr_next(&r, &t)) return JOURNAL_EBADREC;
  struct journal_source src;
  memset(&src, 0, sizeof src);
  for (int k = 0; k < 10; k++) {
    if (journal__cr_next(&r, &t)) return JOURNAL_EBADREC;
    if (k == 8) {
      struct ctok v;
      if (journal__cr_next(&r, &v) || v.kind != CT_TEXT) return JOURNAL_EBADREC;
      if (journal_source_parse((const char *)v.ptr, v.len, &src)) return JOURNAL_EBADREC;
      n = journal__index_add_key(out, n, cap, JOURNAL_IDX_SOURCE, journal_index_source_value(&src));
      if (src.kind == JOURNAL_SRC_BRANCH || (src.kind == JOURNAL_SRC_TAP && src.index))
        n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, src.index);
      continue;
    }
    if (k == 9) break;
    if (journal__cr_skip(&r, 0)) return JOURNAL_EBADREC;
  }
  /* body */
  if (journal__cr_next(&r, &t) || t.kind != CT_MAP) return n;
  for (uint64_t i = 0; i < t.u; i++) {
    struct ctok key, v;
    if (journal__cr_next(&r, &key)) break;
    size_t save = r.pos;
    if (key.kind == CT_TEXT && ((key.len == 6 && !memcmp(key.ptr, "branch", 6)) ||
                                (key.len == 6 && !memcmp(key.ptr, "target", 6)))) {
      uint32_t b;
      if (!journal__cr_next(&r, &v) && branch_key_value(&v, &b)) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b);
      r.pos = save;
    } else if (key.kind == CT_TEXT && key.len == 8 && !memcmp(key.ptr, "branches", 8)) {
      if (!journal__cr_next(&r, &v) && v.kind == CT_ARRAY) {
        for (uint64_t e = 0; e < v.u && e < 256; e++) {
          struct ctok x;
          uint32_t b;
          if (journal__cr_next(&r, &x)) break;
          if (x.kind == CT_MAP) { /* an array of maps (rollup): each one's "branch" */
            for (uint64_t k = 0; k < x.u; k++) {
              struct ctok mk, mv;
              if (journal__cr_next(&r, &mk)) break;
              size_t at = r.pos;
              if (mk.kind == CT_TEXT && mk.len == 6 && !memcmp(mk.ptr, "branch", 6) && !journal__cr_next(&r, &mv) &&
                  branch_key_value(&mv, &b))
                n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b);
              r.pos = at;
              if (journal__cr_skip(&r, 0)) break;
            }
            continue;
          }
          if (branch_key_value(&x, &b)) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b);
        }
      }
      r.pos = save;
    }
    if (journal__cr_skip(&r, 0)) break;
  }
  return n;
}

int journal_record_branches(const uint8_t *buf, size_t len, uint16_t *out, int cap)
{
  struct index_key ks[64];
  int n = journal__record_index_keys(buf, len, ks, 64);
  if (n < 0) return n;
  int m = 0;
  for (int i = 0; i < n && m < cap; i++)
    if (ks[i].kind == JOURNAL_IDX_BRANCH) out[m++] = (uint16_t)ks[i].value;
  return m;
}

