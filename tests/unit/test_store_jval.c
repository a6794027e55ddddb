/* jval.c (jsonb value model) and filter.c (vecs filter parser) without a database:
 * numeric canonical text, normalisation, jsonb order/equality, value errors, and the
 * parsed filter tree. */
#include <string.h>

#include "store/filter.h"
#include "store/jval.h"
#include "test.h"

static char *norm(const char *text, int *status)
{
    cs__jv v;
    cs__jv_error e;
    *status = cs__jv_parse(text, strlen(text), false, &v, &e);
    if (*status) return NULL;
    char *s = cs__jv_serialize(&v, NULL);
    cs__jv_free(&v);
    return s;
}

static void expect_norm(const char *in, const char *want)
{
    int st;
    char *got = norm(in, &st);
    CHECK_MSG(got && !strcmp(got, want), "%s -> %s (want %s, status %d)", in, got ? got : "(null)", want, st);
    free(got);
}

static void expect_status(const char *in, int want)
{
    int st;
    char *got = norm(in, &st);
    CHECK_MSG(st == want, "%s: status %d, want %d", in, st, want);
    free(got);
}

/* Whether parsing in (strict, or lenient: past other value errors) flags a string that
 * cannot be text. */
static bool not_text(const char *in, bool lenient)
{
    cs__jv v;
    cs__jv_error je;
    /* A lenient value error still hands back the tree: free it either way. */
    cs__jv_parse(in, strlen(in), lenient, &v, &je);
    cs__jv_free(&v);
    return je.not_text;
}

static int cmp_text(const char *a, const char *b)
{
    cs__jv x, y;
    if (cs__jv_parse(a, strlen(a), false, &x, NULL) || cs__jv_parse(b, strlen(b), false, &y, NULL)) return 99;
    int c = cs__jv_cmp(&x, &y);
    cs__jv_free(&x);
    cs__jv_free(&y);
    return c < 0 ? -1 : c > 0;
}

int main(void)
{
    /* PostgreSQL numeric text. */
    expect_norm("1e-7", "0.0000001");
    expect_norm("1E2", "100");
    expect_norm("1.50", "1.50");
    expect_norm("1.0", "1.0");
    expect_norm("-0", "0");
    expect_norm("-0.0", "0.0");
    expect_norm("1.5e1", "15");
    expect_norm("1.50e1", "15.0");
    expect_norm("9007199254740993", "9007199254740993");
    /* Zero with a huge exponent is zero, and costs no more than its text: 5000 of them
     * used to take about a second each (this test then runs past CTest's time limit). */
    expect_norm("0e999999999", "0");
    expect_norm("-0.000e99999999", "0");
    expect_norm("0E+99999999999999999999", "0");
    for (int i = 0; i < 5000; i++) {
        bool ovf;
        char *c = cs__jv_numeric_canonical("0e999999999", 11, &ovf);
        CHECK(c && !strcmp(c, "0") && !ovf);
        free(c);
    }
    expect_norm("123456789012345678901234567890", "123456789012345678901234567890");
    expect_norm("-12.5e-3", "-0.0125");
    expect_status("1e200000", JV_ERR_VALUE);
    /* Objects: duplicate keys last wins, jsonb key order (length, then bytes). */
    expect_norm("{\"b\":1,\"a\":2,\"a\":3}", "{\"a\":3,\"b\":1}");
    expect_norm("{\"aa\":1,\"c\":2,\"B\":3}", "{\"B\":3,\"c\":2,\"aa\":1}");
    expect_norm(" [ 1 , {\"x\" : [ ] } , \"\\u00e9\\n\" ] ", "[1,{\"x\":[]},\"\xc3\xa9\\n\"]");
    expect_norm("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    /* What jsonb refuses vs what is not JSON. */
    expect_status("{\"a\":\"x\\u0000\"}", JV_ERR_VALUE);
    expect_status("\"\\ud800\"", JV_ERR_VALUE);
    expect_status("\"\\udc00x\"", JV_ERR_VALUE);
    expect_status("NaN", JV_ERR_VALUE);
    expect_status("[Infinity]", JV_ERR_VALUE);
    expect_status("\"\xff\"", JV_ERR_VALUE);
    /* ... and which of those are strings that cannot be text. */
    CHECK(not_text("{\"a\":\"x\\u0000\"}", false));
    CHECK(not_text("{\"a\\u0000\":1}", false));
    CHECK(not_text("\"\\ud800\"", false) && not_text("\"\\udc00x\"", false));
    CHECK(not_text("\"\xff\"", false));
    CHECK(!not_text("NaN", false) && !not_text("1e200000", false));
    CHECK(!not_text("\"\\ud83d\\ude00\"", false));
    CHECK(not_text("[NaN, \"\\u0000\"]", true));   /* not the first value error */
    expect_status("{\"a\":1,}", JV_ERR_SYNTAX);
    expect_status("01", JV_ERR_SYNTAX);
    expect_status("1.", JV_ERR_SYNTAX);
    expect_status("\"a\nb\"", JV_ERR_SYNTAX);
    expect_status("[1] 2", JV_ERR_SYNTAX);
    expect_status("", JV_ERR_SYNTAX);
    /* jsonb order and equality (spec §7.3, §7.5). */
    CHECK(cmp_text("1", "1.0") == 0);
    CHECK(cmp_text("1e-7", "0.0000001") == 0);
    CHECK(cmp_text("9007199254740993", "9007199254740992") == 1);
    CHECK(cmp_text("\"1\"", "1") == -1);
    CHECK(cmp_text("true", "1") == 1);
    CHECK(cmp_text("false", "true") == -1);
    CHECK(cmp_text("null", "\"\"") == -1);
    CHECK(cmp_text("[]", "null") == -1);
    CHECK(cmp_text("[1,2]", "[3]") == 1);
    CHECK(cmp_text("[1]", "1") == 1);
    CHECK(cmp_text("[5]", "{}") == -1);
    CHECK(cmp_text("\"B\"", "\"a\"") == -1);
    CHECK(cmp_text("\"abc\"", "\"B\"") == 1);
    CHECK(cmp_text("\"\xc3\xa9\"", "\"z\"") == 1);
    CHECK(cmp_text("{\"aa\":1,\"c\":1}", "{\"b\":1,\"d\":1}") == 1);
    CHECK(cmp_text("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1.00}") == 0);
    CHECK(cmp_text("[[1]]", "[1]") == 1);
    CHECK(cmp_text("-2", "-10") == 1);
    CHECK(cmp_text("0.5", "0.05") == 1);
    CHECK(cmp_text("-0.5", "0") == -1);
    /* Lazy key lookup over text. */
    const char *t = "{\"a\":1,\"k\":[1,{\"x\":\"}\"}],\"k\":\"last\",\"z\":null}";
    const char *vs;
    size_t vl;
    CHECK(cs__jv_text_find_key(t, strlen(t), "k", 1, &vs, &vl) == 1 && vl == 6 && !memcmp(vs, "\"last\"", 6));
    CHECK(cs__jv_text_find_key(t, strlen(t), "q", 1, &vs, &vl) == 0);
    CHECK(cs__jv_text_find_key("[1]", 3, "a", 1, &vs, &vl) == 0);
    CHECK(cs__jv_text_find_key("{\"a\":", 5, "a", 1, &vs, &vl) < 0);
    CHECK(cs__jv_text_find_key("{\"\\u0061\":7}", 12, "a", 1, &vs, &vl) == 1 && vl == 1 && *vs == '7');

    /* Filter trees. */
    cs_error err;
    cs__filter *f = NULL;
    CHECK_OK(cs__filter_parse("{\"$or\":[{\"a\":{\"$in\":[0.1,\"x\",true]}},{\"b.c\":{\"$gte\":9007199254740993}}]}", &f, &err), &err);
    CHECK(f && f->kind == CS_FILTER_OR && f->n_children == 2);
    if (f && f->n_children == 2) {
        cs__filter *a = f->children[0], *b = f->children[1];
        CHECK(a->kind == CS_FILTER_CMP && a->op == CS_OP_IN && !strcmp(a->key, "a"));
        CHECK(a->n_elems == 3 && !strcmp(a->elem_json[0], "0.1") && !strcmp(a->elem_json[1], "\"x\""));
        CHECK(!strcmp(a->value_json, "[0.1,\"x\",true]") && json_is_array(a->value));
        CHECK(b->op == CS_OP_GTE && !strcmp(b->key, "b.c") && !strcmp(b->value_json, "9007199254740993"));
        CHECK(json_integer_value(b->value) == 9007199254740993LL);
        CHECK(!strcmp(cs__filter_op_name(b->op), "$gte"));
    }
    cs__filter_free(f);
    const char *none[] = {"{}", "null", "[]", "false", "0", "\"\""};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        f = (cs__filter *)1;
        CHECK_OK(cs__filter_parse(none[i], &f, &err), &err);
        CHECK_MSG(f == NULL, "%s should mean no filter", none[i]);
    }
    f = (cs__filter *)1;
    CHECK(cs__filter_parse(NULL, &f, &err) == 0 && f == NULL);
    CHECK(cs__filter_parse("{\"a\":{\"$eq\":NaN}}", &f, &err) == CS_E_DATABASE && f == NULL);
    CHECK(cs__filter_parse("{\"a\":{\"$eq\":1e999999}}", &f, &err) == CS_E_DATABASE);
    CHECK(cs__filter_parse("NaN", &f, &err) == CS_E_FILTER && strstr(err.msg, "dict"));
    CHECK(cs__filter_parse("{\"$and\":[{\"a\":{\"$ne\":1}},{\"a\":{}}]}", &f, &err) == CS_E_FILTER &&
          strstr(err.msg, "empty operator"));
    return TEST_RESULT();
}
