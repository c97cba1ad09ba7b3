/* hw.h — the hardware boundary: SPI transport, GPIO lines, AFE drivers, emulators, simulator. */
#ifndef HEMS_HW_H
#define HEMS_HW_H
#endif
