/*
 * record_fields.h — private to journal/: the macros that build body field tables
 * (record_types.c, record_types_pq.c). Each expands to one struct jfield initialiser.
 */
#ifndef HEMS_JOURNAL_RECORD_FIELDS_H
#define HEMS_JOURNAL_RECORD_FIELDS_H

#include <stddef.h>
#include "codec_internal.h"

/* namelen is the name's length (the decoder compares keys without strlen). */
#define FLD(S, name, kind, member, ik) { name, kind, offsetof(S, member), sizeof(((S *)0)->member), NULL, NULL, 0, 0, 0, sizeof(name) - 1, 0, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }
/* An integer field left out of the encoding when 0 (flash wear: windows on the register path
 * carry no instantaneous extremes or THD). */
#define FLDZ(S, name, kind, member, ik) { name, kind, offsetof(S, member), sizeof(((S *)0)->member), NULL, NULL, 0, 0, 0, sizeof(name) - 1, 1, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }
/* The same for a field only schema v 3 encodes (v 1 bodies stay exactly as they were). */
#define FLDZ3(S, name, kind, member, ik) { name, kind, offsetof(S, member), sizeof(((S *)0)->member), NULL, NULL, 0, 0, 0, sizeof(name) - 1, 1, name, JF_KEYENC(sizeof(name) - 1), ik, JF3_ONLY }
#define ENUMF(S, name, member, names, ik) { name, JF_ENUM, offsetof(S, member), 1, names, NULL, 0, 0, 0, sizeof(name) - 1, 0, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }
/* A JF_I32 encoded only when the presence byte have (a member of S) is set; decoding it sets
 * have (a reading of 0 is not the same as no reading). */
#define FLDP(S, name, kind, member, have, ik) { name, kind, offsetof(S, member), sizeof(((S *)0)->member), NULL, NULL, offsetof(S, have), 0, 0, sizeof(name) - 1, JF_OMIT_ABSENT, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }
/* An enum left out when 0 (a field added to a body whose older records never carry it). */
#define ENUMZ(S, name, member, names, ik) { name, JF_ENUM, offsetof(S, member), 1, names, NULL, 0, 0, 0, sizeof(name) - 1, 1, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }
/* A table and its v 3 key lookups (filled at load by codec_v3.c). */
#define DESC(arr) { arr, sizeof(arr) / sizeof(arr[0]), &(struct jv3){ { 0 }, { 0 } } }

/* v3: 0, or JF3_COLUMNS for an array of sub-structs that v 3 encodes as typed-array columns. */
#define ARRF(S, name, member, count, SUB, subdesc, ik, v3) \
  { name, JF_ARRAY, offsetof(S, member), sizeof(((S *)0)->member), NULL, &subdesc, offsetof(S, count), \
    sizeof(((S *)0)->member) / sizeof(SUB), sizeof(SUB), sizeof(name) - 1, 0, name, JF_KEYENC(sizeof(name) - 1), ik, v3 }
#define U16ARRF(S, name, member, count, ik) \
  { name, JF_U16ARR, offsetof(S, member), sizeof(((S *)0)->member), NULL, NULL, offsetof(S, count), \
    sizeof(((S *)0)->member) / sizeof(uint16_t), 2, sizeof(name) - 1, 0, name, JF_KEYENC(sizeof(name) - 1), ik, 0 }

/* Enum names shared by several tables (record_types.c). */
extern const char *const journal__chkind_names[];
extern const char *const journal__phase_names[];

/* The power-quality tables (record_types_pq.c). */
extern const struct jdesc journal__pq_event_desc;
extern const struct jdesc journal__pq_aggregate_desc;
/* The rollup table (record_types_rollup.c). */
extern const struct jdesc journal__rollup_desc;

#endif
