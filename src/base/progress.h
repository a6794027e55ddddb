/* Progress arithmetic and formatting (no I/O: the front end decides where a line goes).
 * The rate is a moving average so that the ETA follows the current speed rather than
 * the start-up (model load, first batch). */
#ifndef CS_BASE_PROGRESS_H
#define CS_BASE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on a monotonic clock. */
double cs__now(void);

typedef struct cs__rate {
    double t_last;      /* time of the last sample */
    uint64_t n_last;    /* count at the last sample */
    double rate;        /* smoothed items per second; 0 until the first interval */
} cs__rate;

void cs__rate_init(cs__rate *r, double now, uint64_t n);
/* Feeds the count at time now (samples closer than 0.2 s apart are merged). */
void cs__rate_update(cs__rate *r, double now, uint64_t n);

/* "1:05", "1:02:03"; "?" for negative or non-finite values. */
void cs__format_duration(double seconds, char *buf, size_t bufsize);
/* "[#######.......]  120/263  45.2 img/s  ETA 0:03" with a bar of bar_width cells
 * (0 = no bar). total 0 means unknown (no bar, no ETA). */
void cs__progress_format(char *buf, size_t bufsize, uint64_t done, uint64_t total,
                        double rate, int bar_width);

#endif
