/* Run bookkeeping shared by the indexer files: failures (kept for the summary and
 * passed to the warning callback), throttled progress callbacks, the stop flag, and the
 * summary's JSON form. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app/indexer_internal.h"

void cs__ix_fail(cs__ix_run *r, const char *file, const char *reason)
{
    cs_index_summary *s = r->sum;
    s->failed++;
    if (r->opt->warning) r->opt->warning(file, reason, r->opt->warning_user);
    cs_index_failure *nf = realloc(s->failures, (s->n_failures + 1) * sizeof *nf);
    if (!nf) return; /* the count stays right; only the detail is lost */
    s->failures = nf;
    char *f = strdup(file), *why = strdup(reason);
    if (!f || !why) {
        free(f);
        free(why);
        return;
    }
    s->failures[s->n_failures++] = (cs_index_failure){f, why};
}

bool cs__ix_stop_requested(const cs__ix_run *r) { return r->opt->stop && *r->opt->stop != 0; }

void cs__ix_progress(cs__ix_run *r, bool force)
{
    double now = cs__now();
    if (r->phase && !strcmp(r->phase, "index")) cs__rate_update(&r->rate, now, r->done);
    if (!r->opt->progress) return;
    double iv = r->opt->progress_interval_s > 0 ? r->opt->progress_interval_s : 0.25;
    if (!force && now - r->last_progress < iv) return;
    r->last_progress = now;
    cs_index_progress p = {
        .phase = r->phase ? r->phase : "scan",
        .done = r->done,
        .total = r->sum->found,
        .indexed = r->sum->indexed,
        .unchanged = r->sum->unchanged,
        .reused = r->sum->reused,
        .failed = r->sum->failed,
        .elapsed_s = now - r->t0,
        .rate = r->rate.rate,
    };
    /* Until the moving average has a sample, show the plain average. */
    if (p.rate <= 0 && r->t_index > 0 && now > r->t_index + 0.05)
        p.rate = (double)(r->done - r->rate.n_last) / (now - r->t_index);
    r->opt->progress(&p, r->opt->progress_user);
}

void cs_index_summary_free(cs_index_summary *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_failures; i++) {
        free(s->failures[i].file);
        free(s->failures[i].reason);
    }
    free(s->failures);
    memset(s, 0, sizeof *s);
}

int cs_index_summary_json(const cs_index_summary *s, char **out, cs_error *err)
{
    *out = NULL;
    json_t *o = json_object();
    json_t *fails = json_array();
    if (!o || !fails) {
        json_decref(o);
        json_decref(fails);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    json_object_set_new(o, "indexed", json_integer((json_int_t)s->indexed));
    json_object_set_new(o, "unchanged", json_integer((json_int_t)s->unchanged));
    json_object_set_new(o, "reused", json_integer((json_int_t)s->reused));
    json_object_set_new(o, "failed", json_integer((json_int_t)s->failed));
    json_object_set_new(o, "pruned", json_integer((json_int_t)s->pruned));
    json_object_set_new(o, "ignored", json_integer((json_int_t)s->ignored));
    json_object_set_new(o, "excluded", json_integer((json_int_t)s->excluded));
    json_t *formats = json_object();
    for (size_t i = 0; i < s->n_formats; i++)
        json_object_set_new(formats, s->formats[i].name, json_integer((json_int_t)s->formats[i].n));
    json_object_set_new(o, "formats", formats);
    json_object_set_new(o, "excluded_kept", json_integer((json_int_t)s->excluded_kept));
    json_object_set_new(o, "found", json_integer((json_int_t)s->found));
    json_object_set_new(o, "stale", json_integer((json_int_t)s->stale));
    json_object_set_new(o, "dropped", json_integer((json_int_t)s->dropped));
    json_object_set_new(o, "decode_memory_peak", json_integer((json_int_t)s->decode_memory_peak));
    json_object_set_new(o, "model_unchecked", json_boolean(s->model_unchecked));
    json_object_set_new(o, "seconds", json_real(s->seconds));
    json_object_set_new(o, "images_per_second", json_real(s->images_per_second));
    json_object_set_new(o, "interrupted", json_boolean(s->interrupted));
    for (size_t i = 0; i < s->n_failures; i++) {
        json_t *f = json_object();
        /* Paths and reasons are escaped/valid UTF-8; json_string refuses anything else. */
        json_object_set_new(f, "file", json_string(s->failures[i].file));
        json_object_set_new(f, "reason", json_string(s->failures[i].reason));
        json_array_append_new(fails, f);
    }
    json_object_set_new(o, "failures", fails);
    *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *out ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
}
