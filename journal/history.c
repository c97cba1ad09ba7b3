/*
 * history.c — the long-horizon log (journal.h "long-horizon log"; docs/journal.md): DIR/history,
 * a journal of its own that keeps a `copy` of every main-log record that must outlive the raw
 * windows. It is written after the main log, from the main log's durable records, in seq order,
 * so a crash between the two loses nothing: the next sync starts after the newest copy.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "journal.h"
#include "store_internal.h"

struct journal_history {
  struct journal *j;
  uint64_t copied;              /* main seqs up to here are copied, or not kept */
  struct journal_file_signer fs; /* the main dir's file signer, when the options gave none */
  bool have_fs;
  struct journal_record rec;    /* scratch: a main-log record decoded for its source */
  uint8_t buf[JOURNAL_RECORD_MAX];
};

bool journal_type_is_kept(unsigned type)
{
  return type != 0 && type < JOURNAL_T__MAX && type != JOURNAL_T_WINDOW && type != JOURNAL_T_SEAL &&
         type != JOURNAL_T_COPY;
}

bool journal_record_is_kept(const struct journal_record *r)
{
  return journal_type_is_kept(r->type) && !(r->type == JOURNAL_T_DER && r->body.der.reason == JOURNAL_DERR_RESYNC);
}

int journal_history_path(const char *main_dir, char *out, size_t cap)
{
  int n = snprintf(out, cap, "%s/" JOURNAL_HISTORY_DIR, main_dir);
  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool journal_history_exists(const char *main_dir)
{
  char p[4200];
  struct stat st;
  if (journal_history_path(main_dir, p, sizeof p - 20)) return false;
  strcat(p, "/journal/data.mdb");
  return stat(p, &st) == 0;
}

/* The main seq of the newest copy the history holds (0: none): the copies sit at the end, behind
 * at most a few seals and the history's own boot, config and key records. */
static int newest_copy(struct journal *j, uint64_t *out)
{
  *out = 0;
  struct journal_reader *r;
  int rc = journal_reader_attach(&r, j);
  if (rc) return rc;
  uint64_t first = 0, last = 0;
  struct journal_iter *it = NULL;
  if (!(rc = journal_reader_bounds(r, &first, &last)) && last && !(rc = journal_iter_begin(r, first, &it))) {
    for (uint64_t s = last; s >= first && s > 0; s--) {
      const uint8_t *b;
      size_t len;
      if (journal_iter_get(it, s, &b, &len) != 0) continue;
      uint64_t seq;
      unsigned type;
      uint8_t prev[JOURNAL_HASH_BYTES];
      if (journal_record_peek(b, len, &seq, &type, prev) != 0 || type != JOURNAL_T_COPY) continue;
      struct journal_record *c = malloc(sizeof *c);
      if (!c) { rc = -ENOMEM; break; }
      rc = journal_record_decode(b, len, c);
      if (!rc) *out = c->body.copy.main_seq;
      free(c);
      break;
    }
    journal_iter_end(it);
  }
  journal_reader_close(r);
  return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* A tree that holds no history (what an interrupted creation left), removed: 0 or -errno. */
static int remove_tree(const char *path)
{
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -errno;
  return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

/* The history is made whole in DIR/history.new and renamed to DIR/history only then, with DIR
 * synced: a power cut during its creation leaves no half-made history for verify and the next
 * open to trip on — only a history.new, removed by the next creation (as is a history dir
 * without its data.mdb). */
static int create_history(const struct journal_options *o, const char *main_dir)
{
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.new", o->dir);
  int rc = remove_tree(tmp);
  if (!rc) rc = remove_tree(o->dir); /* journal_history_exists said: no data.mdb in it */
  struct journal_options to = *o;
  to.dir = tmp;
  if (!rc) rc = journal_create(&to, NULL, 0, "");
  if (!rc && rename(tmp, o->dir) != 0) rc = -errno;
  if (!rc) rc = journal__sync_dir(main_dir);
  return rc;
}

int journal_history_open(struct journal_history **out, const struct journal_options *main_o, int *out_pid)
{
  *out = NULL;
  struct journal_history *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  char dir[4200];
  int rc = journal_history_path(main_o->dir, dir, sizeof dir);
  struct journal_options o = *main_o;
  o.dir = dir;
  o.counter_path = NULL; /* DIR/history/counter */
  o.counter = NULL;
  o.accept_rollback = false;
  o.virtual_clock = false; /* nothing waits on the history's durability */
  o.on_durable = NULL;
  o.state_hash = NULL;     /* its seals carry no reducer state: it is not replayed */
  o.on_nospace = NULL;
  o.commit_hold_ns = 0;
  if (!rc && !o.signer) {
    if ((rc = journal_file_signer_load(&h->fs, main_o->dir)) == 0) {
      h->have_fs = true;
      o.signer = &h->fs.signer;
    }
  }
  if (!rc && !journal_history_exists(main_o->dir)) rc = create_history(&o, main_o->dir);
  struct journal_open_info info;
  if (!rc) rc = journal_open(&h->j, &o, &info, out_pid);
  if (!rc) rc = newest_copy(h->j, &h->copied);
  if (rc) {
    journal_history_close(h);
    return rc;
  }
  *out = h;
  return 0;
}

struct journal *journal_history_journal(struct journal_history *h) { return h->j; }
uint64_t journal_history_copied(const struct journal_history *h) { return h->copied; }

/* The copy of one main-log record (seq, bytes) into the history: 0, 1 when it is not kept (a DER
 * resync), or the error. */
static int copy_one(struct journal_history *h, uint64_t seq, const uint8_t *b, size_t len)
{
  struct journal_record *src = &h->rec;
  int rc = journal_record_decode(b, len, src);
  if (rc) return rc;
  if (!journal_record_is_kept(src)) return 1;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_COPY;
  r.source = src->source;
  r.body.copy.main_seq = seq;
  journal_record_hash(b, len, r.body.copy.main_hash);
  r.body.copy.record = (struct journal_slice){ b, (uint32_t)len };
  size_t out_len;
  if (journal_record_encode(&r, h->buf, sizeof h->buf, &out_len) != 0) r.body.copy.record.len = 0; /* too large: named only */
  return journal_append(h->j, &r, NULL);
}

int journal_history_sync(struct journal_history *h, struct journal_reader *main, uint64_t upto, uint64_t max,
                         uint64_t *n_copied)
{
  if (n_copied) *n_copied = 0;
  if (upto <= h->copied) return 0;
  struct journal_iter *it;
  int rc = journal_iter_begin(main, h->copied + 1, &it);
  if (rc) return rc;
  uint64_t seq, looked = 0, n = 0;
  const uint8_t *b;
  size_t len;
  int got = 0;
  while ((!max || looked < max) && (got = journal_iter_next(it, &seq, &b, &len)) == 1 && seq <= upto) {
    looked++;
    uint64_t pseq;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if ((rc = journal_record_peek(b, len, &pseq, &type, prev))) break;
    if (journal_type_is_kept(type)) {
      if ((rc = copy_one(h, seq, b, len)) < 0) break;
      n += rc == 0;
      rc = 0;
    }
    h->copied = seq;
  }
  if (!rc && got < 0) rc = got;
  journal_iter_end(it);
  if (n && !rc) rc = journal_flush(h->j);
  if (n_copied) *n_copied = n;
  return rc;
}

void journal_history_anchor(struct journal_history *h, struct journal_record *retention)
{
  retention->body.retention.history_seq = journal_head_seq(h->j);
  journal_head_hash(h->j, retention->body.retention.history_hash);
}

int journal_history_close(struct journal_history *h)
{
  if (!h) return 0;
  int rc = h->j ? journal_close(h->j) : 0;
  if (h->have_fs) journal_file_signer_wipe(&h->fs);
  free(h);
  return rc;
}
