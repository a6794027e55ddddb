#include "base/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double cs__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cs__rate_init(cs__rate *r, double now, uint64_t n)
{
    r->t_last = now;
    r->n_last = n;
    r->rate = 0;
}

void cs__rate_update(cs__rate *r, double now, uint64_t n)
{
    double dt = now - r->t_last;
    if (dt < 0.2) return;
    double inst = (double)(n - r->n_last) / dt;
    /* Weight by elapsed time: about a 5-second memory whatever the sampling rate. */
    double a = 1.0 - exp(-dt / 5.0);
    r->rate = r->rate > 0 ? r->rate + a * (inst - r->rate) : inst;
    r->t_last = now;
    r->n_last = n;
}

void cs__format_duration(double s, char *buf, size_t bufsize)
{
    if (!(s >= 0) || !isfinite(s) || s > 1e8) {
        snprintf(buf, bufsize, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, bufsize, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, bufsize, "%ld:%02ld", t / 60, t % 60);
}

void cs__progress_format(char *buf, size_t bufsize, uint64_t done, uint64_t total,
                        double rate, int bar_width)
{
    char bar[256] = "";
    if (total > 0 && bar_width > 0) {
        if (bar_width > 200) bar_width = 200;
        int fill = (int)((double)(done > total ? total : done) * bar_width / (double)total);
        bar[0] = '[';
        for (int i = 0; i < bar_width; i++) bar[1 + i] = i < fill ? '#' : '.';
        bar[1 + bar_width] = ']';
        bar[2 + bar_width] = ' ';
        bar[3 + bar_width] = '\0';
    }
    char eta[32] = "?";
    if (total > 0 && rate > 0 && done <= total)
        cs__format_duration((double)(total - done) / rate, eta, sizeof eta);
    if (total > 0)
        snprintf(buf, bufsize, "%s%llu/%llu  %.1f img/s  ETA %s", bar,
                 (unsigned long long)done, (unsigned long long)total, rate, eta);
    else
        snprintf(buf, bufsize, "%llu  %.1f img/s", (unsigned long long)done, rate);
}
