/* replay.h — checkpoints and offline replay. */
#ifndef HEMS_REPLAY_H
#define HEMS_REPLAY_H
#endif
