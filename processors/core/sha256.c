/* sha256.c: SHA-256 through OpenSSL's EVP interface. */
#include "sha256.h"

#include <stdio.h>

#include <openssl/evp.h>

void ow_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    hex[64] = '\0';
}
