/*
 * bridge_broker.c — what the MQTT bridges (`hems bridge mqtt`, `hems ship`) share about the
 * broker (bridge.h, "the broker"): the --broker URL, the credentials and TLS settings of a
 * libmosquitto client, the connect with its CONNACK deadline, and the reconnect backoff (1 s
 * doubling to 60 s). The caller owns the client and its callbacks; this file only logs, under
 * the caller's name, what went wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <mosquitto.h>
#include "cli.h"
#include "bridge.h"

void bridge_backoff(int64_t *retry_ms, int64_t *backoff_ms)
{
  *retry_ms = bridge_now_ms() + *backoff_ms;
  *backoff_ms = *backoff_ms * 2 > BRIDGE_BACKOFF_MAX_MS ? BRIDGE_BACKOFF_MAX_MS : *backoff_ms * 2;
}

int bridge_broker_url(const char *url, char *buf, size_t cap, const char **host, int *port, bool *tls)
{
  const char *rest;
  if (!strncmp(url, "mqtt://", 7)) { rest = url + 7; *tls = false; *port = 1883; }
  else if (!strncmp(url, "mqtts://", 8)) { rest = url + 8; *tls = true; *port = 8883; }
  else return -1;
  if (snprintf(buf, cap, "%s", rest) >= (int)cap || !*buf) return -1;
  if (bridge_host_port(buf, host, port)) return -1;
  return !**host || strchr(*host, '/') ? -1 : 0;
}

/* The first line of a password file (not readable by others): 0, or the exit code after a line. */
static int read_password(const char *who, const char *path, char *out, size_t cap)
{
  FILE *f = fopen(path, "re");
  struct stat st;
  if (!f) { cli_err("%s: --password-file %s: %s", who, path, strerror(errno)); return CLI_ENV; }
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (st.st_mode & S_IROTH)) {
    fclose(f);
    cli_err("%s: --password-file %s: must be a regular file not readable by others (chmod o-r)", who, path);
    return CLI_ENV;
  }
  if (!fgets(out, (int)cap, f)) out[0] = 0;
  fclose(f);
  out[strcspn(out, "\r\n")] = 0;
  if (!out[0]) { cli_err("%s: --password-file %s: empty", who, path); return CLI_ENV; }
  return 0;
}

int bridge_broker_auth(struct mosquitto *m, const char *who, const struct bridge_auth *a, bool tls)
{
  int rc = 0;
  if (a->user) {
    char pw[512] = "";
    if (a->pwfile && (rc = read_password(who, a->pwfile, pw, sizeof pw))) return rc;
    rc = mosquitto_username_pw_set(m, a->user, a->pwfile ? pw : NULL);
    memset(pw, 0, sizeof pw);
  }
  if (!rc && (tls || a->cafile || a->cert)) {
    rc = mosquitto_tls_set(m, a->cafile, a->cafile ? NULL : "/etc/ssl/certs", a->cert, a->key, NULL);
    if (!rc) rc = mosquitto_tls_opts_set(m, 1, NULL, NULL); /* verify the broker's certificate */
  }
  if (rc) {
    cli_err("%s: broker settings: %s", who, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    return CLI_USAGE;
  }
  return 0;
}

void bridge_broker_connect(struct bridge_broker *k)
{
  int rc = mosquitto_connect(k->m, k->host, k->port, k->keepalive_s);
  if (rc == MOSQ_ERR_SUCCESS) { /* the CONNACK comes through the loop: the connect callback */
    k->connack_due_ms = bridge_now_ms() + BRIDGE_CONNACK_MS;
    return;
  }
  cli_err("%s: broker %s:%d: %s; retry in %lld s", k->who, k->host, k->port,
          rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc), (long long)k->backoff_ms / 1000);
  bridge_backoff(&k->retry_ms, &k->backoff_ms);
}

void bridge_broker_turn(struct bridge_broker *k, bool up, int64_t now)
{
  if (!up && now >= k->retry_ms && mosquitto_socket(k->m) < 0) bridge_broker_connect(k);
  if (!up && k->connack_due_ms && now >= k->connack_due_ms && mosquitto_socket(k->m) >= 0) {
    /* the broker took the connection and never acknowledged it (an overloaded or wedged broker,
     * a middlebox): drop it — shut down under libmosquitto, whose next read then fails and closes
     * the socket — and try again after the backoff */
    cli_err("%s: broker %s:%d: no CONNACK within %d s; retry in %lld s", k->who, k->host, k->port,
            BRIDGE_CONNACK_MS / 1000, (long long)k->backoff_ms / 1000);
    shutdown(mosquitto_socket(k->m), SHUT_RDWR);
    k->connack_due_ms = 0;
  }
}

bool bridge_broker_connected(struct bridge_broker *k, int rc)
{
  if (rc) {
    cli_err("%s: broker %s:%d refused the connection: %s", k->who, k->host, k->port, mosquitto_connack_string(rc));
    return false;
  }
  cli_err("%s: connected to broker %s:%d", k->who, k->host, k->port);
  k->connack_due_ms = 0;
  k->backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  return true;
}
