/*
 * RFC 9068 access tokens (jwt.h). Signing writes the compact JWS straight
 * into the caller's buffer with one signature and no allocation; decoding
 * is strict, because its input comes from anyone who can send a request.
 * Called by the token endpoint (jwt_sign) and by bearer checks (the rest).
 */
#include "token/jwt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "token/base64url.h"
#include "util/text.h"

#define TOKEN_ID_RANDOM_BYTES 16
/* alg, kid (at most 63 URL-safe characters) and typ. */
#define HEADER_JSON_SIZE 192
/* The most JSON that still fits in a token of JWT_MAX_LENGTH. */
#define PART_JSON_SIZE (JWT_MAX_LENGTH / 4 * 3)

void
jwt_new_token_id(char out[JWT_TOKEN_ID_SIZE])
{
    unsigned char bytes[TOKEN_ID_RANDOM_BYTES];

    randombytes_buf(bytes, sizeof(bytes));
    base64url_encode(bytes, sizeof(bytes), out, JWT_TOKEN_ID_SIZE);
}

/* RFC 8259 §8.1 wants JSON in UTF-8, and a decoder (ours included)
 * rejects anything else, so a claim must be well-formed UTF-8 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static bool
utf8_is_valid(const char *text)
{
    static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
    const unsigned char *cursor = (const unsigned char *)text;

    while (*cursor != '\0') {
        unsigned char lead = *cursor++;
        uint32_t point;
        int follow;

        if (lead < 0x80)
            continue;
        if (lead < 0xc0 || lead > 0xf7)
            return false;
        follow = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
        point = lead & (0x3fu >> follow);

        /* The NUL at the end is not a continuation byte, so a sequence
         * cut short stops here without reading past it. */
        for (int i = 0; i < follow; i++, cursor++) {
            if ((*cursor & 0xc0) != 0x80)
                return false;
            point = point << 6 | (*cursor & 0x3fu);
        }
        if (point < least[follow] || point > 0x10ffff ||
            (point >= 0xd800 && point <= 0xdfff))
            return false;
    }
    return true;
}

/* A claim is usable when it ends inside its array and is valid UTF-8. */
static bool
claim_is_valid(const char *value, size_t size)
{
    return memchr(value, '\0', size) != NULL && utf8_is_valid(value);
}

static bool
claims_are_valid(const struct access_token_claims *claims)
{
    return claim_is_valid(claims->issuer, sizeof(claims->issuer)) &&
           claim_is_valid(claims->subject, sizeof(claims->subject)) &&
           claim_is_valid(claims->audience, sizeof(claims->audience)) &&
           claim_is_valid(claims->client_id, sizeof(claims->client_id)) &&
           claim_is_valid(claims->scope, sizeof(claims->scope)) &&
           claim_is_valid(claims->token_id, sizeof(claims->token_id));
}

static int
header_format(const struct signing_key *key, char *out, size_t size)
{
    struct text_buffer text;

    text_init(&text, out, size);
    text_append(&text, "{\"alg\":\"%s\",\"kid\":",
                signing_algorithm_name(signing_key_algorithm(key)));
    text_append_json_string(&text, signing_key_id(key));
    text_append(&text, ",\"typ\":\"at+jwt\"}");
    return text.overflow ? -EINVAL : (int)text.length;
}

/* The claims in the order RFC 9068 §2.2 lists them; scope only when the
 * token carries one (§2.2.3). */
static int
payload_format(const struct access_token_claims *claims, char *out, size_t size)
{
    struct text_buffer text;

    text_init(&text, out, size);
    text_append(&text, "{\"iss\":");
    text_append_json_string(&text, claims->issuer);
    text_append(&text, ",\"sub\":");
    text_append_json_string(&text, claims->subject);
    text_append(&text, ",\"aud\":");
    text_append_json_string(&text, claims->audience);
    text_append(&text, ",\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"jti\":",
                claims->expires_at, claims->issued_at);
    text_append_json_string(&text, claims->token_id);
    text_append(&text, ",\"client_id\":");
    text_append_json_string(&text, claims->client_id);
    if (claims->scope[0] != '\0') {
        text_append(&text, ",\"scope\":");
        text_append_json_string(&text, claims->scope);
    }
    text_append(&text, "}");
    return text.overflow ? -EINVAL : (int)text.length;
}

int
jwt_sign(const struct signing_key *key,
         const struct access_token_claims *claims, char *out, size_t size)
{
    char header[HEADER_JSON_SIZE], payload[PART_JSON_SIZE];
    unsigned char signature[SIGNATURE_SIZE];
    int header_length, payload_length, error;
    size_t length, total;

    if (!claims_are_valid(claims))
        return -EINVAL;
    header_length = header_format(key, header, sizeof(header));
    payload_length = payload_format(claims, payload, sizeof(payload));
    if (header_length < 0 || payload_length < 0)
        return -EINVAL;

    /* Never make a token that jwt_decode would refuse as too long. */
    total = BASE64URL_LENGTH((size_t)header_length) + 1 +
            BASE64URL_LENGTH((size_t)payload_length) + 1 +
            BASE64URL_LENGTH(sizeof(signature));
    if (total > JWT_MAX_LENGTH)
        return -EINVAL;
    if (total >= size)
        return -ENOSPC;

    /* Sizes are checked above, so no encoding below can fail. */
    length = (size_t)base64url_encode((unsigned char *)header,
                                      (size_t)header_length, out, size);
    out[length++] = '.';
    length += (size_t)base64url_encode((unsigned char *)payload,
                                       (size_t)payload_length, out + length,
                                       size - length);

    error = signing_key_sign(key, out, length, signature);
    if (error != 0)
        return error;
    out[length++] = '.';
    length += (size_t)base64url_encode(signature, sizeof(signature),
                                       out + length, size - length);
    return (int)length;
}

/* Decodes one base64url part and parses it as a JSON object. Duplicate
 * members are refused: two parsers that pick different duplicates would
 * read two different tokens. NULL when anything is wrong. */
static json_t *
part_load(const char *text, size_t length)
{
    unsigned char json[PART_JSON_SIZE];
    size_t decoded;
    json_t *root;

    if (base64url_decode(text, length, json, sizeof(json), &decoded) != 0)
        return NULL;

    root =
        json_loadb((const char *)json, decoded, JSON_REJECT_DUPLICATES, NULL);
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* RFC 9068 §4: typ must be "at+jwt"; media types compare without regard
 * to case, and the "application/" prefix may be present (RFC 7515
 * §4.1.9). This keeps other JWTs (ID tokens, say) from passing as access
 * tokens. */
static bool
type_is_access_token(const char *type)
{
    return strcasecmp(type, "at+jwt") == 0 ||
           strcasecmp(type, "application/at+jwt") == 0;
}

static int
header_decode(const char *text, size_t length, struct jwt_decoded *out)
{
    const char *type, *algorithm, *key_id;
    json_t *header;
    int error = -EINVAL;

    header = part_load(text, length);
    if (header == NULL)
        return -EINVAL;

    type = json_string_value(json_object_get(header, "typ"));
    algorithm = json_string_value(json_object_get(header, "alg"));
    key_id = json_string_value(json_object_get(header, "kid"));
    if (type == NULL || !type_is_access_token(type) || algorithm == NULL ||
        signing_algorithm_parse(algorithm, &out->algorithm) != 0 ||
        key_id == NULL || key_id[0] == '\0' ||
        text_copy(out->key_id, sizeof(out->key_id), key_id) != 0)
        goto fail;

    /* RFC 7515 §4.1.11: a token that names extensions it needs us to
     * understand must be refused, and we understand none. */
    if (json_object_get(header, "crit") != NULL)
        goto fail;
    error = 0;

fail:
    json_decref(header);
    return error;
}

static int
string_copy(const json_t *value, char *out, size_t size)
{
    if (!json_is_string(value) ||
        text_copy(out, size, json_string_value(value)) != 0)
        return -EINVAL;
    return 0;
}

static int
claim_copy(const json_t *object, const char *name, char *out, size_t size)
{
    return string_copy(json_object_get(object, name), out, size);
}

/* aud is one string or an array of them (RFC 7519 §4.1.3); tokend makes
 * tokens for one audience, so the first is the one that counts. */
static int
audience_copy(const json_t *object, char *out, size_t size)
{
    const json_t *audience = json_object_get(object, "aud");
    const json_t *member;
    size_t index;

    if (!json_is_array(audience))
        return string_copy(audience, out, size);

    if (json_array_size(audience) == 0)
        return -EINVAL;
    json_array_foreach(audience, index, member)
    {
        if (!json_is_string(member))
            return -EINVAL;
    }
    return string_copy(json_array_get(audience, 0), out, size);
}

static int
time_copy(const json_t *object, const char *name, int64_t *out)
{
    const json_t *value = json_object_get(object, name);

    if (!json_is_integer(value))
        return -EINVAL;
    *out = (int64_t)json_integer_value(value);
    return 0;
}

static int
payload_decode(const char *text, size_t length,
               struct access_token_claims *claims)
{
    const struct {
        const char *name;
        char *out;
        size_t size;
    } strings[] = {
        {"iss", claims->issuer, sizeof(claims->issuer)},
        {"sub", claims->subject, sizeof(claims->subject)},
        {"jti", claims->token_id, sizeof(claims->token_id)},
        {"client_id", claims->client_id, sizeof(claims->client_id)},
    };
    json_t *payload;
    int error = -EINVAL;

    payload = part_load(text, length);
    if (payload == NULL)
        return -EINVAL;

    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        if (claim_copy(payload, strings[i].name, strings[i].out,
                       strings[i].size) != 0)
            goto fail;
    if (audience_copy(payload, claims->audience, sizeof(claims->audience)) ||
        time_copy(payload, "exp", &claims->expires_at) != 0 ||
        time_copy(payload, "iat", &claims->issued_at) != 0)
        goto fail;

    /* RFC 9068 §2.2.3: scope is there only when the grant has one. */
    if (json_object_get(payload, "scope") != NULL &&
        claim_copy(payload, "scope", claims->scope, sizeof(claims->scope)))
        goto fail;
    error = 0;

fail:
    json_decref(payload);
    return error;
}

int
jwt_decode(const char *token, size_t length, struct jwt_decoded *out)
{
    const char *first, *second, *end = token + length;

    /* A compact JWS is exactly three parts (RFC 7515 §7.1); a fourth
     * or fifth would be a JWE or garbage. */
    if (length > JWT_MAX_LENGTH)
        return -EINVAL;
    first = memchr(token, '.', length);
    if (first == NULL)
        return -EINVAL;
    second = memchr(first + 1, '.', (size_t)(end - first - 1));
    if (second == NULL || memchr(second + 1, '.', (size_t)(end - second - 1)))
        return -EINVAL;

    memset(out, 0, sizeof(*out));
    if (header_decode(token, (size_t)(first - token), out) != 0)
        return -EINVAL;
    if (payload_decode(first + 1, (size_t)(second - first - 1), &out->claims) !=
        0)
        return -EINVAL;
    if (base64url_decode(second + 1, (size_t)(end - second - 1), out->signature,
                         sizeof(out->signature), &out->signature_length) != 0 ||
        out->signature_length != SIGNATURE_SIZE)
        return -EINVAL;

    out->signing_input = token;
    out->signing_input_length = (size_t)(second - token);
    return 0;
}

int
jwt_verify_signature(const struct jwt_decoded *decoded,
                     const struct signing_key *key)
{
    /* The key decides the algorithm, never the token (RFC 8725 §3.1). */
    if (decoded->algorithm != signing_key_algorithm(key))
        return -EBADMSG;

    if (signing_key_verify(key, decoded->signing_input,
                           decoded->signing_input_length, decoded->signature,
                           decoded->signature_length) != 0)
        return -EBADMSG;
    return 0;
}
