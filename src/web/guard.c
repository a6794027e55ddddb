/* Which requests the server answers at all: the Host header must be a plain host[:port]
 * naming this machine (a page elsewhere could otherwise reach 127.0.0.1 under its own
 * name: DNS rebinding), and a POST must come from the page itself (any web page can
 * make a browser POST a form here: cross-site request forgery). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web/web_internal.h"

/* Splits an authority "name[:port]" or "[v6][:port]" into name (brackets kept) and port
 * (-1 when absent). Anything else is refused: empty, userinfo ("evil@127.0.0.1" and
 * "127.0.0.1:80@evil"), paths, spaces, a port that is not 1..65535. */
static bool parse_authority(const char *s, size_t len, char *name, size_t cap, long *port)
{
    size_t n = 0;
    if (len && s[0] == '[') {
        while (n + 1 < len && s[n + 1] != ']') {
            char ch = s[n + 1];
            if (!isxdigit((unsigned char)ch) && ch != ':' && ch != '.') return false;
            n++;
        }
        if (n == 0 || n + 1 >= len) return false;   /* "[]" or no closing bracket */
        n += 2;
    } else {
        while (n < len && s[n] != ':') {
            char ch = s[n];
            if (!isalnum((unsigned char)ch) && ch != '.' && ch != '-' && ch != '_') return false;
            n++;
        }
        if (n == 0) return false;
    }
    if (n >= cap) return false;
    memcpy(name, s, n);
    name[n] = '\0';
    *port = -1;
    if (n == len) return true;
    if (s[n] != ':' || n + 1 == len || len - n - 1 > 5) return false;
    long p = 0;
    for (size_t i = n + 1; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        p = p * 10 + (s[i] - '0');
    }
    if (p < 1 || p > 65535) return false;
    *port = p;
    return true;
}

bool cs__web_host_ok(const cs__web_state *st, const char *h)
{
    char name[256];
    long port;
    /* Every browser sends a Host; one without (or with an empty or odd one) is no
     * request this page made. */
    if (!h || !parse_authority(h, strlen(h), name, sizeof name, &port)) return false;
    if (st->allow_remote) return true;
    if (!strcasecmp(name, "localhost") || !strcmp(name, "[::1]") || !strcasecmp(name, st->host))
        return true;
    struct in_addr a4;
    return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Whether an Origin header ("http://host[:port]") names the origin the Host header
 * does: same name, same port (80 when absent). The server speaks plain HTTP only. */
static bool same_origin(const char *origin, const char *host)
{
    static const char scheme[] = "http://";
    if (strncasecmp(origin, scheme, sizeof scheme - 1)) return false;
    const char *o = origin + sizeof scheme - 1;
    char on[256], hn[256];
    long op, hp;
    if (!parse_authority(o, strlen(o), on, sizeof on, &op) ||
        !parse_authority(host, strlen(host), hn, sizeof hn, &hp))
        return false;
    if (op < 0) op = 80;
    if (hp < 0) hp = 80;
    return op == hp && !strcasecmp(on, hn);
}

const char *cs__web_cross_site(struct MHD_Connection *c)
{
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    bool origin_matches = origin && host && same_origin(origin, host);
    /* A browser says where a request comes from; "none" is the user's own action (typed
     * address, bookmark). "same-site" includes other ports of this host, which are other
     * programs: allowed only with an Origin that is this server. */
    if (site) {
        if (!strcasecmp(site, "cross-site")) return "a cross-site request (Sec-Fetch-Site)";
        if (!strcasecmp(site, "same-site") && !origin_matches)
            return "a request from another origin of this site (Sec-Fetch-Site)";
        if (strcasecmp(site, "same-origin") && strcasecmp(site, "same-site") &&
            strcasecmp(site, "none"))
            return "an unknown Sec-Fetch-Site";
    }
    /* Older browsers send only Origin ("null" from sandboxed frames and files). Clients
     * that are not browsers (curl) send neither and are not refused. */
    if (origin && !origin_matches) return "a request from another origin (Origin)";
    return NULL;
}
