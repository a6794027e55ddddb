/* Query algebra syntax (cs_query_terms_parse): operators at word starts, weights, image
 * terms by path prefix, ~ expansion, and errors that append nothing. */
#include <stdlib.h>
#include <string.h>

#include "clipsearch/query.h"
#include "test.h"

/* Parses q and compares with "kind:weight:value|..." (kind t or i). */
static int parses_to(const char *q, const char *want)
{
    cs_query_terms t = {0};
    cs_error err = {0};
    if (cs_query_terms_parse(q, &t, &err) != 0) {
        fprintf(stderr, "  '%s': %s\n", q, err.msg);
        return 0;
    }
    char got[1024] = "";
    for (size_t i = 0; i < t.n; i++) {
        char one[300];
        snprintf(one, sizeof one, "%s%c:%g:%s", i ? "|" : "",
                 t.items[i].kind == CS_TERM_TEXT ? 't' : 'i', t.items[i].weight, t.items[i].value);
        strncat(got, one, sizeof got - strlen(got) - 1);
    }
    cs_query_terms_free(&t);
    if (strcmp(got, want) != 0) fprintf(stderr, "  '%s': got %s, want %s\n", q, got, want);
    return !strcmp(got, want);
}

static int fails(const char *q, const char *msg_part)
{
    cs_query_terms t = {0};
    cs_error err = {0};
    CHECK_OK(cs_query_terms_add(&t, CS_TERM_TEXT, "kept", 1, &err), &err);
    int rc = cs_query_terms_parse(q, &t, &err);
    /* Nothing appended on error: the term added before is all there is. */
    int ok = rc == CS_E_ARG && t.n == 1 && !strcmp(t.items[0].value, "kept") &&
             strstr(err.msg, msg_part) != NULL;
    if (!ok) fprintf(stderr, "  '%s': rc %d, n %zu, msg %s\n", q, rc, t.n, err.msg);
    cs_query_terms_free(&t);
    return ok;
}

int main(void)
{
    CHECK(parses_to("dog", "t:1:dog"));
    CHECK(parses_to("  a red car  ", "t:1:a red car"));
    CHECK(parses_to("dog -fruit", "t:1:dog|t:-1:fruit"));
    CHECK(parses_to("-fruit", "t:-1:fruit"));
    CHECK(parses_to("  - fruit", "t:-1:fruit"));
    CHECK(parses_to("+ dog", "t:1:dog"));
    CHECK(parses_to("cat + dog - fruit", "t:1:cat|t:1:dog|t:-1:fruit"));
    CHECK(parses_to("2:dog + ./park.jpg - fruit", "t:2:dog|i:1:./park.jpg|t:-1:fruit"));
    CHECK(parses_to("0.5:./a.jpg -1.5:/x/b.png + ../c.jpg", "i:0.5:./a.jpg|i:-1.5:/x/b.png|i:1:../c.jpg"));
    CHECK(parses_to("-2:dog", "t:-2:dog"));
    CHECK(parses_to("t-shirt on a well-lit C++ poster", "t:1:t-shirt on a well-lit C++ poster"));
    CHECK(parses_to("10:30 meeting", "t:10:30 meeting"));
    CHECK(parses_to("time: noon", "t:1:time: noon"));
    CHECK(parses_to("1e1:dog", "t:10:dog"));
    CHECK(parses_to("dog\t-\tfruit", "t:1:dog|t:-1:fruit"));
    setenv("HOME", "/home/u", 1);
    CHECK(parses_to("~/p.jpg - ~/q.jpg", "i:1:/home/u/p.jpg|i:-1:/home/u/q.jpg"));
    CHECK(parses_to("~user/p.jpg", "t:1:~user/p.jpg"));
    unsetenv("HOME");
    CHECK(fails("~/p.jpg", "$HOME"));
    CHECK(fails("", "empty"));
    CHECK(fails("   ", "empty"));
    CHECK(fails("dog +", "nothing after '+'"));
    CHECK(fails("dog - + cat", "nothing after '-'"));
    CHECK(fails("0:dog", "weight"));
    CHECK(fails("dog + 0:cat", "weight"));
    CHECK(fails("2:", "nothing to weigh"));
    CHECK(fails("nan:dog", "weight"));
    CHECK(fails("inf:dog", "weight"));

    cs_query_terms t = {0};
    cs_error err = {0};
    CHECK(cs_query_terms_add(&t, CS_TERM_IMAGE, "x.jpg", 0, &err) == CS_E_ARG && t.n == 0);
    CHECK(cs_query_terms_add(&t, CS_TERM_TEXT, "", 1, &err) == CS_E_ARG && t.n == 0);
    cs_query_terms_free(&t);
    return TEST_RESULT();
}
