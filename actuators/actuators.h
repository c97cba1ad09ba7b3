/* actuators.h — the proof loop and actuator drivers. */
#ifndef HEMS_ACTUATORS_H
#define HEMS_ACTUATORS_H
#endif
