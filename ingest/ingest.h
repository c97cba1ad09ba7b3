/* ingest.h — samples and AFE registers to windows, power-quality events and captures. */
#ifndef HEMS_INGEST_H
#define HEMS_INGEST_H
#endif
