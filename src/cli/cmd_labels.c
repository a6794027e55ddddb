/* clipsearch labels IMAGE --labels a,b,c: zero-shot classification. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_model.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/labels.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch labels IMAGE --labels \"a dog,a cat,...\" [options]\n"
        "       clipsearch labels IMAGE --labels-file FILE [options]\n"
        "\n"
        "Ranks the labels for the image zero-shot, as CLIP does: probability = softmax over\n"
        "the labels of exp(logit_scale) * cosine(image, label); score = the cosine.\n"
        "\n"
        "options:\n"
        "  --labels LIST         comma-separated labels\n"
        "  --labels-file FILE    one label per line ('-' = stdin)\n"
        "  --template T          embed T with {} replaced by each label, e.g.\n"
        "                        \"a photo of a {}\" (CLIP's usual prompt); output shows the label\n"
        "  --json                one JSON object per line: label, probability, score\n"
        "  --no-exif-orientation embed the image as stored, ignoring EXIF rotation\n"
        "  --model DIR           CLIP model directory (default $CLIPSEARCH_MODEL or cache)\n"
        "  --precision P         fp32 (default, the reference numbers) or bf16 (faster on\n"
        "                        CPUs with AVX512-BF16 or AMX; refused elsewhere)\n");
}

/* Ranks the prompts built from the template, then reports the plain labels. */
static int rank(const cs_clip *model, const cs_image *img, char **labels, size_t n,
                const char *tmpl, cs_label_score *scores, cs_error *err)
{
    if (!tmpl) return cs_labels_rank(model, img, (const char *const *)labels, n, scores, err);
    char **prompts = calloc(n, sizeof *prompts);
    int rc = prompts ? 0 : cs_error_set(err, CS_E_NOMEM, "out of memory");
    const char *hole = strstr(tmpl, "{}");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strlen(tmpl) + strlen(labels[i]);
        if (!(prompts[i] = malloc(len))) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            break;
        }
        snprintf(prompts[i], len, "%.*s%s%s", (int)(hole - tmpl), tmpl, labels[i], hole + 2);
    }
    if (rc == 0) rc = cs_labels_rank(model, img, (const char *const *)prompts, n, scores, err);
    /* scores[].label points at a prompt: map it back to its label. */
    for (size_t k = 0; rc == 0 && k < n; k++)
        for (size_t i = 0; i < n; i++)
            if (scores[k].label == prompts[i]) {
                scores[k].label = labels[i];
                break;
            }
    if (prompts) cs_strings_free(prompts, n);
    return rc;
}

static const char *parse_template(const char *value, void *target)
{
    if (!strstr(value, "{}")) return "needs a {} where the label goes";
    *(const char **)target = value;
    return NULL;
}

int cmd_labels(int argc, char **argv)
{
    const char *list = NULL, *file = NULL, *model_dir = NULL, *tmpl = NULL;
    int precision = CS_PRECISION_FP32;
    bool json = false, exif = true;
    const cs__cli_option opts[] = {
        CLI_STRING("--labels", &list),
        CLI_STRING("--labels-file", &file),
        CLI_PARSE("--template", &tmpl, parse_template),
        CLI_SET("--json", &json),
        CLI_CLEAR("--no-exif-orientation", &exif),
        CLI_STRING("--model", &model_dir),
        CLI_PRECISION("--precision", &precision),
        /* Accepted for uniformity with the other commands; labels reads no store. */
        CLI_STRING("--db", NULL),
        CLI_STRING("--collection", NULL),
        CLI_END};
    int first, status = cli_parse_options("labels", usage, CLI_SEE_HELP, opts, argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    if (first != argc - 1)
        return cli_usage_error("labels", "expected exactly one IMAGE (see --help)");
    if (!list == !file)
        return cli_usage_error("labels", "give either --labels LIST or --labels-file FILE");
    const char *image_path = argv[first];

    cs_error err = {0};
    char **labels = NULL;
    size_t n = 0;
    char *text = file ? cli_read_text(file, &err) : NULL;
    if (file && !text) return cli_fail(&err);
    int rc = file ? cs_lines_split(text, &labels, &n, &err) : cs_labels_split(list, &labels, &n, &err);
    free(text);
    if (rc != 0) return cli_fail(&err);
    if (n == 0) {
        cs_strings_free(labels, n);
        return cli_usage_error("labels", "no labels given (empty list)");
    }

    status = 0;
    cs_image img = {0};
    cs_clip *model = NULL;
    cs_label_score *scores = calloc(n, sizeof *scores);
    cs_image_options iopt;
    cs_image_options_init(&iopt);
    iopt.apply_exif_orientation = exif;
    if (!scores) {
        status = 1;
    } else if (cs_image_decode_file(image_path, &iopt, &img, NULL, &err) != 0 ||
               !(model = cli_load_model(model_dir, precision, &err)) ||
               rank(model, &img, labels, n, tmpl, scores, &err) != 0) {
        status = cli_fail(&err);
    } else if (json) {
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "label", json_string(scores[i].label));
            json_object_set_new(o, "probability", json_real(scores[i].probability));
            json_object_set_new(o, "score", json_real(scores[i].score));
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
            if (s) printf("%s\n", s);
            free(s);
            json_decref(o);
        }
    } else {
        printf("%4s  %11s  %7s  %s\n", "rank", "probability", "score", "label");
        for (size_t i = 0; i < n; i++)
            printf("%4zu  %11.4f  %7.4f  %s\n", i + 1, scores[i].probability, scores[i].score,
                   scores[i].label);
    }
    if (model) cs_clip_free(model);
    cs_image_free(&img);
    free(scores);
    cs_strings_free(labels, n);
    return status;
}
