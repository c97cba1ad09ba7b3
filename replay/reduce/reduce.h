/* reduce.h — pure reducers: state' = reduce(state, record). */
#ifndef HEMS_REDUCE_H
#define HEMS_REDUCE_H
#endif
