/*
 * keys_pkcs11.c — the journal's signer with its Ed25519 key in a PKCS#11 token (journal.h
 * "PKCS#11 signer"; the URI grammar in pkcs11_uri.c).
 *
 * The module is loaded with dlopen and driven through the PKCS#11 C API (CKM_EDDSA, PKCS#11
 * 3.0 constants from p11-kit's pkcs11.h; no engine or wrapper library). Invariants: the private
 * key is only ever a handle (its value is never asked for; a sensitive key would refuse); the
 * PIN exists in our memory from reading its file until C_Login returns, then is wiped; every
 * signature is checked with the public key before it leaves here, so whatever a token answers,
 * no unverifiable signature reaches a seal, a counter slot or a bundle. One session, used under
 * a mutex: a PKCS#11 session runs one operation at a time, and the journal signs from two
 * threads (seals on the appender, counter slots on its writer thread).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <p11-kit/pkcs11.h>
#include "journal.h"

#define PIN_MAX 255

struct journal_pkcs11_signer {
  struct journal_signer signer;
  void *module;                 /* dlopen handle */
  CK_FUNCTION_LIST_PTR f;
  bool finalize;                /* we initialized the module (not someone before us) */
  CK_SESSION_HANDLE session;
  bool session_open, logged_in;
  CK_OBJECT_HANDLE key;
  pthread_mutex_t mu;           /* the session and why[] */
  char why[256];                /* the last sign() failure */
  char why_out[256];            /* a copy handed to the caller */
};

static const struct { CK_RV rv; const char *name; } ckr_names[] = {
  { CKR_OK, "CKR_OK" },
  { CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
  { CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
  { CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
  { CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
  { CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
  { CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
  { CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
  { CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
  { CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
  { CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
  { CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED" },
  { CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED" },
  { CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
  { CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
  { CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
  { CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
  { CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
  { CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
  { CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
  { CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED" },
  { CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
  { CKR_PIN_INVALID, "CKR_PIN_INVALID" },
  { CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
  { CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
  { CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
  { CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
  { CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
  { CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
  { CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
  { CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
  { CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
  { CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
  { CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
  { CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
  { CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

static const char *ckr_name(CK_RV rv, char buf[24])
{
  for (size_t i = 0; i < sizeof ckr_names / sizeof ckr_names[0]; i++)
    if (ckr_names[i].rv == rv) return ckr_names[i].name;
  snprintf(buf, 24, "CKR 0x%lx", (unsigned long)rv);
  return buf;
}

static int fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t cap, const char *fmt, ...)
{
  if (why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return JOURNAL_ESIGNER;
}

/* ------------------------------------------------------------------ PIN */

/* The PIN from pin-source into pin (NUL-terminated, *len bytes): a regular file (not a link),
 * not readable by others, at most PIN_MAX bytes, one optional trailing '\n', no other newline
 * or NUL, not empty. The buffer used to read is wiped. */
static int read_pin(const struct journal_pkcs11_uri *u, char pin[PIN_MAX + 2], size_t *len, char *why, size_t cap)
{
  char path[JOURNAL_PKCS11_PATH_MAX + 300];
  if (u->pin_credential[0]) {
    const char *d = getenv("CREDENTIALS_DIRECTORY");
    if (!d || !d[0])
      return fail(why, cap, "pin-source credential:%s: $CREDENTIALS_DIRECTORY is not set (the unit's LoadCredential= sets it)",
                  u->pin_credential);
    snprintf(path, sizeof path, "%s/%s", d, u->pin_credential);
  } else {
    snprintf(path, sizeof path, "%s", u->pin_file);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return fail(why, cap, "PIN file %s: %s", path, errno == ELOOP ? "a symbolic link (refused)" : strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0) rc = fail(why, cap, "PIN file %s: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode)) rc = fail(why, cap, "PIN file %s: not a regular file", path);
  else if (st.st_mode & 007) rc = fail(why, cap, "PIN file %s: readable by others (chmod o-rwx)", path);
  size_t n = 0;
  while (!rc && n < PIN_MAX + 2) {
    ssize_t r = read(fd, pin + n, PIN_MAX + 2 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = fail(why, cap, "PIN file %s: %s", path, strerror(errno));
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (rc) { sodium_memzero(pin, PIN_MAX + 2); return rc; }
  if (n > 0 && pin[n - 1] == '\n') n--;
  if (n > PIN_MAX) rc = fail(why, cap, "PIN file %s: longer than %d bytes", path, PIN_MAX);
  else if (n == 0) rc = fail(why, cap, "PIN file %s: empty", path);
  else if (memchr(pin, '\n', n) || memchr(pin, 0, n)) rc = fail(why, cap, "PIN file %s: more than one line", path);
  if (rc) { sodium_memzero(pin, PIN_MAX + 2); return rc; }
  pin[n] = 0;
  *len = n;
  return 0;
}

/* ------------------------------------------------------------------ token, objects */

/* A blank-padded PKCS#11 text field equals s. */
static bool padded_eq(const unsigned char *field, size_t fn, const char *s)
{
  size_t n = strlen(s);
  if (n > fn || memcmp(field, s, n) != 0) return false;
  for (size_t i = n; i < fn; i++) if (field[i] != ' ') return false;
  return true;
}

static int find_slot(struct journal_pkcs11_signer *p, const struct journal_pkcs11_uri *u, CK_SLOT_ID *out, char *why,
                     size_t cap)
{
  char nb[24];
  CK_ULONG n = 0;
  CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
  if (rv != CKR_OK) return fail(why, cap, "C_GetSlotList: %s", ckr_name(rv, nb));
  CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
  if (!slots) return -ENOMEM;
  rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
  if (rv != CKR_OK) { free(slots); return fail(why, cap, "C_GetSlotList: %s", ckr_name(rv, nb)); }
  unsigned found = 0;
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO ti;
    if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
    if (!padded_eq(ti.label, sizeof ti.label, u->token)) continue;
    if (u->serial[0] && !padded_eq(ti.serialNumber, sizeof ti.serialNumber, u->serial)) continue;
    if (u->has_slot_id && slots[i] != u->slot_id) continue;
    if (!found++) *out = slots[i];
  }
  free(slots);
  if (found == 0)
    return fail(why, cap, "no token labelled '%s'%s%s in %s (%lu token%s present)", u->token, u->serial[0] ? " with serial " : "",
                u->serial, u->module_path, (unsigned long)n, n == 1 ? "" : "s");
  if (found > 1) return fail(why, cap, "%u tokens labelled '%s'; add serial= or slot-id= to the URI", found, u->token);
  return 0;
}

/* The one object of class cls, key type CKK_EC_EDWARDS, the URI's label (and id). */
static int find_key(struct journal_pkcs11_signer *p, const struct journal_pkcs11_uri *u, CK_OBJECT_CLASS cls,
                    CK_OBJECT_HANDLE *out, char *why, size_t cap)
{
  char nb[24];
  CK_KEY_TYPE kt = CKK_EC_EDWARDS;
  CK_ATTRIBUTE t[4] = {
    { CKA_CLASS, &cls, sizeof cls },
    { CKA_KEY_TYPE, &kt, sizeof kt },
    { CKA_LABEL, (void *)u->object, strlen(u->object) },
    { CKA_ID, (void *)u->id, u->id_len },
  };
  const char *what = cls == CKO_PRIVATE_KEY ? "private" : "public";
  CK_RV rv = p->f->C_FindObjectsInit(p->session, t, u->id_len ? 4 : 3);
  if (rv != CKR_OK) return fail(why, cap, "C_FindObjectsInit: %s", ckr_name(rv, nb));
  CK_OBJECT_HANDLE h[2];
  CK_ULONG n = 0;
  rv = p->f->C_FindObjects(p->session, h, 2, &n);
  p->f->C_FindObjectsFinal(p->session);
  if (rv != CKR_OK) return fail(why, cap, "C_FindObjects: %s", ckr_name(rv, nb));
  if (n == 0)
    return fail(why, cap, "token '%s' holds no Ed25519 %s key labelled '%s'%s (CKK_EC_EDWARDS)", u->token, what, u->object,
                u->id_len ? " with that id" : "");
  if (n > 1) return fail(why, cap, "token '%s' holds several Ed25519 %s keys labelled '%s'; add id= to the URI", u->token, what, u->object);
  *out = h[0];
  return 0;
}

/* An attribute's bytes into buf (cap), *len its length. */
static CK_RV attr(struct journal_pkcs11_signer *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t cap,
                  size_t *len)
{
  CK_ATTRIBUTE a = { type, buf, cap };
  CK_RV rv = p->f->C_GetAttributeValue(p->session, o, &a, 1);
  if (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION) rv = CKR_ATTRIBUTE_TYPE_INVALID;
  *len = rv == CKR_OK ? a.ulValueLen : 0;
  return rv;
}

/* The curve in CKA_EC_PARAMS: the PrintableString "edwards25519", the OID id-Ed25519
 * (1.3.101.112, RFC 8410) or the older 1.3.6.1.4.1.11591.15.1 some tools write. */
static bool is_ed25519_params(const uint8_t *b, size_t n)
{
  static const uint8_t named[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9' };
  static const uint8_t oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
  static const uint8_t oid_old[] = { 0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01 };
  return (n == sizeof named && !memcmp(b, named, n)) || (n == sizeof oid && !memcmp(b, oid, n)) ||
         (n == sizeof oid_old && !memcmp(b, oid_old, n));
}

static int read_public(struct journal_pkcs11_signer *p, const struct journal_pkcs11_uri *u, CK_OBJECT_HANDLE pub,
                       char *why, size_t cap)
{
  char nb[24], hex[2 * 64 + 1];
  uint8_t b[128];
  size_t n;
  CK_RV rv = attr(p, pub, CKA_EC_PARAMS, b, sizeof b, &n);
  if (rv != CKR_OK) return fail(why, cap, "public key '%s': CKA_EC_PARAMS: %s", u->object, ckr_name(rv, nb));
  if (!is_ed25519_params(b, n)) {
    journal_hex(b, n < 64 ? n : 64, hex);
    return fail(why, cap, "public key '%s': curve is not edwards25519 (CKA_EC_PARAMS %s)", u->object, hex);
  }
  rv = attr(p, pub, CKA_EC_POINT, b, sizeof b, &n);
  if (rv != CKR_OK) return fail(why, cap, "public key '%s': CKA_EC_POINT: %s", u->object, ckr_name(rv, nb));
  const uint8_t *pt = b;
  if (n == 34 && b[0] == 0x04 && b[1] == 0x20) pt = b + 2; /* DER OCTET STRING around the point */
  else if (n != 32) return fail(why, cap, "public key '%s': CKA_EC_POINT of %zu bytes (an Ed25519 point is 32, or 34 DER-wrapped)", u->object, n);
  memcpy(p->signer.pubkey, pt, JOURNAL_PUBKEY_BYTES);
  journal_key_id(p->signer.pubkey, p->signer.key_id);
  return 0;
}

/* ------------------------------------------------------------------ signing */

/* One CKM_EDDSA signature of msg, under the mutex; checked with the public key. */
static int p11_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[JOURNAL_SIG_BYTES])
{
  struct journal_pkcs11_signer *p = ctx;
  char nb[24];
  CK_MECHANISM m = { CKM_EDDSA, NULL, 0 };
  pthread_mutex_lock(&p->mu);
  int rc = 0;
  CK_ULONG sl = JOURNAL_SIG_BYTES;
  CK_RV rv = p->f->C_SignInit(p->session, &m, p->key);
  if (rv != CKR_OK) rc = fail(p->why, sizeof p->why, "C_SignInit: %s", ckr_name(rv, nb));
  else if ((rv = p->f->C_Sign(p->session, (CK_BYTE_PTR)msg, len, sig, &sl)) != CKR_OK)
    rc = fail(p->why, sizeof p->why, "C_Sign: %s", ckr_name(rv, nb));
  else if (sl != JOURNAL_SIG_BYTES)
    rc = fail(p->why, sizeof p->why, "C_Sign: a %lu-byte signature (Ed25519 has 64)", (unsigned long)sl);
  else if (crypto_sign_verify_detached(sig, msg, len, p->signer.pubkey) != 0)
    rc = fail(p->why, sizeof p->why, "the token's signature does not verify with its public key");
  if (rc) memset(sig, 0, JOURNAL_SIG_BYTES);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

const struct journal_signer *journal_pkcs11_signer_get(const struct journal_pkcs11_signer *p) { return &p->signer; }

const char *journal_pkcs11_signer_why(struct journal_pkcs11_signer *p)
{
  pthread_mutex_lock(&p->mu);
  memcpy(p->why_out, p->why, sizeof p->why_out);
  pthread_mutex_unlock(&p->mu);
  return p->why_out;
}

/* ------------------------------------------------------------------ open, close */

static int load_module(struct journal_pkcs11_signer *p, const char *path, char *why, size_t cap)
{
  char nb[24];
  dlerror();
  p->module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!p->module) {
    const char *e = dlerror();
    return fail(why, cap, "module %s: cannot load: %s", path, e ? e : "unknown error");
  }
  CK_C_GetFunctionList get;
  *(void **)&get = dlsym(p->module, "C_GetFunctionList");
  if (!get) return fail(why, cap, "module %s: no C_GetFunctionList (not a PKCS#11 module)", path);
  CK_RV rv = get(&p->f);
  if (rv != CKR_OK || !p->f) return fail(why, cap, "module %s: C_GetFunctionList: %s", path, ckr_name(rv, nb));
  CK_C_INITIALIZE_ARGS ia;
  memset(&ia, 0, sizeof ia);
  ia.flags = CKF_OS_LOCKING_OK;
  rv = p->f->C_Initialize(&ia);
  if (rv == CKR_OK) p->finalize = true;
  else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return fail(why, cap, "module %s: C_Initialize: %s", path, ckr_name(rv, nb));
  return 0;
}

static int login(struct journal_pkcs11_signer *p, const struct journal_pkcs11_uri *u, char *why, size_t cap)
{
  char nb[24], pin[PIN_MAX + 2];
  size_t pl = 0;
  int rc = read_pin(u, pin, &pl, why, cap);
  if (rc) return rc;
  CK_RV rv = p->f->C_Login(p->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, pl);
  sodium_memzero(pin, sizeof pin);
  if (rv == CKR_OK) p->logged_in = true;
  else if (rv == CKR_PIN_INCORRECT) return fail(why, cap, "token '%s': wrong PIN (C_Login: CKR_PIN_INCORRECT)", u->token);
  else if (rv != CKR_USER_ALREADY_LOGGED_IN) return fail(why, cap, "token '%s': C_Login: %s", u->token, ckr_name(rv, nb));
  return 0;
}

static int open_key(struct journal_pkcs11_signer *p, const struct journal_pkcs11_uri *u, char *why, size_t cap)
{
  char nb[24];
  CK_SLOT_ID slot = 0;
  int rc = find_slot(p, u, &slot, why, cap);
  if (rc) return rc;
  CK_RV rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &p->session);
  if (rv != CKR_OK) return fail(why, cap, "token '%s': C_OpenSession: %s", u->token, ckr_name(rv, nb));
  p->session_open = true;
  if ((rc = login(p, u, why, cap))) return rc;
  CK_OBJECT_HANDLE pub;
  if ((rc = find_key(p, u, CKO_PRIVATE_KEY, &p->key, why, cap)) || (rc = find_key(p, u, CKO_PUBLIC_KEY, &pub, why, cap)) ||
      (rc = read_public(p, u, pub, why, cap)))
    return rc;
  CK_BBOOL always = CK_FALSE;
  size_t n;
  if (attr(p, p->key, CKA_ALWAYS_AUTHENTICATE, &always, sizeof always, &n) == CKR_OK && n == 1 && always)
    return fail(why, cap, "key '%s' asks for the PIN before every signature (CKA_ALWAYS_AUTHENTICATE); the journal signs unattended", u->object);
  /* The pair matches and the token signs CKM_EDDSA: one signature of a fresh random message. */
  uint8_t msg[48], sig[JOURNAL_SIG_BYTES];
  memcpy(msg, "hems.pkcs11.selftest\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  randombytes_buf(msg + 16, 32);
  if (p11_sign(p, msg, sizeof msg, sig))
    return fail(why, cap, "key '%s': a test signature failed: %s", u->object, p->why);
  return 0;
}

int journal_pkcs11_signer_open(const struct journal_pkcs11_uri *u, struct journal_pkcs11_signer **out, char *why,
                               size_t why_cap)
{
  *out = NULL;
  if (why && why_cap) why[0] = 0;
  if (sodium_init() < 0) return -EIO;
  struct journal_pkcs11_signer *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  pthread_mutex_init(&p->mu, NULL);
  p->signer.sign = p11_sign;
  p->signer.ctx = p;
  int rc = load_module(p, u->module_path, why, why_cap);
  if (!rc) rc = open_key(p, u, why, why_cap);
  if (rc) { journal_pkcs11_signer_close(p); return rc; }
  p->why[0] = 0;
  *out = p;
  return 0;
}

void journal_pkcs11_signer_close(struct journal_pkcs11_signer *p)
{
  if (!p) return;
  if (p->f) {
    if (p->logged_in) p->f->C_Logout(p->session);
    if (p->session_open) p->f->C_CloseSession(p->session);
    if (p->finalize) p->f->C_Finalize(NULL);
  }
  /* The module stays mapped: a PKCS#11 module may leave threads or atexit handlers behind
   * after C_Finalize (unloading it under them crashes), and one process opens one token. */
  pthread_mutex_destroy(&p->mu);
  sodium_memzero(p, sizeof *p);
  free(p);
}
