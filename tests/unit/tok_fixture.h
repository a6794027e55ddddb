/* Helpers for tokenizer tests: write small vocab.json / merges.txt files. */
#ifndef CS_TEST_TOK_FIXTURE_H
#define CS_TEST_TOK_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bytes_to_unicode of GPT-2/CLIP, written independently of the library. The fixture
 * gives byte b the id b (256 + b with </w>), unlike CLIP, so tests also show that ids
 * come from the JSON values. */
static unsigned fixture_byte_cp(unsigned b)
{
    unsigned n = 0;
    for (unsigned k = 0; k < 256; k++) {
        int printable = (k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174);
        if (k == b)
            return printable ? k : 256 + n;
        if (!printable)
            n++;
    }
    return 0;
}

static void fixture_put_cp(FILE *f, unsigned cp)
{
    if (cp == '"' || cp == '\\')
        fprintf(f, "\\%c", (char)cp);
    else if (cp < 0x80)
        fputc((int)cp, f);
    else
        fprintf(f, "\\u%04x", cp); /* all < 0x800 here */
}

/* Writes {byte symbols 0..255, with </w> 256..511, extras 512.., <|startoftext|>,
 * <|endoftext|>}, optionally leaving out byte `skip_byte` (-1: none) or the specials. */
static int fixture_write_vocab(const char *path, const char *const *extras, int n_extras,
                               int skip_byte, int with_specials)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int id = 0;
    fputc('{', f);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned b = 0; b < 256; b++, id++) {
            if ((int)b == skip_byte)
                continue;
            fputs(id ? ",\n \"" : "\n \"", f);
            fixture_put_cp(f, fixture_byte_cp(b));
            fprintf(f, "%s\": %d", pass ? "</w>" : "", id);
        }
    for (int i = 0; i < n_extras; i++)
        fprintf(f, ",\n \"%s\": %d", extras[i], id++);
    if (with_specials) {
        fprintf(f, ",\n \"<|startoftext|>\": %d", id++);
        fprintf(f, ",\n \"<|endoftext|>\": %d", id++);
    }
    fputs("\n}\n", f);
    return fclose(f);
}

static int fixture_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

#endif
